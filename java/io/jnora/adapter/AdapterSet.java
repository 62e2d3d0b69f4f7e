package io.jnora.adapter;

import io.jnora.JnoraException;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.ShapeMismatchException;
import io.jnora.aira.AllocationStrategy;
import io.jnora.aira.CostModel;
import io.jnora.aira.LayerSpec;
import io.jnora.aira.OutlierRatio;
import io.jnora.aira.RankAllocation;
import io.jnora.aira.RankAllocator;
import io.jnora.init.NestedAdapterWeights;
import io.jnora.init.NestedInitializer;
import io.jnora.init.NoraConfig;
import io.jnora.stats.LayerStatistics;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Nested adapters over a model's named linear layers under one budget of trainable parameters
 * (issue 6, SPEC §2.8): each layer's outlier ratio from its weight and activation statistics, inner
 * ranks allocated across layers (cost 2·r per unit of r_in), every layer initialised by the
 * activation-aware SVD on the context's backend, one layer at a time so that only one weight is on
 * the device at once. Layers are built on the device when first used and can be released.
 *
 * <p>Thread safety: not thread-safe; use one set per context and thread (the layers it was loaded from may be shared).
 */
public final class AdapterSet implements AutoCloseable {
    private final NoraContext context;
    private final Map<String, float[]> weights;
    private final Map<String, AdapterLayer> layers;
    private final RankAllocation allocation;
    private final Map<String, NestedLinear> resident = new LinkedHashMap<>();

    private AdapterSet(NoraContext context, Map<String, float[]> weights, Map<String, AdapterLayer> layers,
            RankAllocation allocation) {
        this.context = context;
        this.weights = weights;
        this.layers = layers;
        this.allocation = allocation;
    }

    public static Builder builder(NoraContext context) {
        return new Builder(context);
    }

    /** Loads an adapter set from one file (SPEC §5) over the original weights of its layers. */
    public static AdapterSet load(NoraContext context, Path file, Map<String, float[]> originalWeights) {
        Map<String, AdapterLayer> read = NestedAdapterFile.read(file);
        Map<String, float[]> weights = new LinkedHashMap<>();
        for (AdapterLayer l : read.values()) {
            float[] w = originalWeights.get(l.name());
            if (w == null) {
                throw new JnoraException("AdapterSet.load: " + file + " has layer '" + l.name()
                        + "' but no weight was given for it (weights: " + originalWeights.keySet() + ")");
            }
            l.baseWeight(w);  // checks the shape
            weights.put(l.name(), w);
        }
        return new AdapterSet(context, weights, read, null);
    }

    /** The layers in depth order. */
    public List<String> names() {
        return List.copyOf(layers.keySet());
    }

    public AdapterLayer layer(String name) {
        AdapterLayer l = layers.get(name);
        if (l == null) {
            throw new JnoraException("AdapterSet: no layer '" + name + "' (layers: " + layers.keySet() + ")");
        }
        return l;
    }

    /** The allocation that chose the inner ranks (null for a set loaded from a file). */
    public RankAllocation allocation() {
        return allocation;
    }

    /** Trainable parameters of the whole set: Σ 2·r·r_in. */
    public long trainableParameters() {
        return layers.values().stream().mapToLong(l -> 2L * l.outerRank() * l.innerRank()).sum();
    }

    /** The layer on the device (built on first use and kept until released). */
    public NestedLinear linear(String name) {
        AdapterLayer l = layer(name);
        return resident.computeIfAbsent(name, k -> l.build(context, weights.get(name)));
    }

    /** Y for rows X through the named layer. */
    public Matrix forward(String name, Matrix x) {
        return linear(name).forward(x);
    }

    /** Frees a layer's device copy, keeping its current inner factors on the host. */
    public void release(String name) {
        if (resident.containsKey(name)) {
            syncFromDevice();
            resident.remove(name).close();
        }
    }

    /** Writes every layer (SPEC §5); inner factors changed on the device (by training) are taken first. */
    public void save(Path file) {
        syncFromDevice();
        NestedAdapterFile.write(file, List.copyOf(layers.values()));
    }

    /** Takes the current inner factors of the layers on the device into the host factors. */
    private void syncFromDevice() {
        for (var e : resident.entrySet()) {
            NestedLinear device = e.getValue();
            layers.put(e.getKey(), layers.get(e.getKey()).withInner(device.innerA().toArray(), device.innerB().toArray()));
        }
    }

    /**
     * Exports the set as one PEFT LoRA adapter (SPEC §2.7): each layer a rank-r_in module (2·r_in
     * for a SIGMA residual), ranks and alphas that differ across layers in rank_pattern/alpha_pattern.
     * Inner factors changed on the device are taken first.
     */
    public void exportPeft(Path dir) {
        syncFromDevice();
        io.jnora.peft.PeftAdapter.export(dir, List.copyOf(layers.values()), "");
    }

    @Override
    public void close() {
        for (String name : List.copyOf(resident.keySet())) {
            release(name);
        }
    }

    public static final class Builder {
        private final NoraContext context;
        private final Map<String, float[]> weights = new LinkedHashMap<>();
        private final Map<String, int[]> shapes = new LinkedHashMap<>();
        private LayerStatistics statistics;
        private NoraConfig config;
        private long budget = -1;
        private AllocationStrategy strategy = AllocationStrategy.OUTLIER_DRIVEN;
        private long seed = 24301;
        private int minInnerRank = 1;
        private int maxInnerRank = Integer.MAX_VALUE;
        private double threshold = OutlierRatio.DEFAULT_THRESHOLD;
        private Consumer<String> progress = s -> { };

        private Builder(NoraContext context) {
            this.context = context;
        }

        /** A layer's original weight (m×n), in depth order. */
        public Builder layer(String name, float[] weight, int m, int n) {
            if (weights.containsKey(name)) {
                throw new IllegalArgumentException("AdapterSet: layer '" + name + "' added twice");
            }
            if (weight.length != (long) m * n) {
                throw new ShapeMismatchException("AdapterSet: layer '" + name + "' weight holds " + weight.length
                        + " values, expected " + m + "×" + n);
            }
            weights.put(name, weight);
            shapes.put(name, new int[] {m, n});
            return this;
        }

        /** Calibration statistics under the layers' names (with the covariance for WHITEN). */
        public Builder statistics(LayerStatistics stats) {
            this.statistics = stats;
            return this;
        }

        /** The per-layer configuration: outer rank, scale mode, init, rule; its inner rank is replaced per layer. */
        public Builder config(NoraConfig cfg) {
            this.config = cfg;
            return this;
        }

        /** The budget of trainable parameters Σ 2·r·r_in; without one, every layer gets the config's r_in. */
        public Builder budget(long trainableParameters) {
            this.budget = trainableParameters;
            return this;
        }

        public Builder strategy(AllocationStrategy s) {
            this.strategy = s;
            return this;
        }

        public Builder seed(long s) {
            this.seed = s;
            return this;
        }

        public Builder innerRankRange(int min, int max) {
            this.minInnerRank = min;
            this.maxInnerRank = max;
            return this;
        }

        /** τ of the outlier ratio (default 5). */
        public Builder outlierThreshold(double tau) {
            this.threshold = tau;
            return this;
        }

        /** Receives one line per finished step of long work. */
        public Builder progress(Consumer<String> sink) {
            this.progress = sink;
            return this;
        }

        public AdapterSet build() {
            if (weights.isEmpty() || statistics == null || config == null) {
                throw new JnoraException("AdapterSet.build: layers, statistics and a config are all required");
            }
            OutlierRatio ratio = OutlierRatio.withThreshold(threshold);
            List<LayerSpec> specs = new ArrayList<>();
            for (var e : weights.entrySet()) {
                int[] s = shapes.get(e.getKey());
                int outer = Math.min(config.outerRank(), Math.min(s[0], s[1]));
                double o = ratio.of(e.getValue(), s[0], s[1], statistics.get(e.getKey()));
                specs.add(LayerSpec.nested(e.getKey(), s[0], s[1], o, outer));
            }
            RankAllocation allocation = null;
            int[] innerRanks = new int[specs.size()];
            if (budget >= 0) {
                allocation = RankAllocator.builder().strategy(strategy).seed(seed).minRank(minInnerRank)
                        .maxRank(Math.min(maxInnerRank, config.outerRank())).costModel(CostModel.NESTED).build()
                        .allocate(specs, budget);
                innerRanks = allocation.rankArray();
                progress.accept("allocated inner ranks " + allocation.byLayer() + " (" + allocation.cost() + " of "
                        + budget + " parameters)");
            } else {
                for (int i = 0; i < innerRanks.length; i++) {
                    innerRanks[i] = Math.min(config.innerRank(), specs.get(i).outerRank().getAsInt());
                }
            }
            Map<String, AdapterLayer> layers = new LinkedHashMap<>();
            int i = 0;
            for (LayerSpec spec : specs) {
                int outer = spec.outerRank().getAsInt();
                NoraConfig cfg = config.toBuilder().outerRank(outer).innerRank(innerRanks[i]).build();
                NestedAdapterWeights w = NestedInitializer.initialize(context, weights.get(spec.name()), spec.m(), spec.n(),
                        statistics.get(spec.name()), cfg);
                layers.put(spec.name(), AdapterLayer.of(spec.name(), w));
                progress.accept(String.format("init %d/%d %s: %d×%d, r = %d, r_in = %d, O = %.4f", ++i, specs.size(),
                        spec.name(), spec.m(), spec.n(), outer, innerRanks[i - 1], spec.outlierRatio()));
            }
            return new AdapterSet(context, new LinkedHashMap<>(weights), layers, allocation);
        }
    }
}
