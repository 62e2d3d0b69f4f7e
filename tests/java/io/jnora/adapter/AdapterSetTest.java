package io.jnora.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.Backend;
import io.jnora.JnoraException;
import io.jnora.Matrix;
import io.jnora.NoraContext;
import io.jnora.aira.AllocationStrategy;
import io.jnora.init.NoraConfig;
import io.jnora.init.ScaleMode;
import io.jnora.stats.LayerStatistics;
import io.jnora.synth.SyntheticLayer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A model-level set of nested adapters under one budget (issue 6): allocation, init, file round trip. */
class AdapterSetTest {
    @TempDir
    Path dir;

    private static final long SEED = ThreadLocalRandom.current().nextLong();

    /** Twelve layers of four shapes, like three transformer blocks (q, k, v, o, up, down; scaled down). */
    private static final int[][] SHAPES = {{32, 32}, {32, 32}, {48, 32}, {32, 48}};

    private record Model(Map<String, float[]> weights, Map<String, int[]> shapes, LayerStatistics stats,
            Map<String, SyntheticLayer> layers) {}

    private static Model model(int blocks) {
        Map<String, float[]> weights = new LinkedHashMap<>();
        Map<String, int[]> shapes = new LinkedHashMap<>();
        Map<String, SyntheticLayer> layers = new LinkedHashMap<>();
        LayerStatistics stats = new LayerStatistics();
        long s = SEED;
        for (int b = 0; b < blocks; b++) {
            for (int k = 0; k < SHAPES.length; k++) {
                String name = "blocks." + b + ".proj" + k;
                SyntheticLayer l = SyntheticLayer.random(s++, SHAPES[k][0], SHAPES[k][1], 8, 2, 1f);
                weights.put(name, l.baseWeight);
                shapes.put(name, SHAPES[k]);
                layers.put(name, l);
                stats.forLayer(name, l.n, false).accumulate(l.inputs(s++, 64), 64);
            }
        }
        return new Model(weights, shapes, stats, layers);
    }

    private static AdapterSet build(NoraContext ctx, Model model, long budget) {
        AdapterSet.Builder b = AdapterSet.builder(ctx).statistics(model.stats()).budget(budget)
                .strategy(AllocationStrategy.OUTLIER_DRIVEN).innerRankRange(1, 8)
                .config(NoraConfig.builder().outerRank(8).innerRank(2).scaleMode(ScaleMode.rms()).seed(SEED).build());
        model.weights().forEach((name, w) -> b.layer(name, w, model.shapes().get(name)[0], model.shapes().get(name)[1]));
        return b.build();
    }

    @Test
    void theBudgetIsRespectedAndEveryLayerIsInitialised() {
        Model model = model(3);
        try (NoraContext ctx = NoraContext.create(Backend.CPU); AdapterSet set = build(ctx, model, 600)) {
            assertEquals(12, set.names().size());
            assertTrue(set.trainableParameters() <= 600, "Σ 2·r·r_in = " + set.trainableParameters() + " (seed " + SEED + ")");
            assertEquals(set.trainableParameters(), set.allocation().cost());
            for (String name : set.names()) {
                assertEquals(set.allocation().byLayer().get(name), set.layer(name).innerRank(), name);
                assertEquals(8, set.layer(name).outerRank());
            }
        }
    }

    @Test
    void aSavedSetLoadsAndGivesIdenticalOutputs() {
        Model model = model(3);
        Path file = dir.resolve("set.safetensors");
        List<float[]> before = new ArrayList<>();
        try (NoraContext ctx = NoraContext.create(Backend.CPU); AdapterSet set = build(ctx, model, 500)) {
            java.util.SplittableRandom rng = new java.util.SplittableRandom(SEED);
            int k = 0;
            for (String name : set.names()) {
                // Train-like change on the device: a non-zero B' so that each adapter term shows.
                float[] innerB = new float[set.layer(name).outerRank() * set.layer(name).innerRank()];
                for (int j = 0; j < innerB.length; j++) {
                    innerB[j] = (float) (rng.nextDouble() - 0.5);
                }
                set.linear(name).innerB().copyFrom(innerB);
                if (k++ % 2 == 0) {
                    set.release(name);  // half of them go back to the host before saving
                }
            }
            set.save(file);
            for (String name : set.names()) {
                SyntheticLayer l = model.layers().get(name);
                try (Matrix x = ctx.matrix(5, l.n, l.inputs(SEED, 5)); Matrix y = set.forward(name, x)) {
                    before.add(y.toArray());
                }
            }
        }
        try (NoraContext ctx = NoraContext.create(Backend.CPU); AdapterSet loaded = AdapterSet.load(ctx, file, model.weights())) {
            int i = 0;
            for (String name : loaded.names()) {
                SyntheticLayer l = model.layers().get(name);
                try (Matrix x = ctx.matrix(5, l.n, l.inputs(SEED, 5)); Matrix y = loaded.forward(name, x);
                        Matrix base = ctx.zeros(5, l.m)) {
                    assertArrayEquals(before.get(i++), y.toArray(), name);
                    loaded.linear(name).forwardBase(x, base);
                    assertTrue(!java.util.Arrays.equals(base.toArray(), y.toArray()),
                            name + ": the trained B' must have been saved (the output is not the base's)");
                }
            }
        }
    }

    /** Issue 6: a set of 12 layers of different shapes exports to PEFT and imports with the same outputs. */
    @Test
    void theSetRoundTripsThroughPeftWithTheSameOutputs() {
        for (io.jnora.init.InnerInit init : new io.jnora.init.InnerInit[] {io.jnora.init.InnerInit.ZERO,
                io.jnora.init.InnerInit.SIGMA}) {
            Model model = model(3);
            Path peft = dir.resolve("peft-" + init);
            try (NoraContext ctx = NoraContext.create(Backend.CPU)) {
                AdapterSet.Builder b = AdapterSet.builder(ctx).statistics(model.stats()).budget(500).innerRankRange(1, 8)
                        .config(NoraConfig.builder().outerRank(8).innerRank(2).init(init).seed(SEED).build());
                model.weights().forEach((name, w) -> b.layer(name, w, model.shapes().get(name)[0], model.shapes().get(name)[1]));
                try (AdapterSet set = b.build()) {
                    java.util.SplittableRandom rng = new java.util.SplittableRandom(SEED);
                    for (String name : set.names()) {
                        float[] innerB = set.linear(name).innerB().toArray();
                        for (int j = 0; j < innerB.length; j++) {
                            innerB[j] += (float) (rng.nextDouble() - 0.5);  // "trained": the adapter term shows
                        }
                        set.linear(name).innerB().copyFrom(innerB);
                    }
                    set.exportPeft(peft);
                    var imported = io.jnora.peft.PeftAdapter.read(peft);
                    assertEquals(set.names(), List.copyOf(imported.keySet()));
                    for (String name : set.names()) {
                        SyntheticLayer l = model.layers().get(name);
                        try (Matrix x = ctx.matrix(6, l.n, l.inputs(SEED + 1, 6)); Matrix y = set.forward(name, x);
                                var lora = imported.get(name).build(ctx, model.weights().get(name));
                                Matrix yl = lora.forward(x)) {
                            double err = io.jnora.reference.Float64Reference.relativeFrobeniusError(yl.toArray(),
                                    io.jnora.reference.Float64Reference.toDouble(y.toArray()));
                            assertTrue(err <= 1e-5, init + " " + name + ": PEFT import vs nested set: " + err);
                        }
                    }
                }
            }
        }
    }

    @Test
    void anUnknownLayerNameIsAClearError() {
        Model model = model(1);
        try (NoraContext ctx = NoraContext.create(Backend.CPU); AdapterSet set = build(ctx, model, 100)) {
            JnoraException e = assertThrows(JnoraException.class, () -> set.linear("blocks.9.proj0"));
            assertTrue(e.getMessage().contains("blocks.9.proj0") && e.getMessage().contains("blocks.0.proj0"), e.getMessage());
        }
    }
}
