package io.jnora.peft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.AdapterFormatException;
import io.jnora.Backend;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.ShapeMismatchException;
import io.jnora.adapter.AdapterLayer;
import io.jnora.reference.Float64Reference;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hand-made PEFT adapters (written by {@link PeftFixture}) import and compute, through the nested
 * layer's kernels, what PEFT computes: {@code Y = X Wᵀ + s·(X loraAᵀ) loraBᵀ}, here in float64 by
 * plain loops. Tolerance 1e-5 relative (Frobenius): one float32 forward of small layers whose
 * inputs carry a 60× outlier channel, against float64.
 */
class PeftImportTest {
    private static final double TOLERANCE = 1e-5;

    @TempDir
    Path dir;

    /** Rows of X (rows×n) with channel 1 scaled 60×, the outlier pattern of SPEC §4. */
    private static float[] inputs(int rows, int n, int salt) {
        float[] x = PeftFixture.values(rows * n, salt);
        for (int t = 0; t < rows; t++) {
            x[t * n + Math.min(1, n - 1)] *= 60f;
            x[t * n] += 0.0625f;  // no row is all zero
        }
        return x;
    }

    /** X Wᵀ + s (X Aᵀ) Bᵀ in float64; W is m×n unless {@code wTransposed} (then n×m). */
    private static double[] reference(float[] x, int rows, float[] w, boolean wTransposed, int m, int n, int k,
            double s, float[] a, float[] b) {
        double[] y = new double[rows * m];
        for (int t = 0; t < rows; t++) {
            double[] z = new double[k];
            for (int q = 0; q < k; q++) {
                for (int j = 0; j < n; j++) {
                    z[q] += (double) x[t * n + j] * a[q * n + j];
                }
            }
            for (int i = 0; i < m; i++) {
                double acc = 0;
                for (int j = 0; j < n; j++) {
                    acc += (double) x[t * n + j] * (wTransposed ? w[j * m + i] : w[i * n + j]);
                }
                double delta = 0;
                for (int q = 0; q < k; q++) {
                    delta += z[q] * b[i * k + q];
                }
                y[t * m + i] = acc + s * delta;
            }
        }
        return y;
    }

    private static float[] forward(LoraLayer layer, float[] w, float[] x, int rows) {
        try (NoraContext ctx = NoraContext.create(Backend.CPU); NestedLinear l = layer.build(ctx, w);
                Matrix xm = ctx.matrix(rows, layer.inFeatures(), x); Matrix y = l.forward(xm)) {
            return y.toArray();
        }
    }

    private static final String Q = "model.layers.0.self_attn.q_proj";
    private static final String V = "model.layers.0.self_attn.v_proj";

    @Test
    void rankAndAlphaPatternsGiveEachModuleItsOwnRankAndScale() {
        // q: default r = 2, lora_alpha = 4 → s = 2;  v: rank_pattern 3, alpha_pattern 1.5 → s = 0.5
        int n = 7;
        int m = 5;
        float[] qa = PeftFixture.values(2 * n, 1);
        float[] qb = PeftFixture.values(m * 2, 2);
        float[] va = PeftFixture.values(3 * n, 3);
        float[] vb = PeftFixture.values(m * 3, 4);
        Path adapter = PeftFixture.lora(2, 4).set("rank_pattern", Map.of("v_proj", 3))
                .set("alpha_pattern", Map.of("v_proj", 1.5)).set("target_modules", List.of("q_proj", "v_proj"))
                .module(V, va, 3, n, vb, m).module(Q, qa, 2, n, qb, m).write(dir.resolve("patterns"));

        Map<String, LoraLayer> layers = PeftAdapter.read(adapter);
        assertEquals(List.of(V, Q), List.copyOf(layers.keySet()), "the file's order where target_modules names no path");
        LoraLayer q = layers.get(Q);
        LoraLayer v = layers.get(V);
        assertEquals(2, q.rank());
        assertEquals(2f, q.scale());
        assertEquals(3, v.rank());
        assertEquals(0.5f, v.scale());
        assertArrayEquals(va, v.loraA());
        assertArrayEquals(vb, v.loraB());

        float[] w = PeftFixture.values(m * n, 5);
        float[] x = inputs(9, n, 6);
        assertTrue(Float64Reference.relativeFrobeniusError(forward(q, w, x, 9),
                reference(x, 9, w, false, m, n, 2, 2.0, qa, qb)) <= TOLERANCE);
        assertTrue(Float64Reference.relativeFrobeniusError(forward(v, w, x, 9),
                reference(x, 9, w, false, m, n, 3, 0.5, va, vb)) <= TOLERANCE);
    }

    @Test
    void rsLoraScalesByAlphaOverTheSquareRootOfTheRank() {
        int n = 6;
        int m = 8;
        float[] a = PeftFixture.values(4 * n, 7);
        float[] b = PeftFixture.values(m * 4, 8);
        Path adapter = PeftFixture.lora(4, 6).set("use_rslora", true).module("encoder.proj", a, 4, n, b, m)
                .write(dir.resolve("rslora"));
        LoraLayer l = PeftAdapter.read(adapter).get("encoder.proj");
        assertEquals(3f, l.scale(), "6 / √4");
        assertTrue(l.rsLora());
        float[] w = PeftFixture.values(m * n, 9);
        float[] x = inputs(17, n, 10);
        assertTrue(Float64Reference.relativeFrobeniusError(forward(l, w, x, 17),
                reference(x, 17, w, false, m, n, 4, 3.0, a, b)) <= TOLERANCE);
    }

    @Test
    void fanInFanOutMeansTheBaseWeightIsStoredInByOutAndTheFactorsKeepTheirLayout() {
        int n = 5;  // in
        int m = 9;  // out
        float[] a = PeftFixture.values(2 * n, 11);
        float[] b = PeftFixture.values(m * 2, 12);
        Path adapter = PeftFixture.lora(2, 2).set("fan_in_fan_out", true).module("transformer.h.0.attn.c_attn", a, 2, n, b, m)
                .write(dir.resolve("conv1d"));
        LoraLayer l = PeftAdapter.read(adapter).get("transformer.h.0.attn.c_attn");
        assertTrue(l.fanInFanOut());
        assertEquals(n, l.inFeatures());
        assertEquals(m, l.outFeatures());
        float[] conv1dWeight = PeftFixture.values(n * m, 13);  // in × out, as transformers' Conv1D stores it
        float[] x = inputs(3, n, 14);
        assertTrue(Float64Reference.relativeFrobeniusError(forward(l, conv1dWeight, x, 3),
                reference(x, 3, conv1dWeight, true, m, n, 2, 1.0, a, b)) <= TOLERANCE);
        try (NoraContext ctx = NoraContext.create(Backend.CPU)) {
            assertThrows(ShapeMismatchException.class, () -> l.build(ctx, conv1dWeight, m, n),
                    "out × in is the wrong layout for a fan_in_fan_out module");
        }
    }

    @Test
    void targetModulesListingFullPathsOrdersTheModules() {
        Path adapter = PeftFixture.lora(1, 1).set("target_modules", List.of("b.y", "a.x"))
                .module("a.x", PeftFixture.values(3, 1), 1, 3, PeftFixture.values(2, 2), 2)
                .module("b.y", PeftFixture.values(3, 3), 1, 3, PeftFixture.values(2, 4), 2).write(dir.resolve("order"));
        assertEquals(List.of("b.y", "a.x"), List.copyOf(PeftAdapter.read(adapter).keySet()));
    }

    @Test
    void theNestedFormIsRankKWithIdentityInnerFactors() {
        float[] a = PeftFixture.values(2 * 4, 1);
        float[] b = PeftFixture.values(3 * 2, 2);
        LoraLayer l = new LoraLayer("m", 4, 3, 2, 3.0, false, 1.5f, false, a, b);
        AdapterLayer nested = l.toNested();
        assertEquals(2, nested.outerRank());
        assertEquals(2, nested.innerRank());
        assertArrayEquals(new float[] {1, 0, 0, 1}, nested.innerA());
        assertArrayEquals(new float[] {1, 0, 0, 1}, nested.innerB());
        assertArrayEquals(a, nested.outerA());
        assertArrayEquals(b, nested.outerB());
        assertEquals("peft", nested.init());
        assertEquals("lora", nested.rule());
        assertEquals(3.0, nested.alpha(), "α = s·k");
        assertFalse(nested.usesResidualBase());
    }

    @Test
    void aRankAboveMinOutInIsFoldedExactlyToMinOutIn() {
        int n = 3;
        int m = 4;
        int k = 5;  // PEFT allows it; a nested layer needs r ≤ min(m, n)
        float[] a = PeftFixture.values(k * n, 21);
        float[] b = PeftFixture.values(m * k, 22);
        LoraLayer l = new LoraLayer("wide", n, m, k, 10.0, false, 2f, false, a, b);
        assertEquals(3, l.toNested().outerRank());
        float[] w = PeftFixture.values(m * n, 23);
        float[] x = inputs(5, n, 24);
        assertTrue(Float64Reference.relativeFrobeniusError(forward(l, w, x, 5),
                reference(x, 5, w, false, m, n, k, 2.0, a, b)) <= TOLERANCE);

        LoraLayer tall = new LoraLayer("tall", m, n, k, 10.0, false, 2f, false, PeftFixture.values(k * m, 25),
                PeftFixture.values(n * k, 26));  // in 4, out 3: folded to I_out·(B·A)
        float[] w2 = PeftFixture.values(n * m, 27);
        float[] x2 = inputs(5, m, 28);
        assertTrue(Float64Reference.relativeFrobeniusError(forward(tall, w2, x2, 5),
                reference(x2, 5, w2, false, n, m, k, 2.0, tall.loraA(), tall.loraB())) <= TOLERANCE);
    }

    @Test
    void baseShapesWhenGivenAreCheckedPerModule() {
        Path adapter = PeftFixture.lora(2, 2).module("q", PeftFixture.values(2 * 6, 1), 2, 6, PeftFixture.values(4 * 2, 2), 4)
                .write(dir.resolve("base"));
        assertEquals(1, PeftAdapter.read(adapter, Map.of("q", new long[] {4, 6})).size());
        AdapterFormatException wrong = assertThrows(AdapterFormatException.class,
                () -> PeftAdapter.read(adapter, Map.of("q", new long[] {6, 4})));
        assertTrue(wrong.getMessage().contains("\"q\"") && wrong.getMessage().contains("[4, 6]")
                && wrong.getMessage().contains("[6, 4]"), wrong.getMessage());
        AdapterFormatException missing = assertThrows(AdapterFormatException.class,
                () -> PeftAdapter.read(adapter, Map.of("k", new long[] {4, 6})));
        assertTrue(missing.getMessage().contains("no weight for this module"), missing.getMessage());
    }

    @Test
    void aConfigAsPeftWritesItWithItsManyNeutralFieldsIsAccepted() {
        PeftFixture f = PeftFixture.lora(2, 16).module("model.q_proj", PeftFixture.values(2 * 3, 1), 2, 3,
                PeftFixture.values(3 * 2, 2), 3);
        f.set("task_type", "CAUSAL_LM").set("peft_version", "0.17.1").set("base_model_name_or_path", "some/model")
                .set("revision", null).set("inference_mode", true).set("target_modules", List.of("q_proj"))
                .set("exclude_modules", null).set("lora_dropout", 0.05).set("fan_in_fan_out", false).set("bias", "none")
                .set("use_rslora", false).set("modules_to_save", null).set("init_lora_weights", true)
                .set("layers_to_transform", null).set("layers_pattern", null).set("rank_pattern", Map.of())
                .set("alpha_pattern", Map.of()).set("megatron_config", null).set("megatron_core", "megatron.core")
                .set("trainable_token_indices", null).set("loftq_config", Map.of()).set("eva_config", null)
                .set("corda_config", null).set("use_dora", false).set("use_qalora", false).set("qalora_group_size", 16)
                .set("layer_replication", null).set("runtime_config", Map.of("ephemeral_gpu_offload", false))
                .set("lora_bias", false).set("target_parameters", null).set("alora_invocation_tokens", null)
                .set("a_field_from_a_later_version", null).set("auto_mapping", null);
        LoraLayer l = PeftAdapter.read(f.write(dir.resolve("full"))).get("model.q_proj");
        assertEquals(8f, l.scale());
    }
}
