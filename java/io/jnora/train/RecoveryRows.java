package io.jnora.train;

import io.jnora.Matrix;
import io.jnora.ShapeMismatchException;
import io.jnora.stats.ActivationStats;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The rows of a layer-wise recovery (SPEC §2.10), shared by {@link LayerRecovery} and {@link LoraRecovery}:
 * the held-out rows given, or else the last 10% of the calibration rows (at least one), which are then not
 * trained on; and the minibatches of training rows, the same for both jobs at the same seed.
 */
final class RecoveryRows {
    final int n;
    final float[] trainRows;
    final int trainCount;
    final float[] testRows;
    final int testCount;
    final boolean heldOutGiven;
    final int batchRows;

    RecoveryRows(float[] calibration, int rows, float[] heldOut, int heldOutCount, int n, int batchRows) {
        this.n = n;
        if (heldOut != null) {
            heldOutGiven = true;
            trainCount = rows;
            testRows = heldOut;
            testCount = heldOutCount;
        } else {
            heldOutGiven = false;
            testCount = Math.max(1, rows / 10);
            trainCount = rows - testCount;
            testRows = Arrays.copyOfRange(calibration, trainCount * n, rows * n);
        }
        trainRows = trainCount == rows ? calibration : Arrays.copyOf(calibration, trainCount * n);
        this.batchRows = Math.min(batchRows, trainCount);
    }

    /** The builders' checks of the rows and the batch size, in their order and with their messages. */
    static void validate(String op, int n, float[] calibration, int calibrationCount, float[] heldOut, int heldOutCount,
            int batchRows) {
        if (calibrationCount < 0 || calibration.length != (long) calibrationCount * n) {
            throw new ShapeMismatchException(op + ": calibration holds " + calibration.length + " values, expected "
                    + calibrationCount + "×" + n + " (rows × the weight's " + n + " inputs)");
        }
        if (heldOut != null && (heldOutCount < 1 || heldOut.length != (long) heldOutCount * n)) {
            throw new ShapeMismatchException(op + ": held-out rows hold " + heldOut.length + " values, expected "
                    + heldOutCount + "×" + n + " with at least one row");
        }
        if (heldOut == null && calibrationCount < 2) {
            throw new ShapeMismatchException(op + ": " + calibrationCount + " calibration rows cannot be split into "
                    + "training and held-out rows; give at least 2, or held-out rows");
        }
        if (heldOut != null && calibrationCount < 1) {
            throw new ShapeMismatchException(op + ": no calibration rows");
        }
        if (batchRows < 1) {
            throw new InvalidHyperparameterException(op + ": batch rows must be ≥ 1, got " + batchRows);
        }
    }

    /** The training rows' statistics (with the covariance), for the outer init and the optimum. */
    ActivationStats trainingStats() {
        ActivationStats stats = ActivationStats.create(n, true);
        stats.accumulate(trainRows, trainCount);
        return stats;
    }

    Minibatches minibatches(long seed) {
        return new Minibatches(seed);
    }

    /** Epochs of the training rows in an order shuffled by the seed and the epoch, batchRows at a time. */
    final class Minibatches {
        private final long seed;
        private final int[] order = new int[trainCount];
        private final float[] batch = new float[batchRows * n];
        private int cursor = trainCount;  // start with a fresh epoch
        private int epoch;

        private Minibatches(long seed) {
            this.seed = seed;
            for (int i = 0; i < order.length; i++) {
                order[i] = i;
            }
        }

        /** Copies the next minibatch into {@code x} (batchRows×n). */
        void next(Matrix x) {
            if (cursor + batchRows > trainCount) {
                shuffle(order, new SplittableRandom(seed + 0x9E3779B97F4A7C15L * ++epoch));
                cursor = 0;
            }
            for (int k = 0; k < batchRows; k++) {
                System.arraycopy(trainRows, order[cursor + k] * n, batch, k * n, n);
            }
            cursor += batchRows;
            x.copyFrom(batch);
        }
    }

    private static void shuffle(int[] order, SplittableRandom rng) {
        for (int i = order.length - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
}
