package io.jnora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.AdapterFormatException;
import io.jnora.Backend;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.adapter.AdapterLayer;
import io.jnora.adapter.NestedAdapterFile;
import io.jnora.io.SafetensorsFile;
import io.jnora.io.SafetensorsWriter;
import io.jnora.synth.SyntheticLayer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Saving and resuming the optimiser state (SPEC §2.10): N steps, save, load, M steps = N + M steps, to the bit. */
class TrainerStateTest {
    private static final long SEED = ThreadLocalRandom.current().nextLong();
    private static final int ROWS = 7;

    @TempDir
    Path dir;

    private final SyntheticLayer first = SyntheticLayer.random(SEED, 19, 23, 8, 3, 0.7f);
    private final SyntheticLayer second = SyntheticLayer.random(SEED + 1, 13, 11, 6, 6, 1.5f);

    /** Warm-up, cosine, clipping and dropout: everything whose state a resume must carry. */
    private AdamWConfig config(int totalSteps) {
        return AdamWConfig.builder().learningRate(2e-2).weightDecay(0.02).maxGradNorm(0.5)
                .schedule(LearningRateSchedule.warmupCosine(3, totalSteps)).build();
    }

    private Trainer trainer(NoraContext ctx, NestedLinear a, NestedLinear b, int totalSteps) {
        return Trainer.builder(ctx).layer("attn.q", a).layer("attn.v", b).optimizer(config(totalSteps)).dropout(0.2)
                .seed(SEED ^ 0x5a5a).build();
    }

    /** Step t's data depends only on t: a regression batch for the first layer, dY for the second. */
    private void step(NoraContext ctx, Trainer trainer, NestedLinear a, NestedLinear b, int t) {
        try (Matrix x1 = ctx.matrix(ROWS, first.n, first.inputs(SEED + 100 * t, ROWS));
                Matrix target = ctx.matrix(ROWS, first.m, first.upstream(SEED + 100 * t + 1, ROWS));
                Matrix x2 = ctx.matrix(ROWS, second.n, second.inputs(SEED + 100 * t + 2, ROWS));
                Matrix dy = ctx.matrix(ROWS, second.m, second.upstream(SEED + 100 * t + 3, ROWS))) {
            StepReport r = trainer.step(List.of(TrainingBatch.regression(a, x1, target), TrainingBatch.upstream(b, x2, dy)));
            assertEquals(t, r.step());
        }
    }

    private static AdapterLayer adapterLayer(String name, SyntheticLayer s, NestedLinear trained) {
        return new AdapterLayer(name, s.m, s.n, s.r, s.rIn, s.rIn, "lora", s.scale, "none", "zero", "b-sigma", "exact",
                s.outerA, s.outerB, trained.innerA().toArray(), trained.innerB().toArray(), null, null);
    }

    @Test
    void stepsThenSaveLoadAndMoreStepsEqualOneUnbrokenRunBitForBit() {
        int n = 6;
        int m = 7;
        float[][] unbroken;
        try (NoraContext ctx = NoraContext.create(Backend.CPU); NestedLinear a = first.build(ctx);
                NestedLinear b = second.build(ctx); Trainer trainer = trainer(ctx, a, b, n + m)) {
            for (int t = 1; t <= n + m; t++) {
                step(ctx, trainer, a, b, t);
            }
            unbroken = new float[][] {a.innerA().toArray(), a.innerB().toArray(), b.innerA().toArray(), b.innerB().toArray()};
        }

        Path adapter = dir.resolve("adapter.safetensors");
        Path state = dir.resolve("adapter.optimizer.safetensors");
        try (NoraContext ctx = NoraContext.create(Backend.CPU); NestedLinear a = first.build(ctx);
                NestedLinear b = second.build(ctx); Trainer trainer = trainer(ctx, a, b, n + m)) {
            for (int t = 1; t <= n; t++) {
                step(ctx, trainer, a, b, t);
            }
            NestedAdapterFile.write(adapter, List.of(adapterLayer("attn.q", first, a), adapterLayer("attn.v", second, b)));
            trainer.saveState(state);
        }

        TrainerState saved = TrainerState.read(state);
        assertEquals(n, saved.step());
        assertEquals(config(n + m), saved.optimizer());
        assertEquals(List.of("attn.q", "attn.v"), saved.layers().stream().map(TrainerState.LayerMoments::name).toList());

        Map<String, AdapterLayer> layers = NestedAdapterFile.read(adapter);
        try (NoraContext ctx = NoraContext.create(Backend.CPU);
                NestedLinear a = layers.get("attn.q").build(ctx, first.baseWeight);
                NestedLinear b = layers.get("attn.v").build(ctx, second.baseWeight);
                Trainer trainer = trainer(ctx, a, b, n + m)) {
            trainer.loadState(state);
            assertEquals(n, trainer.stepsTaken());
            for (int t = n + 1; t <= n + m; t++) {
                step(ctx, trainer, a, b, t);
            }
            String why = " after resuming at step " + n + " (seed " + SEED + ")";
            assertArrayEquals(unbroken[0], a.innerA().toArray(), "attn.q A'" + why);
            assertArrayEquals(unbroken[1], a.innerB().toArray(), "attn.q B'" + why);
            assertArrayEquals(unbroken[2], b.innerA().toArray(), "attn.v A'" + why);
            assertArrayEquals(unbroken[3], b.innerB().toArray(), "attn.v B'" + why);
        }
    }

    @Test
    void aStateFromOtherSettingsOrLayersIsRefusedNamingTheField() {
        Path state = dir.resolve("state.safetensors");
        try (NoraContext ctx = NoraContext.create(Backend.CPU); NestedLinear a = first.build(ctx);
                NestedLinear b = second.build(ctx)) {
            try (Trainer trainer = trainer(ctx, a, b, 10)) {
                step(ctx, trainer, a, b, 1);
                trainer.saveState(state);
            }
            try (Trainer otherSchedule = trainer(ctx, a, b, 11)) {
                AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> otherSchedule.loadState(state));
                assertTrue(e.getMessage().contains("cosine to step 10") && e.getMessage().contains("cosine to step 11"),
                        e.getMessage());
                assertEquals(0, otherSchedule.stepsTaken(), "a refused load changes nothing");
            }
            try (Trainer otherDropout = Trainer.builder(ctx).layer("attn.q", a).layer("attn.v", b).optimizer(config(10))
                    .dropout(0.1).seed(SEED ^ 0x5a5a).build()) {
                AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> otherDropout.loadState(state));
                assertTrue(e.getMessage().contains("dropout 0.2"), e.getMessage());
            }
            try (Trainer renamed = Trainer.builder(ctx).layer("attn.k", a).layer("attn.v", b).optimizer(config(10))
                    .dropout(0.2).seed(SEED ^ 0x5a5a).build()) {
                AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> renamed.loadState(state));
                assertTrue(e.getMessage().contains("[attn.q, attn.v]") && e.getMessage().contains("attn.k"), e.getMessage());
            }
        }
    }

    @Test
    void aStateFileWithAMissingOrNonFiniteMomentIsRefused() {
        Path state = dir.resolve("state.safetensors");
        try (NoraContext ctx = NoraContext.create(Backend.CPU); NestedLinear a = first.build(ctx);
                NestedLinear b = second.build(ctx); Trainer trainer = trainer(ctx, a, b, 10)) {
            step(ctx, trainer, a, b, 1);
            trainer.saveState(state);
        }
        // Rewrite the file with one moment missing, then with one poisoned.
        List<String> names;
        String metadata;
        List<float[]> values = new ArrayList<>();
        List<long[]> shapes = new ArrayList<>();
        try (SafetensorsFile f = SafetensorsFile.open(state)) {
            names = f.names();
            metadata = f.metadata().get(TrainerState.METADATA_KEY);
            for (String name : names) {
                values.add(f.readFloats(name));
                shapes.add(f.tensor(name).shape());
            }
        }
        Path missing = dir.resolve("missing.safetensors");
        Path poisoned = dir.resolve("poisoned.safetensors");
        SafetensorsWriter w1 = new SafetensorsWriter().metadata(TrainerState.METADATA_KEY, metadata);
        SafetensorsWriter w2 = new SafetensorsWriter().metadata(TrainerState.METADATA_KEY, metadata);
        String dropped = "attn.v.nora.B_inner.exp_avg_sq";
        for (int i = 0; i < names.size(); i++) {
            if (!names.get(i).equals(dropped)) {
                w1.add(names.get(i), values.get(i), shapes.get(i));
            }
            float[] v = values.get(i).clone();
            if (names.get(i).equals("attn.q.nora.A_inner.exp_avg")) {
                v[4] = Float.NaN;
            }
            w2.add(names.get(i), v, shapes.get(i));
        }
        w1.write(missing);
        w2.write(poisoned);
        AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> TrainerState.read(missing));
        assertTrue(e.getMessage().contains(dropped) && e.getMessage().contains("missing"), e.getMessage());
        e = assertThrows(AdapterFormatException.class, () -> TrainerState.read(poisoned));
        assertTrue(e.getMessage().contains("attn.q.nora.A_inner.exp_avg") && e.getMessage().contains("NaN"), e.getMessage());
    }
}
