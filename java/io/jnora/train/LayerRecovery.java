package io.jnora.train;

import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.Precision;
import io.jnora.TensorOps;
import io.jnora.adapter.AdapterLayer;
import io.jnora.init.InnerInit;
import io.jnora.init.NestedAdapterWeights;
import io.jnora.init.NestedInitializer;
import io.jnora.init.NoraConfig;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Layer-wise recovery (SPEC §2.10), the training job the library runs on its own: given a layer's
 * weight W (m×n), a degradation of it into W_base ({@link Pruning}) and calibration rows X, train a
 * nested adapter on W_base so that W_base + ΔW reproduces W's outputs:
 *
 * <ol>
 *   <li>the outer factors come from the activation-aware SVD of the difference D = W − W_base
 *       ({@link NestedInitializer} on D with the adapter's config). With the inner init ZERO (or
 *       RANDOM_OUTER) the layer starts exactly at W_base. With SIGMA the inner pair starts at the top
 *       r_in singular values of D's AwSVD, so the layer starts at W_base + D_{r_in} (the SVD head start
 *       of NoRA §3.2) and no residual is formed: the PiSSA residual W_base − s·BB'₀A'₀A would subtract
 *       the very correction the recovery is after;</li>
 *   <li>AdamW trains A', B' on minibatches of the training rows to minimise the mean of
 *       ‖X (W_base + ΔW − W)ᵀ‖²_F. The layer trained has the base W_base − W = −D and the target 0: the
 *       same loss and gradients, without subtracting two large outputs (which would cost float32
 *       digits and a GEMM per step);</li>
 *   <li>the held-out output error ‖X_t (W_base + ΔW − W)ᵀ‖_F / ‖X_t Wᵀ‖_F is measured before and after,
 *       and at the closed-form optimum: the best rank-r_in correction for this quadratic loss is the
 *       WHITEN truncation of D at λ → 0; it is computed independently of the training with
 *       λ = {@value #OPTIMUM_RIDGE} (relative to tr(C)/n, enough for a positive-definite Cholesky
 *       factor of the training rows' covariance, and far below any other term) and an exact SVD.</li>
 * </ol>
 *
 * Held-out rows are the ones given, or else the last 10% of the calibration rows (at least one),
 * which are then not trained on. The outer factors, the statistics and the optimum use the
 * training rows only. With WHITEN outer factors (and r_in ≤ r) the optimum lies in the adapter's
 * reach; with the diagonal scalings it generally does not, and the report says how close it came.
 *
 * <pre>{@code
 * try (LayerRecovery job = LayerRecovery.builder(ctx).weight(w, m, n).pruning(Pruning.magnitude(0.5))
 *         .calibration(x, rows).adapter(NoraConfig.builder().outerRank(32).innerRank(8)
 *                 .scaleMode(ScaleMode.whiten()).build()).steps(400).build()) {
 *     RecoveryReport report = job.run();
 *     NestedAdapterFile.write(out, List.of(job.adapterLayer("layer")));
 * }
 * }</pre>
 *
 * <p>Thread safety: not thread-safe; it runs on its context, which one thread at a time uses.
 */
public final class LayerRecovery implements AutoCloseable {
    /** λ of the closed-form optimum's WHITEN truncation (relative to tr(C)/n). */
    public static final double OPTIMUM_RIDGE = 1e-8;
    /** Learning rate when none is given: the recovery starts from B' = 0 and needs B' of order 1. */
    public static final double DEFAULT_LEARNING_RATE = 1e-2;
    public static final int DEFAULT_STEPS = 500;
    public static final int DEFAULT_BATCH_ROWS = 512;

    private final int m;
    private final int n;
    private final RecoveryJob job;
    private final NestedAdapterWeights outer;
    private final float[] optimumCorrection;  // D_{r_in}: W_base + D_{r_in} is the optimum
    private final NoraConfig adapter;
    private final int steps;
    private final long seed;
    private final int progressEvery;
    private final Consumer<StepReport> progress;
    private final int evaluateEvery;
    private final Consumer<HeldOutError> evaluation;
    private final NestedLinear layer;  // base −D: its output is the output error itself
    private final Trainer trainer;
    private final Precision precision;
    private final NoraContext context;
    // A half layer's copies of the float32 rows the job hands out (kept between steps).
    private Matrix halfInput;
    private Matrix halfTestInput;
    private Matrix halfTestOutput;
    private RecoveryReport report;
    private boolean closed;

    private LayerRecovery(Builder b, int steps, AdamWConfig optimizer) {
        this.m = b.m;
        this.n = b.n;
        this.adapter = b.adapter;
        this.steps = steps;
        this.seed = b.seed;
        this.progressEvery = b.progressEvery;
        this.progress = b.progress;
        this.evaluateEvery = b.evaluateEvery;
        this.evaluation = b.evaluation;
        this.precision = b.precision;
        this.context = b.context;

        job = b.prepare();
        outer = NestedInitializer.initialize(b.context, job.difference, m, n, job.stats, adapter);
        optimumCorrection = job.optimumCorrection(adapter.innerRank());
        layer = NestedLinear.builder(b.context).baseWeight(job.negatedDifference(), m, n)
                .ranks(adapter.outerRank(), adapter.innerRank()).outerA(outer.outerA()).outerB(outer.outerB())
                .innerA(outer.innerA()).innerB(outer.innerB()).scale(outer.scale()).precision(precision).build();
        try {
            trainer = Trainer.builder(b.context).layer(b.layerName, layer).optimizer(optimizer).dropout(b.dropout)
                    .seed(b.seed).build();
        } catch (RuntimeException e) {
            layer.close();
            throw e;
        }
    }

    public static Builder builder(NoraContext context) {
        return new Builder(context);
    }

    /**
     * Trains (once) and measures; {@link NonFiniteTrainingException} when a step meets a NaN, with the
     * adapter left as it was before that step. Progress goes to the listener every so many steps, and
     * so does the held-out error when asked for ({@link Builder#evaluateEvery}); the report's seconds
     * leave those evaluations out.
     */
    public RecoveryReport run() {
        requireOpen();
        if (report != null) {
            return report;
        }
        report = job.run(optimumCorrection, steps, seed, (s, x, zero) -> {
            StepReport r = trainer.regressionStep(inLayerPrecision(x), zero);
            if (progress != null && (s % progressEvery == 0 || s == steps)) {
                progress.accept(r);
            }
            return r.loss();
        }, this::forwardFloat32, this::requireFiniteFactors, evaluateEvery, evaluation);
        return report;
    }

    /** X as the layer takes it: itself in float32, else a copy rounded to the layer's precision. */
    private Matrix inLayerPrecision(Matrix x) {
        if (precision == Precision.FLOAT32) {
            return x;
        }
        if (halfInput == null || halfInput.rows() != x.rows()) {
            close(halfInput);
            halfInput = null;
            halfInput = context.zeros(x.rows(), n, precision);
        }
        TensorOps.convert(x, halfInput);
        return halfInput;
    }

    /** The layer's output (the output error) for float32 rows into a float32 Y, in the layer's precision between. */
    private void forwardFloat32(Matrix x, Matrix y) {
        if (precision == Precision.FLOAT32) {
            layer.forward(x, y, io.jnora.Association.AUTO);
            return;
        }
        if (halfTestInput == null || halfTestInput.rows() != x.rows()) {
            close(halfTestInput);
            close(halfTestOutput);
            halfTestInput = null;
            halfTestOutput = null;
            halfTestInput = context.zeros(x.rows(), n, precision);
            halfTestOutput = context.zeros(x.rows(), m, precision);
        }
        TensorOps.convert(x, halfTestInput);
        layer.forward(halfTestInput, halfTestOutput, io.jnora.Association.AUTO);
        TensorOps.convert(halfTestOutput, y);
    }

    private static void close(Matrix m) {
        if (m != null) {
            m.close();
        }
    }

    /**
     * Finite gradients can still take a factor past float range when the learning rate is absurd;
     * nothing non-finite may reach a file.
     */
    private void requireFiniteFactors() {
        for (Matrix f : new Matrix[] {layer.innerA(), layer.innerB()}) {
            float[] v = f.toArray();
            for (int i = 0; i < v.length; i++) {
                if (!Float.isFinite(v[i])) {
                    String name = f == layer.innerA() ? "A'" : "B'";
                    throw new NonFiniteTrainingException("LayerRecovery: after step " + trainer.stepsTaken() + ", layer '"
                            + trainer.layerNames().get(0) + "': " + name + " element [" + i / f.cols() + ", " + i % f.cols()
                            + "] is " + v[i] + " (the learning rate is too large)", trainer.stepsTaken(),
                            trainer.layerNames().get(0));
                }
            }
        }
    }

    /** W_base, the degraded weight the adapter is trained on (m×n; a copy). */
    public float[] prunedWeight() {
        return job.prunedWeight.clone();
    }

    /** The best rank-r_in correction D_{r_in} (m×n; a copy): W_base + D_{r_in} is the closed-form optimum. */
    public float[] optimumCorrection() {
        return optimumCorrection.clone();
    }

    /** The trainer (for its state: {@link Trainer#saveState}). */
    public Trainer trainer() {
        requireOpen();
        return trainer;
    }

    /** The report of {@link #run()}, or null before it. */
    public RecoveryReport report() {
        return report;
    }

    /**
     * The adapter as it stands, for W_base (SPEC §5): the outer pair of the SVD of D, the trained inner
     * pair, and the config's metadata. Its base, in the file's sense, is {@link #prunedWeight()}. Not for
     * a SIGMA run: a file's SIGMA layer runs on a residual, which this recovery does not form.
     */
    public AdapterLayer adapterLayer(String name) {
        requireOpen();
        NoraConfig cfg = outer.config();
        if (cfg.init() == InnerInit.SIGMA) {
            throw new IllegalStateException("LayerRecovery.adapterLayer: a SIGMA recovery runs on W_base without a "
                    + "residual, which an adapter file's sigma layer cannot express (SPEC §5); use zero or random-outer "
                    + "for an adapter to write");
        }
        return new AdapterLayer(name, m, n, cfg.outerRank(), cfg.innerRank(), cfg.alpha(), cfg.rule().metadataName(),
                outer.scale(), cfg.scaleMode().toString(), cfg.init().metadataName(), cfg.splitUsed(),
                outer.svdUsed() == null ? "none" : outer.svdUsed().name().toLowerCase(java.util.Locale.ROOT),
                outerFactor(outer.outerA()), outerFactor(outer.outerB()), layer.innerA().toArray(),
                layer.innerB().toArray(), null, null);
    }

    /** The outer factor as the trained layer held it: rounded to a half layer's precision. */
    private float[] outerFactor(float[] values) {
        if (precision == Precision.FLOAT32) {
            return values;
        }
        float[] out = new float[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = precision.round(values[i]);
        }
        return out;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("LayerRecovery is closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        trainer.close();
        layer.close();
        close(halfInput);
        close(halfTestInput);
        close(halfTestOutput);
    }

    /** The recovery job's inputs and settings; validated at {@link #build()}, which does the init work. */
    public static final class Builder extends RecoveryBuilder<Builder> {
        private NoraConfig adapter;
        private double dropout;
        private Precision precision = Precision.FLOAT32;
        private String layerName = "layer";
        private int progressEvery = 50;
        private Consumer<StepReport> progress;

        private Builder(NoraContext context) {
            super(context, "LayerRecovery");
        }

        @Override
        Builder self() {
            return this;
        }

        /** The adapter: outer and inner rank, scaling, α, rule and inner init (SIGMA: see the class comment). */
        public Builder adapter(NoraConfig cfg) {
            this.adapter = Objects.requireNonNull(cfg, "adapter");
            return this;
        }

        public Builder dropout(double p) {
            this.dropout = p;
            return this;
        }

        /**
         * The trained layer's precision (default FLOAT32): bfloat16 or float16 hold its base (the
         * difference D) and outer factors and take its rows in 2 bytes, as the model would run it;
         * the inner factors, the loss and the optimiser stay float32 (float16 steps are loss-scaled,
         * see {@link Trainer}). No dropout with them.
         */
        public Builder precision(Precision p) {
            this.precision = Objects.requireNonNull(p, "precision");
            return this;
        }

        /** The layer's name in the trainer's reports and state (default "layer"). */
        public Builder layerName(String name) {
            this.layerName = Objects.requireNonNull(name, "layerName");
            return this;
        }

        /** Calls {@code listener} with the step's report every {@code every} steps and after the last. */
        public Builder progress(int every, Consumer<StepReport> listener) {
            if (every < 1) {
                throw new InvalidHyperparameterException("LayerRecovery: progress every " + every + " steps (must be ≥ 1)");
            }
            this.progressEvery = every;
            this.progress = Objects.requireNonNull(listener, "listener");
            return this;
        }

        /** Validates, prunes, initialises the outer factors and computes the optimum (host and backend work). */
        public LayerRecovery build() {
            final String op = "LayerRecovery.build";
            requireInputs(op, adapter != null, "weight, pruning, calibration and adapter");
            validateRows(op);
            RecoveryJob.Plan plan = RecoveryJob.plan(op, optimizer, steps);
            return new LayerRecovery(this, plan.steps(), plan.optimizer());
        }
    }
}
