package io.jnora.train;

import io.jnora.InsufficientBudgetException;
import io.jnora.InvalidRankException;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.adapter.AdapterLayer;
import io.jnora.aira.AllocationStrategy;
import io.jnora.aira.CostModel;
import io.jnora.aira.LayerSpec;
import io.jnora.aira.OutlierRatio;
import io.jnora.aira.RankAllocation;
import io.jnora.aira.RankAllocator;
import io.jnora.init.InnerInit;
import io.jnora.init.NoraConfig;
import io.jnora.model.BertEncoder;
import io.jnora.model.BertWeights;
import io.jnora.model.Calibration;
import io.jnora.stats.ActivationStats;
import io.jnora.text.Encoding;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Layer-wise recovery of a whole encoder (issue 10): every linear layer of a {@link BertEncoder} is
 * pruned ({@link Pruning}) and recovered by its own {@link LayerRecovery}, with inner ranks spread over
 * the layers under one budget of trainable parameters Σ 2·r·r_in (uniform, or AIRA's outlier-driven
 * allocation, SPEC §2.8); the recovered adapters are then installed in the encoder, and the model's
 * [CLS]-pooled, normalised embeddings ({@link BertEncoder#embed}) are compared by cosine with the
 * unpruned model's on held-out sentences, with the pruned layers alone (before) and with the adapters
 * (after).
 *
 * <p>Each layer's calibration and held-out rows are its inputs in the <em>original</em> model, gathered
 * in one pass over the text ({@link Calibration#rows}): this is SPEC §2.10's per-layer recovery ("from
 * its own calibration activations"), the layers are independent of each other and of their order, and
 * {@link LayerRecovery}'s objective ‖X (W_base + ΔW − W)ᵀ‖ compares a layer with its original on the
 * same rows. The other choice, the rows the pruned model with the earlier layers already recovered
 * feeds a layer (what it sees at inference), would need one pass over the text per group of layers
 * sharing an input (48 for BERT) and, with that objective, would only move the rows, not correct the
 * error arriving from upstream (that needs the target X Wᵀ on the original rows against the pruned
 * model's rows, which LayerRecovery does not take).
 *
 * <p>The outlier ratio that drives AIRA is the original weight's, with its calibration rows (SPEC §2.8);
 * each layer's outer rank is the config's, at most min(m, n). Only one layer's recovery (its weights,
 * difference and trainer) is alive at a time; the recovered adapters stay installed in the encoder
 * until {@link #close()}, which puts the encoder back on its frozen weights.
 *
 * <pre>{@code
 * try (ModelRecovery job = ModelRecovery.builder(encoder).pruning(Pruning.magnitude(0.5))
 *         .adapter(NoraConfig.builder().outerRank(64).innerRank(16).scaleMode(ScaleMode.whiten()).build())
 *         .allocation(AllocationStrategy.OUTLIER_DRIVEN).calibration(calib).heldOut(held).steps(200).build()) {
 *     ModelRecoveryReport report = job.run();      // the encoder now runs with the recovered adapters
 *     float[][] embeddings = encoder.embed(batch);
 * }
 * }</pre>
 *
 * <p>Thread safety: not thread-safe; it runs on its encoder's context, which one thread at a time uses.
 */
public final class ModelRecovery implements AutoCloseable {
    public static final int DEFAULT_STEPS = 200;
    public static final int DEFAULT_BATCH_ROWS = 256;
    public static final int DEFAULT_CALIBRATION_ROWS = 4096;
    public static final int DEFAULT_HELD_OUT_ROWS = 512;
    /** Sentences per forward pass when gathering rows and embeddings. */
    private static final int BATCH = 32;

    private final BertEncoder encoder;
    private final NoraContext context;
    private final Pruning pruning;
    private final NoraConfig adapter;
    private final AllocationStrategy allocation;
    private final long budget;
    private final List<Encoding> calibration;
    private final List<Encoding> heldOut;
    private final int calibrationRows;
    private final int heldOutRows;
    private final int steps;
    private final double learningRate;
    private final int batchRows;
    private final long seed;
    private final Consumer<String> progress;
    private final Map<String, AdapterLayer> adapters = new LinkedHashMap<>();
    private final Map<String, float[]> prunedWeights = new LinkedHashMap<>();
    private final Map<String, NestedLinear> installed = new LinkedHashMap<>();
    private ModelRecoveryReport report;
    private boolean closed;

    private ModelRecovery(Builder b, long budget) {
        this.encoder = b.encoder;
        this.context = b.encoder.context();
        this.pruning = b.pruning;
        this.adapter = b.adapter;
        this.allocation = b.allocation;
        this.budget = budget;
        this.calibration = List.copyOf(b.calibration);
        this.heldOut = List.copyOf(b.heldOut);
        this.calibrationRows = b.calibrationRows;
        this.heldOutRows = b.heldOutRows;
        this.steps = b.steps;
        this.learningRate = b.learningRate;
        this.batchRows = b.batchRows;
        this.seed = b.seed;
        this.progress = b.progress;
    }

    public static Builder builder(BertEncoder encoder) {
        return new Builder(encoder);
    }

    /** The budget Σ 2·r·r_in of a uniform inner rank at the config's ranks over the model's layers. */
    public static long uniformBudget(BertWeights weights, NoraConfig adapter) {
        long total = 0;
        for (BertWeights.Linear l : weights.linearLayers()) {
            total += 2L * outerRank(l, adapter) * Math.min(adapter.innerRank(), outerRank(l, adapter));
        }
        return total;
    }

    private static int outerRank(BertWeights.Linear l, NoraConfig adapter) {
        return Math.min(adapter.outerRank(), Math.min(l.outFeatures(), l.inFeatures()));
    }

    /**
     * Prunes and recovers every layer, installs the adapters and measures (once; later calls return the
     * same report). {@link NonFiniteTrainingException} if a layer's training diverges.
     */
    public ModelRecoveryReport run() {
        requireOpen();
        if (report != null) {
            return report;
        }
        long start = System.nanoTime();
        encoder.useBaseWeights();
        float[][] reference = embed();

        progress.accept("rows: every linear layer's inputs in the unpruned model over " + calibration.size()
                + " calibration and " + heldOut.size() + " held-out sentences...");
        Map<String, Calibration.Rows> train = Calibration.rows(encoder, calibration, calibrationRows, BATCH);
        Map<String, Calibration.Rows> test = Calibration.rows(encoder, heldOut, heldOutRows, BATCH);

        List<BertWeights.Linear> linears = encoder.weights().linearLayers();
        List<LayerSpec> specs = new ArrayList<>();
        OutlierRatio outliers = OutlierRatio.withDefaultThreshold();
        for (BertWeights.Linear l : linears) {
            Calibration.Rows rows = train.get(l.name());
            ActivationStats stats = ActivationStats.create(l.inFeatures(), false);
            stats.accumulate(rows.values(), rows.count());
            double o = outliers.of(l.weight(), l.outFeatures(), l.inFeatures(), stats);
            specs.add(LayerSpec.nested(l.name(), l.outFeatures(), l.inFeatures(), o, outerRank(l, adapter)));
        }
        RankAllocation ranks = RankAllocator.builder().strategy(allocation).minRank(1).maxRank(adapter.outerRank())
                .costModel(CostModel.NESTED).seed(seed).build().allocate(specs, budget);
        progress.accept("allocation " + allocation.label() + ": " + ranks.cost() + " of " + budget
                + " trainable parameters");

        List<ModelRecoveryReport.Layer> layers = new ArrayList<>();
        for (int i = 0; i < linears.size(); i++) {
            BertWeights.Linear l = linears.get(i);
            LayerSpec spec = specs.get(i);
            int outer = spec.outerRank().getAsInt();
            int inner = ranks.rank(i);
            NoraConfig cfg = adapter.toBuilder().outerRank(outer).innerRank(inner).build();
            Calibration.Rows rows = train.get(l.name());
            Calibration.Rows held = test.get(l.name());
            AdamWConfig optimizer = AdamWConfig.builder().learningRate(learningRate)
                    .schedule(LearningRateSchedule.warmupCosine(steps / 20, steps)).build();
            long layerStart = System.nanoTime();
            RecoveryReport r;
            try (LayerRecovery job = LayerRecovery.builder(context).weight(l.weight(), l.outFeatures(), l.inFeatures())
                    .pruning(pruning).calibration(rows.values(), rows.count()).heldOut(held.values(), held.count())
                    .adapter(cfg).optimizer(optimizer).batchRows(batchRows).seed(seed + i).layerName(l.name()).build()) {
                r = job.run();
                adapters.put(l.name(), job.adapterLayer(l.name()));
                prunedWeights.put(l.name(), job.prunedWeight());
            }
            layers.add(new ModelRecoveryReport.Layer(l.name(), l.outFeatures(), l.inFeatures(), spec.outlierRatio(), outer,
                    inner, r));
            progress.accept(String.format(Locale.ROOT, "layer %d/%d %s %d×%d r %d r_in %d: held-out error %.4f -> %.4f"
                    + " (optimum %.4f); %.1f s, %.1f of them training", i + 1, linears.size(), l.name(), l.outFeatures(),
                    l.inFeatures(), outer, inner, r.errorBefore(), r.errorAfter(), r.errorOptimum(),
                    (System.nanoTime() - layerStart) / 1e9, r.seconds()));
        }

        // Before: the pruned weights alone (the adapters with B' = A' = 0 run exactly on W_base).
        install(true);
        float[][] pruned = embed();
        install(false);
        float[][] recovered = embed();
        report = new ModelRecoveryReport(pruning.toString(), allocation, budget, ranks.cost(), calibration.size(),
                heldOut.size(), steps, cosines(reference, pruned), cosines(reference, recovered), layers,
                (System.nanoTime() - start) / 1e9);
        return report;
    }

    /** Puts every layer's adapter on the pruned base into the encoder, with its inner pair zeroed or as trained. */
    private void install(boolean zeroInner) {
        uninstall();
        for (var e : adapters.entrySet()) {
            AdapterLayer a = e.getValue();
            if (zeroInner) {
                a = a.withInner(new float[a.innerA().length], new float[a.innerB().length]);
            }
            installed.put(e.getKey(), a.build(context, prunedWeights.get(e.getKey())));
        }
        encoder.useAdapters(installed::get);
    }

    private void uninstall() {
        encoder.useBaseWeights();
        for (NestedLinear l : installed.values()) {
            l.close();
        }
        installed.clear();
    }

    private float[][] embed() {
        float[][] out = new float[heldOut.size()][];
        for (int i = 0; i < heldOut.size(); i += BATCH) {
            float[][] part = encoder.embed(heldOut.subList(i, Math.min(heldOut.size(), i + BATCH)));
            System.arraycopy(part, 0, out, i, part.length);
        }
        return out;
    }

    /** Cosine of each pair of embeddings (both unit vectors already; normalised again against rounding). */
    static double[] cosines(float[][] a, float[][] b) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            double dot = 0;
            double na = 0;
            double nb = 0;
            for (int j = 0; j < a[i].length; j++) {
                dot += (double) a[i][j] * b[i][j];
                na += (double) a[i][j] * a[i][j];
                nb += (double) b[i][j] * b[i][j];
            }
            out[i] = dot / Math.sqrt(na * nb);
        }
        return out;
    }

    /** The report of {@link #run()}, or null before it. */
    public ModelRecoveryReport report() {
        return report;
    }

    /**
     * The recovered adapters in depth order, for {@code NestedAdapterFile.write}; each runs on its layer's
     * {@link #prunedWeights() pruned weight}, which an adapter file does not hold. Empty before {@link #run()}.
     */
    public List<AdapterLayer> adapterLayers() {
        return List.copyOf(adapters.values());
    }

    /** Each layer's W_base (m×n; the arrays themselves, not copies), in depth order. Empty before {@link #run()}. */
    public Map<String, float[]> prunedWeights() {
        return Collections.unmodifiableMap(prunedWeights);
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("ModelRecovery is closed");
        }
    }

    /** Puts the encoder back on its frozen weights and frees the installed adapters. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        uninstall();
    }

    /** The job's settings, validated at {@link #build()} (before any pass over the text). */
    public static final class Builder {
        private final BertEncoder encoder;
        private Pruning pruning;
        private NoraConfig adapter;
        private AllocationStrategy allocation = AllocationStrategy.UNIFORM;
        private Long budget;
        private List<Encoding> calibration;
        private List<Encoding> heldOut;
        private int calibrationRows = DEFAULT_CALIBRATION_ROWS;
        private int heldOutRows = DEFAULT_HELD_OUT_ROWS;
        private int steps = DEFAULT_STEPS;
        private double learningRate = LayerRecovery.DEFAULT_LEARNING_RATE;
        private int batchRows = DEFAULT_BATCH_ROWS;
        private long seed = 24301;
        private Consumer<String> progress = s -> { };

        private Builder(BertEncoder encoder) {
            this.encoder = Objects.requireNonNull(encoder, "encoder");
        }

        public Builder pruning(Pruning p) {
            this.pruning = Objects.requireNonNull(p, "pruning");
            return this;
        }

        /**
         * Every layer's adapter: outer rank (at most min(m, n) per layer), scaling, α and rule; its inner rank
         * is the uniform one that sets the default budget. The inner init must be ZERO or RANDOM_OUTER.
         */
        public Builder adapter(NoraConfig cfg) {
            this.adapter = Objects.requireNonNull(cfg, "adapter");
            return this;
        }

        /** How the budget becomes inner ranks (default UNIFORM; OUTLIER_DRIVEN is AIRA's). */
        public Builder allocation(AllocationStrategy s) {
            this.allocation = Objects.requireNonNull(s, "allocation");
            return this;
        }

        /** Trainable parameters Σ 2·r·r_in over all layers (default {@link #uniformBudget}). */
        public Builder budget(long trainableParameters) {
            this.budget = trainableParameters;
            return this;
        }

        /** The sentences whose tokens are each layer's training rows. */
        public Builder calibration(List<Encoding> texts) {
            this.calibration = Objects.requireNonNull(texts, "calibration");
            return this;
        }

        /** The sentences the embeddings are compared on, whose tokens are each layer's held-out rows. */
        public Builder heldOut(List<Encoding> texts) {
            this.heldOut = Objects.requireNonNull(texts, "heldOut");
            return this;
        }

        /** At most this many training rows per layer, the first tokens of the calibration text. */
        public Builder calibrationRows(int rows) {
            this.calibrationRows = rows;
            return this;
        }

        /** At most this many held-out rows per layer for its output error. */
        public Builder heldOutRows(int rows) {
            this.heldOutRows = rows;
            return this;
        }

        /** AdamW steps per layer, with warm-up over the first 5% and cosine decay. */
        public Builder steps(int count) {
            this.steps = count;
            return this;
        }

        /** Peak learning rate (default {@value LayerRecovery#DEFAULT_LEARNING_RATE}). */
        public Builder learningRate(double lr) {
            this.learningRate = lr;
            return this;
        }

        public Builder batchRows(int rows) {
            this.batchRows = rows;
            return this;
        }

        /** Seed of the minibatch order (layer i uses seed + i) and of the random allocation strategy. */
        public Builder seed(long s) {
            this.seed = s;
            return this;
        }

        /** Receives a line per stage and per recovered layer. */
        public Builder progress(Consumer<String> sink) {
            this.progress = Objects.requireNonNull(sink, "progress");
            return this;
        }

        public ModelRecovery build() {
            final String op = "ModelRecovery.build";
            if (pruning == null || adapter == null || calibration == null || heldOut == null) {
                throw new IllegalArgumentException(op + ": pruning, adapter, calibration and held-out sentences are all required");
            }
            if (calibration.isEmpty() || heldOut.isEmpty()) {
                throw new IllegalArgumentException(op + ": " + calibration.size() + " calibration and " + heldOut.size()
                        + " held-out sentences; both need at least one");
            }
            if (calibrationRows < 1 || heldOutRows < 1) {
                throw new IllegalArgumentException(op + ": rows per layer must be ≥ 1, got " + calibrationRows
                        + " calibration and " + heldOutRows + " held-out");
            }
            if (steps < 1) {
                throw new InvalidHyperparameterException(op + ": steps must be ≥ 1, got " + steps);
            }
            if (batchRows < 1) {
                throw new InvalidHyperparameterException(op + ": batch rows must be ≥ 1, got " + batchRows);
            }
            // the optimizer's own checks (learning rate > 0 and finite), before any work
            AdamWConfig.builder().learningRate(learningRate).schedule(LearningRateSchedule.warmupCosine(steps / 20, steps))
                    .build();
            if (adapter.init() == InnerInit.SIGMA) {
                throw new IllegalArgumentException(op + ": recovery starts from W_base with B' = 0: the inner init must be "
                        + "zero or random-outer, not sigma");
            }
            List<BertWeights.Linear> linears = encoder.weights().linearLayers();
            long minimum = 0;
            for (BertWeights.Linear l : linears) {
                int small = Math.min(l.outFeatures(), l.inFeatures());
                if (pruning.kind() == Pruning.Kind.RANK && pruning.rank() > small) {
                    throw new InvalidRankException(op + ": " + pruning + " keeps rank " + pruning.rank() + ", above min(m, n) = "
                            + small + " of layer " + l.name() + " (" + l.outFeatures() + "×" + l.inFeatures() + ")");
                }
                minimum += 2L * outerRank(l, adapter);
            }
            long b = budget != null ? budget : uniformBudget(encoder.weights(), adapter);
            if (b < minimum) {
                throw new InsufficientBudgetException(op + ": a budget of " + b + " trainable parameters cannot give each of "
                        + linears.size() + " layers r_in = 1; the minimum is " + minimum, b, minimum);
            }
            return new ModelRecovery(this, b);
        }
    }
}
