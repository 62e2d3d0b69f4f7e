package io.jnora.train;

import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.ShapeMismatchException;
import io.jnora.TensorOps;
import io.jnora.adapter.AdapterLayer;
import io.jnora.init.InnerInit;
import io.jnora.init.NestedAdapterWeights;
import io.jnora.init.NestedInitializer;
import io.jnora.init.NoraConfig;
import io.jnora.init.ScaleMode;
import io.jnora.init.SvdMethod;
import io.jnora.stats.ActivationStats;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Layer-wise recovery (SPEC §2.10), the training job the library runs on its own: given a layer's
 * weight W (m×n), a degradation of it into W_base ({@link Pruning}) and calibration rows X, train a
 * nested adapter on W_base so that W_base + ΔW reproduces W's outputs:
 *
 * <ol>
 *   <li>the outer factors come from the activation-aware SVD of the difference D = W − W_base
 *       ({@link NestedInitializer} on D with the adapter's config; the inner init is ZERO, so the
 *       layer starts exactly at W_base);</li>
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

    private final NoraContext context;
    private final int m;
    private final int n;
    private final Pruning pruning;
    private final float[] prunedWeight;
    private final NestedAdapterWeights outer;
    private final float[] optimumCorrection;  // D_{r_in}: W_base + D_{r_in} is the optimum
    private final float[] difference;         // D = W − W_base
    private final NoraConfig adapter;
    private final float[] trainRows;
    private final int trainCount;
    private final float[] testRows;
    private final int testCount;
    private final boolean heldOutGiven;
    private final int steps;
    private final int batchRows;
    private final long seed;
    private final int progressEvery;
    private final Consumer<StepReport> progress;
    private final NestedLinear layer;  // base −D: its output is the output error itself
    private final Trainer trainer;
    private final float[] weight;
    private RecoveryReport report;
    private boolean closed;

    private LayerRecovery(Builder b, int steps, AdamWConfig optimizer) {
        this.context = b.context;
        this.m = b.m;
        this.n = b.n;
        this.weight = b.weight;
        this.pruning = b.pruning;
        this.adapter = b.adapter;
        this.steps = steps;
        this.seed = b.seed;
        this.progressEvery = b.progressEvery;
        this.progress = b.progress;

        int rows = b.calibrationCount;
        if (b.heldOut != null) {
            heldOutGiven = true;
            trainCount = rows;
            testRows = b.heldOut;
            testCount = b.heldOutCount;
        } else {
            heldOutGiven = false;
            testCount = Math.max(1, rows / 10);
            trainCount = rows - testCount;
            testRows = java.util.Arrays.copyOfRange(b.calibration, trainCount * n, rows * n);
        }
        trainRows = trainCount == rows ? b.calibration : java.util.Arrays.copyOf(b.calibration, trainCount * n);
        this.batchRows = Math.min(b.batchRows, trainCount);

        prunedWeight = pruning.apply(weight, m, n);
        difference = new float[weight.length];
        for (int i = 0; i < weight.length; i++) {
            difference[i] = weight[i] - prunedWeight[i];
        }
        ActivationStats stats = ActivationStats.create(n, true);
        stats.accumulate(trainRows, trainCount);
        outer = NestedInitializer.initialize(context, difference, m, n, stats, adapter);
        NoraConfig optimumConfig = NoraConfig.builder().outerRank(adapter.innerRank()).innerRank(1)
                .scaleMode(ScaleMode.whiten(OPTIMUM_RIDGE)).svd(SvdMethod.EXACT).init(InnerInit.ZERO).build();
        optimumCorrection = NestedInitializer.initialize(null, difference, m, n, stats, optimumConfig).outerProduct();

        float[] negated = new float[difference.length];
        for (int i = 0; i < negated.length; i++) {
            negated[i] = -difference[i];
        }
        layer = NestedLinear.builder(context).baseWeight(negated, m, n).ranks(adapter.outerRank(), adapter.innerRank())
                .outerA(outer.outerA()).outerB(outer.outerB()).innerA(outer.innerA()).innerB(outer.innerB())
                .scale(outer.scale()).build();
        try {
            trainer = Trainer.builder(context).layer(b.layerName, layer).optimizer(optimizer).dropout(b.dropout)
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
     * adapter left as it was before that step. Progress goes to the listener every so many steps.
     */
    public RecoveryReport run() {
        requireOpen();
        if (report != null) {
            return report;
        }
        double errorBefore;
        double errorOptimum;
        try (Matrix xt = context.matrix(testCount, n, testRows); Matrix w = context.matrix(m, n, weight);
                Matrix y = context.zeros(testCount, m)) {
            context.linear(xt, w, y);
            double reference = TensorOps.sumOfSquares(List.of(y));
            errorBefore = heldOutError(xt, y, reference);
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
        double lastLoss = Double.NaN;
        int[] order = new int[trainCount];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        int cursor = trainCount;  // start with a fresh epoch
        int epoch = 0;
        float[] batch = new float[batchRows * n];
        try (Matrix x = context.zeros(batchRows, n); Matrix zero = context.zeros(batchRows, m)) {
            for (int s = 1; s <= steps; s++) {
                if (cursor + batchRows > trainCount) {
                    shuffle(order, new SplittableRandom(seed + 0x9E3779B97F4A7C15L * ++epoch));
                    cursor = 0;
                }
                for (int k = 0; k < batchRows; k++) {
                    System.arraycopy(trainRows, order[cursor + k] * n, batch, k * n, n);
                }
                cursor += batchRows;
                x.copyFrom(batch);
                StepReport r = trainer.regressionStep(x, zero);
                lastLoss = r.loss();
                if (progress != null && (s % progressEvery == 0 || s == steps)) {
                    progress.accept(r);
                }
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        requireFiniteFactors();

        double errorAfter;
        try (Matrix xt = context.matrix(testCount, n, testRows); Matrix w = context.matrix(m, n, weight);
                Matrix y = context.zeros(testCount, m)) {
            context.linear(xt, w, y);
            errorAfter = heldOutError(xt, y, TensorOps.sumOfSquares(List.of(y)));
        }
        report = new RecoveryReport(pruning.toString(), trainCount, testCount, heldOutGiven, steps, errorBefore, errorAfter,
                errorOptimum, lastLoss, seconds);
        return report;
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

    /** ‖X_t (W_base + ΔW − W)ᵀ‖ / ‖X_t Wᵀ‖: the trained layer's output is the numerator's matrix. */
    private double heldOutError(Matrix xt, Matrix scratch, double referenceSquares) {
        layer.forward(xt, scratch, io.jnora.Association.AUTO);
        return ratio(TensorOps.sumOfSquares(List.of(scratch)), referenceSquares);
    }

    private static double ratio(double errorSquares, double referenceSquares) {
        return referenceSquares == 0 ? Math.sqrt(errorSquares) : Math.sqrt(errorSquares / referenceSquares);
    }

    private static void shuffle(int[] order, SplittableRandom rng) {
        for (int i = order.length - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }

    /** W_base, the degraded weight the adapter is trained on (m×n; a copy). */
    public float[] prunedWeight() {
        return prunedWeight.clone();
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
     * pair, and the config's metadata. Its base, in the file's sense, is {@link #prunedWeight()}.
     */
    public AdapterLayer adapterLayer(String name) {
        requireOpen();
        NoraConfig cfg = outer.config();
        return new AdapterLayer(name, m, n, cfg.outerRank(), cfg.innerRank(), cfg.alpha(), cfg.rule().metadataName(),
                outer.scale(), cfg.scaleMode().toString(), cfg.init().metadataName(), cfg.split().metadataName(),
                outer.svdUsed() == null ? "none" : outer.svdUsed().name().toLowerCase(java.util.Locale.ROOT),
                outer.outerA(), outer.outerB(), layer.innerA().toArray(), layer.innerB().toArray(), null, null);
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
    }

    /** The recovery job's inputs and settings; validated at {@link #build()}, which does the init work. */
    public static final class Builder {
        private final NoraContext context;
        private float[] weight;
        private int m = -1;
        private int n = -1;
        private Pruning pruning;
        private float[] calibration;
        private int calibrationCount;
        private float[] heldOut;
        private int heldOutCount;
        private NoraConfig adapter;
        private AdamWConfig optimizer;
        private Integer steps;
        private int batchRows = DEFAULT_BATCH_ROWS;
        private double dropout;
        private long seed = 0x5eedL;
        private String layerName = "layer";
        private int progressEvery = 50;
        private Consumer<StepReport> progress;

        private Builder(NoraContext context) {
            this.context = Objects.requireNonNull(context, "context");
        }

        /** The original weight W, m×n row-major. */
        public Builder weight(float[] w, int outFeatures, int inFeatures) {
            this.weight = Objects.requireNonNull(w, "weight");
            this.m = outFeatures;
            this.n = inFeatures;
            return this;
        }

        public Builder pruning(Pruning p) {
            this.pruning = Objects.requireNonNull(p, "pruning");
            return this;
        }

        /** Calibration rows (rows×n, row-major). */
        public Builder calibration(float[] x, int rows) {
            this.calibration = Objects.requireNonNull(x, "calibration");
            this.calibrationCount = rows;
            return this;
        }

        /** Held-out rows (rows×n); without them the last 10% of the calibration rows are held out. */
        public Builder heldOut(float[] x, int rows) {
            this.heldOut = Objects.requireNonNull(x, "heldOut");
            this.heldOutCount = rows;
            return this;
        }

        /** The adapter: outer and inner rank, scaling, α and rule; the inner init must be ZERO or RANDOM_OUTER. */
        public Builder adapter(NoraConfig cfg) {
            this.adapter = Objects.requireNonNull(cfg, "adapter");
            return this;
        }

        /**
         * AdamW's settings. Default: {@value LayerRecovery#DEFAULT_LEARNING_RATE} with warm-up over the first 5%
         * of the steps, then cosine decay; the other values are AdamW's defaults. A warm-up/cosine schedule here
         * fixes the number of steps.
         */
        public Builder optimizer(AdamWConfig cfg) {
            this.optimizer = Objects.requireNonNull(cfg, "optimizer");
            return this;
        }

        /** Training steps (default {@value LayerRecovery#DEFAULT_STEPS}, or the optimizer schedule's). */
        public Builder steps(int count) {
            this.steps = count;
            return this;
        }

        /** Rows per minibatch (default {@value LayerRecovery#DEFAULT_BATCH_ROWS}, at most the training rows). */
        public Builder batchRows(int rows) {
            this.batchRows = rows;
            return this;
        }

        public Builder dropout(double p) {
            this.dropout = p;
            return this;
        }

        /** Seed of the minibatch order and the dropout masks. */
        public Builder seed(long s) {
            this.seed = s;
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
            if (weight == null || pruning == null || calibration == null || adapter == null) {
                throw new IllegalArgumentException(op + ": weight, pruning, calibration and adapter are all required");
            }
            if (m < 1 || n < 1 || weight.length != (long) m * n) {
                throw new ShapeMismatchException(op + ": weight holds " + weight.length + " values, expected " + m + "×" + n);
            }
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
            if (adapter.init() == InnerInit.SIGMA) {
                throw new IllegalArgumentException(op + ": recovery starts from W_base with B' = 0: the inner init must be "
                        + "zero or random-outer, not sigma");
            }
            if (batchRows < 1) {
                throw new InvalidHyperparameterException(op + ": batch rows must be ≥ 1, got " + batchRows);
            }
            AdamWConfig cfg = optimizer;
            int total;
            if (cfg != null && !cfg.schedule().isConstant()) {
                total = cfg.schedule().totalSteps();
                if (steps != null && steps != total) {
                    throw new InvalidHyperparameterException(op + ": " + steps + " steps asked but the optimizer's schedule "
                            + "has " + total);
                }
            } else {
                total = steps == null ? DEFAULT_STEPS : steps;
                if (total < 1) {
                    throw new InvalidHyperparameterException(op + ": steps must be ≥ 1, got " + total);
                }
                if (cfg == null) {
                    cfg = AdamWConfig.builder().learningRate(DEFAULT_LEARNING_RATE)
                            .schedule(LearningRateSchedule.warmupCosine(total / 20, total)).build();
                }
            }
            return new LayerRecovery(this, total, cfg);
        }
    }
}
