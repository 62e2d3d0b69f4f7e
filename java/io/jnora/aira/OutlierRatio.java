package io.jnora.aira;

import io.jnora.NonFiniteInputException;
import io.jnora.ShapeMismatchException;
import io.jnora.stats.ActivationStats;
import java.util.Objects;

/**
 * The outlier ratio {@code O_l} of one layer (SPEC §2.8): with the weight-times-activation scores
 * {@code a_ij = |W_ij| · ‖X_c[:, j]‖₂}, the fraction of the layer's {@code m · n} scores strictly
 * above {@code τ} times their mean. {@code τ = 5} by default (AIRA supplementary, Table 3).
 *
 * <pre>{@code
 * double o = OutlierRatio.withDefaultThreshold().of(weight, m, n, stats);   // stats from the calibration rows
 * }</pre>
 *
 * <p>The column norm is {@code ‖X_c[:, j]‖₂ = sqrt(N · mean x_j²)}; this class uses
 * {@code sqrt(mean x_j²)} instead: the common factor {@code sqrt(N)} multiplies every score and their
 * mean alike, so it cancels in "above τ times the mean" and the ratio needs only {@code mean x_j²}.
 * A layer whose scores are all zero has no outliers ({@code O_l = 0}).
 *
 * <p>Thread safety: immutable and thread-safe (the statistics it reads must not be updated meanwhile).
 */
public final class OutlierRatio {
    /** τ of the AIRA supplementary, Table 3. */
    public static final double DEFAULT_THRESHOLD = 5.0;

    private final double threshold;

    private OutlierRatio(double threshold) {
        this.threshold = threshold;
    }

    public static OutlierRatio withDefaultThreshold() {
        return new OutlierRatio(DEFAULT_THRESHOLD);
    }

    /** An outlier measure with threshold {@code τ}, which must be finite and positive. */
    public static OutlierRatio withThreshold(double tau) {
        if (!(tau > 0) || !Double.isFinite(tau)) {
            throw new IllegalArgumentException("OutlierRatio: threshold τ must be finite and > 0, got " + tau);
        }
        return new OutlierRatio(tau);
    }

    public double threshold() {
        return threshold;
    }

    /** {@code O_l} of the weight {@code W} (m × n, row-major) with the calibration statistics of its n inputs. */
    public double of(float[] weight, int m, int n, ActivationStats stats) {
        Objects.requireNonNull(stats, "stats");
        if (stats.channels() != n) {
            throw new ShapeMismatchException("OutlierRatio: the statistics have " + stats.channels()
                    + " channels but the weight " + m + "×" + n + " takes " + n + " inputs");
        }
        return of(weight, m, n, stats.meanSquare());
    }

    /**
     * {@code O_l} of the weight {@code W} (m × n, row-major) with {@code mean x_j²} per input channel
     * (length n, finite, ≥ 0; e.g. {@link ActivationStats#meanSquare()}).
     */
    public double of(float[] weight, int m, int n, double[] meanSquare) {
        String op = "OutlierRatio";
        Objects.requireNonNull(weight, "weight");
        Objects.requireNonNull(meanSquare, "meanSquare");
        if (m < 1 || n < 1) {
            throw new ShapeMismatchException(op + ": weight shape " + m + "×" + n + " must have positive dimensions");
        }
        if (weight.length != (long) m * n) {
            throw new ShapeMismatchException(op + ": weight holds " + weight.length + " values, expected " + m + "×" + n
                    + " = " + (long) m * n);
        }
        if (meanSquare.length != n) {
            throw new ShapeMismatchException(op + ": meanSquare has " + meanSquare.length + " channels but the weight "
                    + m + "×" + n + " takes " + n + " inputs");
        }
        double[] columnNorm = new double[n];
        for (int j = 0; j < n; j++) {
            double v = meanSquare[j];
            if (!Double.isFinite(v) || v < 0) {
                throw new NonFiniteInputException(op + ": meanSquare[" + j + "] is " + v + " (must be finite and >= 0)");
            }
            columnNorm[j] = Math.sqrt(v);
        }
        for (int i = 0; i < weight.length; i++) {
            if (!Float.isFinite(weight[i])) {
                throw new NonFiniteInputException(op + ": weight element [" + i / n + ", " + i % n + "] is " + weight[i]
                        + " (inputs must be finite)");
            }
        }
        // Two passes over the same products so that a score and the mean it is compared with are
        // computed identically (float64, row by row).
        double sum = 0;
        for (int i = 0; i < m; i++) {
            int row = i * n;
            for (int j = 0; j < n; j++) {
                sum += Math.abs(weight[row + j]) * columnNorm[j];
            }
        }
        double cut = threshold * (sum / ((double) m * n));
        long above = 0;
        for (int i = 0; i < m; i++) {
            int row = i * n;
            for (int j = 0; j < n; j++) {
                if (Math.abs(weight[row + j]) * columnNorm[j] > cut) {
                    above++;
                }
            }
        }
        return above / ((double) m * n);
    }
}
