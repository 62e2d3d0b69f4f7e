package io.jnora.train;

import io.jnora.LoraLinear;
import io.jnora.Matrix;
import io.jnora.NoraContext;
import io.jnora.TensorOps;
import io.jnora.init.ScalingRule;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Layer-wise recovery (SPEC §2.10) with a plain LoRA of rank k, both factors trained: the baseline a
 * nested adapter ({@link LayerRecovery}) is compared against at equal trainable parameters. The job is
 * the same as LayerRecovery's: the same pruning, row split (held-out rows given, or the last 10% of the
 * calibration rows), loss (the mean of ‖X (W_base + ΔW − W)ᵀ‖², trained on the base −D with target 0),
 * minibatch order, AdamW, schedule and held-out error; what differs is the adapter: ΔW = s·B A with
 * A (k×n) and B (m×k) initialised as PEFT does (A Kaiming-uniform, B = 0, so the layer starts at W_base)
 * and no SVD of anything. The closed-form optimum is the best rank-k correction (the WHITEN truncation
 * of D at λ → 0), which a plain LoRA can reach.
 *
 * <pre>{@code
 * try (LoraRecovery job = LoraRecovery.builder(ctx).weight(w, m, n).pruning(Pruning.magnitude(0.5))
 *         .calibration(x, rows).rank(8).steps(400).build()) {
 *     RecoveryReport report = job.run();
 * }
 * }</pre>
 *
 * <p>Thread safety: not thread-safe; it runs on its context, which one thread at a time uses.
 */
public final class LoraRecovery implements AutoCloseable {
    private final NoraContext context;
    private final int m;
    private final int n;
    private final int rank;
    private final RecoveryJob job;
    private final float[] optimumCorrection;   // D_k
    private final int steps;
    private final long seed;
    private final AdamWConfig optimizer;
    private final int evaluateEvery;
    private final Consumer<HeldOutError> evaluation;
    private final LoraLinear layer;  // base −D: its output is the output error itself
    private final Matrix gradA;
    private final Matrix gradB;
    private final List<Matrix> params;
    private final List<Matrix> grads;
    private final List<Matrix> expAvg;
    private final List<Matrix> expAvgSq;
    private RecoveryReport report;
    private boolean closed;

    private LoraRecovery(Builder b, int steps, AdamWConfig optimizer) {
        this.context = b.context;
        this.m = b.m;
        this.n = b.n;
        this.rank = b.rank;
        this.steps = steps;
        this.seed = b.seed;
        this.optimizer = optimizer;
        this.evaluateEvery = b.evaluateEvery;
        this.evaluation = b.evaluation;

        job = b.prepare();
        optimumCorrection = job.optimumCorrection(rank);

        // PEFT's init: lora_A Kaiming-uniform (a = √5: U(±1/√n)), lora_B = 0.
        SplittableRandom rng = new SplittableRandom(b.initSeed);
        float[] a = new float[rank * n];
        double bound = 1 / Math.sqrt(n);
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) ((2 * rng.nextDouble() - 1) * bound);
        }
        layer = LoraLinear.create(context, job.negatedDifference(), m, n, rank, a, new float[m * rank], (float) b.scale);
        Matrix[] state = new Matrix[6];
        try {
            state[0] = context.zeros(rank, n);
            state[1] = context.zeros(m, rank);
            state[2] = context.zeros(rank, n);
            state[3] = context.zeros(m, rank);
            state[4] = context.zeros(rank, n);
            state[5] = context.zeros(m, rank);
        } catch (RuntimeException e) {
            for (Matrix s : state) {
                if (s != null) {
                    s.close();
                }
            }
            layer.close();
            throw e;
        }
        gradA = state[0];
        gradB = state[1];
        params = List.of(layer.loraA(), layer.loraB());
        grads = List.of(gradA, gradB);
        expAvg = List.of(state[2], state[3]);
        expAvgSq = List.of(state[4], state[5]);
    }

    public static Builder builder(NoraContext context) {
        return new Builder(context);
    }

    /** Trainable parameters: k·(m + n). */
    public long trainableParameters() {
        return layer.trainableParameters();
    }

    /**
     * Trains (once) and measures, as {@link LayerRecovery#run()}: {@link NonFiniteTrainingException} when
     * a step meets a NaN, before that step's update; the report's seconds leave the held-out evaluations
     * out.
     */
    public RecoveryReport run() {
        requireOpen();
        if (report != null) {
            return report;
        }
        report = job.run(optimumCorrection, steps, seed, this::step, layer::forward, this::requireFiniteFactors,
                evaluateEvery, evaluation);
        return report;
    }

    /**
     * One AdamW step on the mean squared error against 0, as {@link Trainer#regressionStep}: the loss,
     * dY = 2·R/(T·m), the backward, the global gradient norm (clipped if configured), the update.
     */
    private double step(int t, Matrix x, Matrix residual) {
        layer.forward(x, residual);
        double count = (double) x.rows() * m;
        double loss = TensorOps.sumOfSquares(List.of(residual)) / count;
        if (!Double.isFinite(loss)) {
            throw new NonFiniteTrainingException("LoraRecovery: step " + t + ": the loss is " + loss + "; the step was "
                    + "not applied, the parameters are unchanged", t, "layer");
        }
        TensorOps.multiplyAdd((float) (2.0 / count), residual, null, 0f, residual);
        layer.backward(x, residual, gradA, gradB, null);
        double norm = Math.sqrt(TensorOps.sumOfSquares(grads));
        if (!Double.isFinite(norm)) {
            throw new NonFiniteTrainingException("LoraRecovery: step " + t + ": the gradient norm is " + norm + "; the "
                    + "step was not applied, the parameters are unchanged", t, "layer");
        }
        double scale = optimizer.clipsGradients() && norm > optimizer.maxGradNorm() ? optimizer.maxGradNorm() / norm : 1.0;
        TensorOps.adamwStep(params, grads, expAvg, expAvgSq, (float) optimizer.learningRate(t), (float) optimizer.beta1(),
                (float) optimizer.beta2(), (float) optimizer.epsilon(), (float) optimizer.weightDecay(), (float) scale, t);
        return loss;
    }

    private void requireFiniteFactors() {
        for (Matrix f : params) {
            float[] v = f.toArray();
            for (int i = 0; i < v.length; i++) {
                if (!Float.isFinite(v[i])) {
                    String name = f == layer.loraA() ? "A" : "B";
                    throw new NonFiniteTrainingException("LoraRecovery: after step " + steps + ": " + name + " element ["
                            + i / f.cols() + ", " + i % f.cols() + "] is " + v[i] + " (the learning rate is too large)",
                            steps, "layer");
                }
            }
        }
    }

    /** W_base (m×n; a copy). */
    public float[] prunedWeight() {
        return job.prunedWeight.clone();
    }

    /** lora_A as it stands (k×n). */
    public float[] loraA() {
        requireOpen();
        return layer.loraA().toArray();
    }

    /** lora_B as it stands (m×k). */
    public float[] loraB() {
        requireOpen();
        return layer.loraB().toArray();
    }

    /** The scale s of ΔW = s·B A. */
    public float scale() {
        return layer.scale();
    }

    /** The report of {@link #run()}, or null before it. */
    public RecoveryReport report() {
        return report;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("LoraRecovery is closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (List<Matrix> list : List.of(grads, expAvg, expAvgSq)) {
            list.forEach(Matrix::close);
        }
        layer.close();
    }

    /** The job's inputs and settings; validated at {@link #build()}, which prunes and computes the optimum. */
    public static final class Builder extends RecoveryBuilder<Builder> {
        private int rank = -1;
        private Double alpha;
        private ScalingRule rule = ScalingRule.LORA;
        private double scale;
        private long initSeed = 0x5eedL;

        private Builder(NoraContext context) {
            super(context, "LoraRecovery");
        }

        @Override
        Builder self() {
            return this;
        }

        /** The LoRA rank k, 1 ≤ k ≤ min(m, n). */
        public Builder rank(int k) {
            this.rank = k;
            return this;
        }

        /** α of the scale (default: the rank, so that s = 1 with the LoRA rule, SPEC §2.4). */
        public Builder alpha(double a) {
            this.alpha = a;
            return this;
        }

        /** s = α/k (LORA, default) or α/√k (RORA). */
        public Builder rule(ScalingRule r) {
            this.rule = Objects.requireNonNull(r, "rule");
            return this;
        }

        /** Seed of lora_A's Kaiming-uniform init (as the nested config's seed for A'). */
        public Builder initSeed(long s) {
            this.initSeed = s;
            return this;
        }

        /** Validates, prunes, computes the optimum and initialises the factors. */
        public LoraRecovery build() {
            final String op = "LoraRecovery.build";
            requireInputs(op, true, "weight, pruning and calibration");
            if (rank < 1 || rank > Math.min(m, n)) {
                throw new io.jnora.InvalidRankException(op + ": rank k = " + rank + " must be in [1, min(m, n) = "
                        + Math.min(m, n) + "] for the weight " + m + "×" + n);
            }
            validateRows(op);
            double a = alpha == null ? rank : alpha;
            scale = rule.scale(a, rank);
            if (!Double.isFinite(scale) || scale == 0) {
                throw new InvalidHyperparameterException(op + ": the scale s = " + scale + " (α = " + a + ", rule "
                        + rule.metadataName() + ") must be finite and non-zero");
            }
            RecoveryJob.Plan plan = RecoveryJob.plan(op, optimizer, steps);
            return new LoraRecovery(this, plan.steps(), plan.optimizer());
        }
    }
}
