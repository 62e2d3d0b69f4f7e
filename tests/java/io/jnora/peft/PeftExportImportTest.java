package io.jnora.peft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jnora.Backend;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.adapter.AdapterLayer;
import io.jnora.init.InnerInit;
import io.jnora.init.NestedInitializer;
import io.jnora.init.NoraConfig;
import io.jnora.init.ScalingRule;
import io.jnora.io.Dtype;
import io.jnora.io.SafetensorsFile;
import io.jnora.reference.Float64Reference;
import io.jnora.stats.ActivationStats;
import io.jnora.synth.SyntheticLayer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Export as a plain LoRA (SPEC §2.7) and import back: the imported LoRA on the original weight
 * gives the nested adapter's outputs to float rounding. Tolerance 1e-5 relative (Frobenius): both
 * sides are float32 forwards, the export's factor products and W_res are rounded once each, and the
 * inputs carry 20–100× outlier channels.
 */
class PeftExportImportTest {
    private static final double TOLERANCE = 1e-5;

    @TempDir
    Path dir;

    /** One layer: W and inputs from a synthetic layer, outer factors by activation-aware SVD, trained-looking inner factors. */
    private record Case(String module, SyntheticLayer data, AdapterLayer nested) {}

    private static Case layer(String module, long seed, int m, int n, int r, int rIn, InnerInit init, ScalingRule rule,
            double alpha) {
        SyntheticLayer s = SyntheticLayer.random(seed, m, n, r, rIn, 1f);
        ActivationStats stats = ActivationStats.create(n, false).accumulate(s.inputs(seed + 1, 64), 64);
        NoraConfig cfg = NoraConfig.builder().outerRank(r).innerRank(rIn).init(init).rule(rule).alpha(alpha).build();
        AdapterLayer l = AdapterLayer.of(module, NestedInitializer.initialize(s.baseWeight, m, n, stats, cfg));
        // As if trained: B' non-zero (ZERO starts at B' = 0, which would make the test unable to fail) and A' moved.
        SplittableRandom rng = new SplittableRandom(seed + 2);
        float[] innerA = l.innerA().clone();
        float[] innerB = new float[r * rIn];
        for (int i = 0; i < innerA.length; i++) {
            innerA[i] += (float) (0.3 * (rng.nextDouble() - 0.5));
        }
        for (int i = 0; i < innerB.length; i++) {
            innerB[i] = l.innerB()[i] + (float) (0.5 * (rng.nextDouble() - 0.5));
        }
        AdapterLayer trained = new AdapterLayer(l.name(), m, n, r, rIn, l.alpha(), l.rule(), l.scale(), l.scaleMode(),
                l.init(), l.split(), l.svd(), l.outerA(), l.outerB(), innerA, innerB, l.innerA0(), l.innerB0());
        return new Case(module, s, trained);
    }

    private static List<Case> model() {
        return List.of(
                layer("model.layers.0.self_attn.q_proj", 1, 40, 36, 8, 3, InnerInit.ZERO, ScalingRule.LORA, 6),     // s = 2
                layer("model.layers.0.self_attn.v_proj", 2, 24, 36, 6, 2, InnerInit.ZERO, ScalingRule.RORA, 4),     // s = 4/√2
                layer("model.layers.0.mlp.up_proj", 3, 50, 36, 8, 3, InnerInit.SIGMA, ScalingRule.LORA, 3),         // s = 1, rank 6
                layer("model.layers.1.self_attn.q_proj", 4, 40, 36, 8, 3, InnerInit.ZERO, ScalingRule.LORA, 6));    // s = 2
    }

    private static float[] run(NestedLinear layer, float[] x, int rows, NoraContext ctx) {
        try (Matrix xm = ctx.matrix(rows, layer.inFeatures(), x); Matrix y = layer.forward(xm)) {
            return y.toArray();
        }
    }

    @Test
    void theImportedLoraOnTheOriginalWeightComputesWhatTheNestedLayerComputes() {
        List<Case> cases = model();
        PeftAdapter.export(dir.resolve("out"), cases.stream().map(Case::nested).toList(), "");
        Map<String, LoraLayer> imported = PeftAdapter.read(dir.resolve("out"));
        assertEquals(cases.stream().map(Case::module).toList(), List.copyOf(imported.keySet()));
        try (NoraContext ctx = NoraContext.create(Backend.CPU)) {
            for (Case c : cases) {
                SyntheticLayer s = c.data();
                float[] x = s.inputs(99, 33);
                try (NestedLinear nested = c.nested().build(ctx, s.baseWeight);  // on W_res for SIGMA
                        NestedLinear lora = imported.get(c.module()).build(ctx, s.baseWeight)) {  // always on W
                    float[] want = run(nested, x, 33, ctx);
                    float[] got = run(lora, x, 33, ctx);
                    double[] wantD = Float64Reference.toDouble(want);
                    assertTrue(Float64Reference.relativeFrobeniusError(got, wantD) <= TOLERANCE,
                            c.module() + ": " + Float64Reference.relativeFrobeniusError(got, wantD));
                    double[] base = Float64Reference.multiplyTransposed(Float64Reference.toDouble(x), 33, s.n,
                            Float64Reference.toDouble(s.baseWeight), s.m);
                    assertTrue(Float64Reference.relativeFrobeniusError(want, base) > 1e-2,
                            c.module() + ": the adapter term must be large enough for the comparison to mean something");
                }
            }
        }
    }

    @Test
    void ranksAndScalesDifferingFromTheMostCommonGoToRankAndAlphaPatterns() throws Exception {
        List<Case> cases = model();
        List<LoraLayer> written = PeftAdapter.export(dir.resolve("out"), cases.stream().map(Case::nested).toList(), "");
        JsonNode cfg = new ObjectMapper().readTree(dir.resolve("out/adapter_config.json").toFile());
        assertEquals("LORA", cfg.get("peft_type").asText());
        assertEquals(3, cfg.get("r").asInt(), "r_in 3 is the most common rank");
        assertEquals(6, cfg.get("lora_alpha").asInt(), "s·r = 2·3");
        assertFalse(cfg.get("use_rslora").asBoolean());
        assertTrue(cfg.get("init_lora_weights").asBoolean());
        assertEquals("none", cfg.get("bias").asText());
        assertFalse(cfg.get("use_dora").asBoolean());
        assertFalse(cfg.get("fan_in_fan_out").asBoolean());
        assertTrue(cfg.get("modules_to_save").isNull());
        assertEquals(List.of("model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj", "model.layers.0.mlp.up_proj",
                "model.layers.1.self_attn.q_proj"), Stream.of(cfg.get("target_modules")).flatMap(t -> {
                    List<String> names = new ArrayList<>();
                    t.forEach(e -> names.add(e.asText()));
                    return names.stream();
                }).toList());
        assertEquals(2, cfg.get("rank_pattern").get("model.layers.0.self_attn.v_proj").asInt());
        assertEquals(6, cfg.get("rank_pattern").get("model.layers.0.mlp.up_proj").asInt(), "2·r_in for the residual base");
        assertEquals(2, cfg.get("rank_pattern").size());
        float sv = cases.get(1).nested().scale();
        assertEquals((double) sv * 2, cfg.get("alpha_pattern").get("model.layers.0.self_attn.v_proj").asDouble());
        assertEquals(1, cfg.get("alpha_pattern").size(), "up_proj: s·6 = 6, the top-level lora_alpha");

        Map<String, LoraLayer> imported = PeftAdapter.read(dir.resolve("out"));
        for (LoraLayer w : written) {
            LoraLayer r = imported.get(w.name());
            assertEquals(w.rank(), r.rank(), w.name());
            assertEquals(w.scale(), r.scale(), w.name() + ": PEFT's lora_alpha / r is exactly s");
        }
        assertEquals(sv, imported.get("model.layers.0.self_attn.v_proj").scale());
    }

    @Test
    void theFilesHavePeftsTensorNamesShapesAndF32() {
        Case c = model().get(2);  // SIGMA, 50×36, r_in 3 → rank 6
        PeftAdapter.export(dir.resolve("out"), List.of(c.nested()), "prefix.");
        try (SafetensorsFile st = SafetensorsFile.open(dir.resolve("out/adapter_model.safetensors"))) {
            String p = "base_model.model.prefix.model.layers.0.mlp.up_proj.";
            assertEquals(List.of(p + "lora_A.weight", p + "lora_B.weight"), st.names().stream().sorted().toList());
            assertEquals(List.of(6L, 36L), List.of(st.tensor(p + "lora_A.weight").shape()[0], st.tensor(p + "lora_A.weight").shape()[1]));
            assertEquals(List.of(50L, 6L), List.of(st.tensor(p + "lora_B.weight").shape()[0], st.tensor(p + "lora_B.weight").shape()[1]));
            assertEquals(Dtype.F32, st.tensor(p + "lora_A.weight").dtype());
            assertEquals("pt", st.metadata().get("format"));
        }
    }

    @Test
    void exportingTwiceIntoTheSameDirectoryReplacesBothFilesAndLeavesNoTemporaries() throws Exception {
        Path out = dir.resolve("out");
        List<Case> cases = model();
        PeftAdapter.export(out, List.of(cases.get(0).nested()), "");
        PeftAdapter.export(out, List.of(cases.get(1).nested()), "");
        try (Stream<Path> files = Files.list(out)) {
            assertEquals(List.of("adapter_config.json", "adapter_model.safetensors"),
                    files.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertEquals(List.of("model.layers.0.self_attn.v_proj"), List.copyOf(PeftAdapter.read(out).keySet()));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of("out"), files.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void aWriteThatCannotSucceedLeavesNothingBehind() throws Exception {
        AdapterLayer l = model().get(0).nested();
        assertThrows(IllegalArgumentException.class,
                () -> PeftAdapter.export(dir.resolve("missing/parent/out"), List.of(l), ""));
        assertThrows(IllegalArgumentException.class, () -> PeftAdapter.export(dir.resolve("out"), List.of(l), "has space "));
        Files.writeString(dir.resolve("file"), "x");
        assertThrows(IllegalArgumentException.class, () -> PeftAdapter.export(dir.resolve("file"), List.of(l), ""));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of("file"), files.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void patternKeysThatWouldCatchAnotherModuleAreRefused() {
        // "a.b" as a PEFT regex also matches "a_b": give them different ranks and the export must refuse.
        List<Case> cases = model();
        AdapterLayer x = cases.get(0).nested();
        AdapterLayer y = cases.get(1).nested();
        AdapterLayer z = cases.get(3).nested();
        List<AdapterLayer> layers = List.of(rename(x, "m.c"), rename(z, "m.d"), rename(y, "a.b"), rename(y, "a_b"));
        // a.b and a_b share rank 2 and scale: no pattern conflict as the values agree
        PeftAdapter.export(dir.resolve("ok"), layers, "");
        List<AdapterLayer> clash = List.of(rename(x, "m.c"), rename(z, "m.d"), rename(y, "a.b"), rename(x, "a_b"),
                rename(z, "m.e"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PeftAdapter.export(dir.resolve("clash"), clash, ""));
        assertTrue(e.getMessage().contains("a.b") && e.getMessage().contains("a_b"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("clash")));
    }

    private static AdapterLayer rename(AdapterLayer l, String name) {
        return new AdapterLayer(name, l.outFeatures(), l.inFeatures(), l.outerRank(), l.innerRank(), l.alpha(), l.rule(),
                l.scale(), l.scaleMode(), l.init(), l.split(), l.svd(), l.outerA(), l.outerB(), l.innerA(), l.innerB(),
                l.innerA0(), l.innerB0());
    }
}
