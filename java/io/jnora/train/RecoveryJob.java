package io.jnora.train;

import io.jnora.Matrix;
import io.jnora.NoraContext;
import io.jnora.ShapeMismatchException;
import io.jnora.TensorOps;
import io.jnora.init.InnerInit;
import io.jnora.init.NestedInitializer;
import io.jnora.init.NoraConfig;
import io.jnora.init.ScaleMode;
import io.jnora.init.SvdMethod;
import io.jnora.stats.ActivationStats;
import java.util.List;
import java.util.function.Consumer;

/**
 * What {@link LayerRecovery} and {@link LoraRecovery} share of layer-wise recovery (SPEC §2.10): the
 * degraded weight W_base and the difference D = W − W_base, the closed-form optimum, and the run (held-out
 * errors before, at the optimum and after, around the minibatch training loop). Only the adapter, its
 * step and its checks differ, and those come in as callbacks.
 */
final class RecoveryJob {
    /** One training step on minibatch {@code x} against the zero target (batchRows×m, free to overwrite): its loss. */
    interface Step {
        double take(int step, Matrix x, Matrix target);
    }

    /** The trained layer's output, whose base is −D: the output error itself. */
    interface Output {
        void forward(Matrix x, Matrix y);
    }

    /** The number of steps and the AdamW settings a builder settled on. */
    record Plan(int steps, AdamWConfig optimizer) {}

    private final NoraContext context;
    final int m;
    final int n;
    final float[] weight;
    final Pruning pruning;
    final float[] prunedWeight;
    final float[] difference;  // D = W − W_base
    final RecoveryRows rows;
    final ActivationStats stats;  // the training rows'

    RecoveryJob(NoraContext context, float[] weight, int m, int n, Pruning pruning, RecoveryRows rows) {
        this.context = context;
        this.m = m;
        this.n = n;
        this.weight = weight;
        this.pruning = pruning;
        this.rows = rows;
        prunedWeight = pruning.apply(weight, m, n);
        difference = new float[weight.length];
        for (int i = 0; i < weight.length; i++) {
            difference[i] = weight[i] - prunedWeight[i];
        }
        stats = rows.trainingStats();
    }

    /** The weight check both builders make first. */
    static void validateWeight(String op, float[] weight, int m, int n) {
        if (m < 1 || n < 1 || weight.length != (long) m * n) {
            throw new ShapeMismatchException(op + ": weight holds " + weight.length + " values, expected " + m + "×" + n);
        }
    }

    /**
     * The steps and optimizer: a warm-up/cosine schedule fixes the number of steps; otherwise the steps asked
     * (default {@value LayerRecovery#DEFAULT_STEPS}), and without an optimizer LayerRecovery's default one.
     */
    static Plan plan(String op, AdamWConfig optimizer, Integer steps) {
        AdamWConfig cfg = optimizer;
        int total;
        if (cfg != null && !cfg.schedule().isConstant()) {
            total = cfg.schedule().totalSteps();
            if (steps != null && steps != total) {
                throw new InvalidHyperparameterException(op + ": " + steps + " steps asked but the optimizer's schedule "
                        + "has " + total);
            }
        } else {
            total = steps == null ? LayerRecovery.DEFAULT_STEPS : steps;
            if (total < 1) {
                throw new InvalidHyperparameterException(op + ": steps must be ≥ 1, got " + total);
            }
            if (cfg == null) {
                cfg = AdamWConfig.builder().learningRate(LayerRecovery.DEFAULT_LEARNING_RATE)
                        .schedule(LearningRateSchedule.warmupCosine(total / 20, total)).build();
            }
        }
        return new Plan(total, cfg);
    }

    /**
     * The best rank-k correction D_k for the quadratic loss: the WHITEN truncation of D at λ → 0, here
     * {@value LayerRecovery#OPTIMUM_RIDGE} (enough for a Cholesky factor), with an exact SVD.
     */
    float[] optimumCorrection(int rank) {
        NoraConfig optimumConfig = NoraConfig.builder().outerRank(rank).innerRank(1)
                .scaleMode(ScaleMode.whiten(LayerRecovery.OPTIMUM_RIDGE)).svd(SvdMethod.EXACT).init(InnerInit.ZERO).build();
        return NestedInitializer.initialize(null, difference, m, n, stats, optimumConfig).outerProduct();
    }

    /** −D, the trained layer's base. */
    float[] negatedDifference() {
        float[] negated = new float[difference.length];
        for (int i = 0; i < negated.length; i++) {
            negated[i] = -difference[i];
        }
        return negated;
    }

    /**
     * Measures, trains {@code steps} steps on minibatches in the seed's order and measures again. The
     * report's seconds leave the held-out evaluations out; {@code requireFinite} runs after the last step.
     */
    RecoveryReport run(float[] optimumCorrection, int steps, long seed, Step step, Output output, Runnable requireFinite,
            int evaluateEvery, Consumer<HeldOutError> evaluation) {
        double errorBefore;
        double errorOptimum;
        double reference;
        try (Matrix xt = context.matrix(rows.testCount, n, rows.testRows); Matrix y = context.zeros(rows.testCount, m)) {
            reference = referenceSquares(xt, y);
            errorBefore = heldOutError(output, xt, y, reference);
            float[] gap = new float[difference.length];
            for (int i = 0; i < gap.length; i++) {
                gap[i] = optimumCorrection[i] - difference[i];
            }
            try (Matrix g = context.matrix(m, n, gap)) {
                context.linear(xt, g, y);
                errorOptimum = ratio(TensorOps.sumOfSquares(List.of(y)), reference);
            }
        }

        long start = System.nanoTime();
        long evaluationNanos = 0;
        double lastLoss = Double.NaN;
        RecoveryRows.Minibatches batches = rows.minibatches(seed);
        try (Matrix x = context.zeros(rows.batchRows, n); Matrix target = context.zeros(rows.batchRows, m);
                Matrix xt = evaluation == null ? null : context.matrix(rows.testCount, n, rows.testRows);
                Matrix yt = evaluation == null ? null : context.zeros(rows.testCount, m)) {
            for (int s = 1; s <= steps; s++) {
                batches.next(x);
                lastLoss = step.take(s, x, target);
                if (evaluation != null && (s % evaluateEvery == 0 || s == steps)) {
                    long e0 = System.nanoTime();
                    evaluation.accept(new HeldOutError(s, heldOutError(output, xt, yt, reference)));
                    evaluationNanos += System.nanoTime() - e0;
                }
            }
        }
        double seconds = (System.nanoTime() - start - evaluationNanos) / 1e9;
        requireFinite.run();

        double errorAfter;
        try (Matrix xt = context.matrix(rows.testCount, n, rows.testRows); Matrix y = context.zeros(rows.testCount, m)) {
            errorAfter = heldOutError(output, xt, y, reference);
        }
        return new RecoveryReport(pruning.toString(), rows.trainCount, rows.testCount, rows.heldOutGiven, steps,
                errorBefore, errorAfter, errorOptimum, lastLoss, seconds);
    }

    /** ‖X_t Wᵀ‖², using {@code scratch} (T_t×m). */
    private double referenceSquares(Matrix xt, Matrix scratch) {
        try (Matrix w = context.matrix(m, n, weight)) {
            context.linear(xt, w, scratch);
        }
        return TensorOps.sumOfSquares(List.of(scratch));
    }

    /** ‖X_t (W_base + ΔW − W)ᵀ‖ / ‖X_t Wᵀ‖: the trained layer's output is the numerator's matrix. */
    private static double heldOutError(Output output, Matrix xt, Matrix scratch, double referenceSquares) {
        output.forward(xt, scratch);
        return ratio(TensorOps.sumOfSquares(List.of(scratch)), referenceSquares);
    }

    private static double ratio(double errorSquares, double referenceSquares) {
        return referenceSquares == 0 ? Math.sqrt(errorSquares) : Math.sqrt(errorSquares / referenceSquares);
    }
}
