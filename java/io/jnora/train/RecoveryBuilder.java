package io.jnora.train;

import io.jnora.NoraContext;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * What every layer-wise recovery job takes, nested ({@link LayerRecovery}) or plain LoRA ({@link
 * LoraRecovery}): the weight and its pruning, the calibration and held-out rows, the optimiser, steps,
 * minibatch size and seed, and the held-out evaluation. The job's own builder adds the adapter.
 *
 * <p>Thread safety: a builder is used by one thread.
 *
 * @param <B> the job's builder, returned by every setter
 */
abstract class RecoveryBuilder<B extends RecoveryBuilder<B>> {
    final NoraContext context;
    private final String job;
    float[] weight;
    int m = -1;
    int n = -1;
    Pruning pruning;
    float[] calibration;
    int calibrationCount;
    float[] heldOut;
    int heldOutCount;
    AdamWConfig optimizer;
    Integer steps;
    int batchRows = LayerRecovery.DEFAULT_BATCH_ROWS;
    long seed = 0x5eedL;
    int evaluateEvery;
    Consumer<HeldOutError> evaluation;

    RecoveryBuilder(NoraContext context, String job) {
        this.context = Objects.requireNonNull(context, "context");
        this.job = job;
    }

    abstract B self();

    /** The original weight W, m×n row-major. */
    public B weight(float[] w, int outFeatures, int inFeatures) {
        this.weight = Objects.requireNonNull(w, "weight");
        this.m = outFeatures;
        this.n = inFeatures;
        return self();
    }

    /** How W is pruned into the base the adapter trains on. */
    public B pruning(Pruning p) {
        this.pruning = Objects.requireNonNull(p, "pruning");
        return self();
    }

    /** Calibration rows (rows×n, row-major). */
    public B calibration(float[] x, int rows) {
        this.calibration = Objects.requireNonNull(x, "calibration");
        this.calibrationCount = rows;
        return self();
    }

    /** Held-out rows (rows×n); without them the last 10% of the calibration rows are held out. */
    public B heldOut(float[] x, int rows) {
        this.heldOut = Objects.requireNonNull(x, "heldOut");
        this.heldOutCount = rows;
        return self();
    }

    /**
     * AdamW's settings. Default: {@value LayerRecovery#DEFAULT_LEARNING_RATE} with warm-up over the first 5%
     * of the steps, then cosine decay; the other values are AdamW's defaults. A warm-up/cosine schedule here
     * fixes the number of steps.
     */
    public B optimizer(AdamWConfig cfg) {
        this.optimizer = Objects.requireNonNull(cfg, "optimizer");
        return self();
    }

    /** Training steps (default {@value LayerRecovery#DEFAULT_STEPS}, or the optimizer schedule's). */
    public B steps(int count) {
        this.steps = count;
        return self();
    }

    /** Rows per minibatch (default {@value LayerRecovery#DEFAULT_BATCH_ROWS}, at most the training rows). */
    public B batchRows(int rows) {
        this.batchRows = rows;
        return self();
    }

    /** Seed of the minibatch order (and of the nested layer's dropout masks). */
    public B seed(long s) {
        this.seed = s;
        return self();
    }

    /**
     * Calls {@code listener} with the held-out error every {@code every} steps and after the last (a
     * forward over the held-out rows each time, not counted in the report's seconds).
     */
    public B evaluateEvery(int every, Consumer<HeldOutError> listener) {
        if (every < 1) {
            throw new InvalidHyperparameterException(job + ": evaluate every " + every + " steps (must be ≥ 1)");
        }
        this.evaluateEvery = every;
        this.evaluation = Objects.requireNonNull(listener, "listener");
        return self();
    }

    /** The weight's and the rows' checks shared by the jobs' {@code build()}; {@code what} lists the required inputs. */
    void requireInputs(String op, boolean adapterGiven, String what) {
        if (weight == null || pruning == null || calibration == null || !adapterGiven) {
            throw new IllegalArgumentException(op + ": " + what + " are all required");
        }
        RecoveryJob.validateWeight(op, weight, m, n);
    }

    void validateRows(String op) {
        RecoveryRows.validate(op, n, calibration, calibrationCount, heldOut, heldOutCount, batchRows);
    }

    /** Prunes W and sets up the rows: the host work both jobs start with. */
    RecoveryJob prepare() {
        RecoveryRows rows = new RecoveryRows(calibration, calibrationCount, heldOut, heldOutCount, n, batchRows);
        return new RecoveryJob(context, weight, m, n, pruning, rows);
    }
}
