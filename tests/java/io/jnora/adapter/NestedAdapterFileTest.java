package io.jnora.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.AdapterFormatException;
import io.jnora.init.InnerInit;
import io.jnora.init.InputScaling;
import io.jnora.init.NestedAdapterWeights;
import io.jnora.init.NestedInitializer;
import io.jnora.init.NoraConfig;
import io.jnora.init.OuterSplit;
import io.jnora.io.SafetensorsFile;
import io.jnora.io.SafetensorsWriter;
import io.jnora.synth.SyntheticLayer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The nested adapter file of SPEC §5: round trip, the residual recomputed, and inconsistent files refused. */
class NestedAdapterFileTest {
    @TempDir
    Path dir;

    private static NestedAdapterWeights init(InnerInit mode, float[] w, int m, int n) {
        return NestedInitializer.initialize(w, m, n, InputScaling.identity(n),
                NoraConfig.builder().outerRank(6).innerRank(3).init(mode).alpha(6).build());
    }

    @Test
    void layersRoundTripWithTheirMetadata() {
        SyntheticLayer s = SyntheticLayer.random(1, 20, 14, 6, 3, 1f);
        NestedAdapterWeights zero = init(InnerInit.ZERO, s.baseWeight, 20, 14);
        NestedAdapterWeights sigma = init(InnerInit.SIGMA, s.baseWeight, 20, 14);
        Path file = dir.resolve("adapter.safetensors");
        NestedAdapterFile.write(file, List.of(AdapterLayer.of("q_proj", zero), AdapterLayer.of("v_proj", sigma)));

        Map<String, AdapterLayer> read = NestedAdapterFile.read(file);
        assertEquals(List.of("q_proj", "v_proj"), List.copyOf(read.keySet()));
        AdapterLayer q = read.get("q_proj");
        assertArrayEquals(zero.outerA(), q.outerA());
        assertArrayEquals(zero.outerB(), q.outerB());
        assertArrayEquals(zero.innerA(), q.innerA());
        assertArrayEquals(zero.innerB(), q.innerB());
        assertEquals(2.0f, q.scale());
        assertEquals("zero", q.init());
        assertEquals("mean-abs(0.5)", q.scaleMode());
        assertFalse(q.usesResidualBase());
        assertTrue(q.baseWeight(s.baseWeight) == s.baseWeight);

        AdapterLayer v = read.get("v_proj");
        assertTrue(v.usesResidualBase());
        assertArrayEquals(sigma.innerA0(), v.innerA0());
        assertArrayEquals(sigma.baseWeight(), v.baseWeight(s.baseWeight), "W_res is recomputed from W, A'0, B'0");
    }

    @Test
    void theMetadataFollowsTheSpec() throws Exception {
        SyntheticLayer s = SyntheticLayer.random(2, 12, 10, 6, 3, 1f);
        Path file = dir.resolve("a.safetensors");
        NestedAdapterFile.write(file, List.of(AdapterLayer.of("layer", init(InnerInit.SIGMA, s.baseWeight, 12, 10))));
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            assertEquals(List.of("layer.nora.A", "layer.nora.A_inner", "layer.nora.A_inner0", "layer.nora.B",
                    "layer.nora.B_inner", "layer.nora.B_inner0"), st.names().stream().sorted().toList());
            String json = st.metadata().get("jnora");
            for (String key : new String[] {"\"r\":6", "\"r_in\":3", "\"alpha\":6.0", "\"rule\":\"lora\"", "\"s\":2.0",
                    "\"scale_mode\":\"mean-abs(0.5)\"", "\"init\":\"sigma\"", "\"split\":", "\"svd\":\"exact\"",
                    "\"version\":\"0.1.0\""}) {
                assertTrue(json.contains(key), key + " in " + json);
            }
        }
    }

    /**
     * The metadata's split is the outer pair the init actually made (SPEC §5): the configured split for
     * ZERO, inner-sigma for SIGMA (outer (U_r, V_rᵀS⁻¹), Σ in the inner pair, SPEC §2.3) and none for
     * RANDOM_OUTER (no SVD), never the builder's default b-sigma where that was not used.
     */
    @Test
    void theSplitWrittenIsTheOneTheInitUsed() {
        SyntheticLayer s = SyntheticLayer.random(3, 12, 10, 6, 3, 1f);
        Object[][] cases = {
            {InnerInit.ZERO, OuterSplit.SIGMA_IN_B, "b-sigma"},
            {InnerInit.ZERO, OuterSplit.SQRT_SIGMA, "sqrt-sigma"},
            {InnerInit.ZERO, OuterSplit.SIGMA_IN_A, "a-sigma"},
            {InnerInit.SIGMA, OuterSplit.SIGMA_IN_B, "inner-sigma"},
            {InnerInit.RANDOM_OUTER, OuterSplit.SIGMA_IN_B, "none"}};
        for (Object[] c : cases) {
            NestedAdapterWeights w = NestedInitializer.initialize(s.baseWeight, 12, 10, InputScaling.identity(10),
                    NoraConfig.builder().outerRank(6).innerRank(3).init((InnerInit) c[0]).split((OuterSplit) c[1]).build());
            Path file = dir.resolve("split-" + c[2] + ".safetensors");
            NestedAdapterFile.write(file, List.of(AdapterLayer.of("layer", w)));
            assertEquals(c[2], NestedAdapterFile.readLayer(file, null).split(), c[0] + " with " + c[1]);
        }
    }

    /** A SIGMA layer written before the split was recorded as inner-sigma (it said b-sigma) still reads, as written. */
    @Test
    void aSigmaLayerFromBeforeTheSplitFixStillReads() {
        Map<String, float[]> tensors = goodTensors();
        Map<String, long[]> shapes = goodShapes();
        tensors.put("L.nora.A_inner0", new float[2]);
        tensors.put("L.nora.B_inner0", new float[2]);
        shapes.put("L.nora.A_inner0", new long[] {1, 2});
        shapes.put("L.nora.B_inner0", new long[] {2, 1});
        AdapterLayer l = NestedAdapterFile.readLayer(fileWith(META.replace("\"init\":\"zero\"", "\"init\":\"sigma\""),
                tensors, shapes), null);
        assertTrue(l.usesResidualBase());
        assertEquals("b-sigma", l.split());
    }

    private Path fileWith(String metadata, Map<String, float[]> tensors, Map<String, long[]> shapes) {
        SafetensorsWriter w = new SafetensorsWriter();
        tensors.forEach((name, values) -> w.add(name, values, shapes.get(name)));
        if (metadata != null) {
            w.metadata("jnora", metadata);
        }
        Path file = dir.resolve("bad-" + System.nanoTime() + ".safetensors");
        w.write(file);
        return file;
    }

    private static final String META = "{\"version\":\"0.1.0\",\"layers\":{\"L\":{\"m\":4,\"n\":3,\"r\":2,\"r_in\":1,"
            + "\"alpha\":1,\"rule\":\"lora\",\"s\":1,\"scale_mode\":\"none\",\"init\":\"zero\",\"split\":\"b-sigma\",\"svd\":\"exact\"}}}";

    private static Map<String, float[]> goodTensors() {
        return new java.util.HashMap<>(Map.of("L.nora.A", new float[6], "L.nora.B", new float[8], "L.nora.A_inner",
                new float[2], "L.nora.B_inner", new float[2]));
    }

    private static Map<String, long[]> goodShapes() {
        return new java.util.HashMap<>(Map.of("L.nora.A", new long[] {2, 3}, "L.nora.B", new long[] {4, 2},
                "L.nora.A_inner", new long[] {1, 2}, "L.nora.B_inner", new long[] {2, 1}));
    }

    @Test
    void aWellFormedHandWrittenFileReads() {
        assertEquals(2, NestedAdapterFile.readLayer(fileWith(META, goodTensors(), goodShapes()), null).outerRank());
    }

    private void assertRefused(Path file, String... fragments) {
        AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> NestedAdapterFile.read(file));
        assertTrue(e.getMessage().contains(file.getFileName().toString()), e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "'" + f + "' in: " + e.getMessage());
        }
    }

    @Test
    void inconsistentFilesAreRefusedNamingLayerAndField() {
        assertRefused(fileWith(null, goodTensors(), goodShapes()), "jnora");
        assertRefused(fileWith("{not json", goodTensors(), goodShapes()), "not valid JSON");
        assertRefused(fileWith(META.replace("\"r\":2", "\"r\":-2"), goodTensors(), goodShapes()), "\"L\"", "\"r\"");
        assertRefused(fileWith(META.replace("\"r_in\":1", "\"r_in\":3"), goodTensors(), goodShapes()), "r_in = 3");
        assertRefused(fileWith(META.replace("\"s\":1", "\"s\":\"x\""), goodTensors(), goodShapes()), "\"s\"");
        // Finite doubles that a float32 scale cannot hold: ∞ after the cast, or 0 (the adapter switched off).
        assertRefused(fileWith(META.replace("\"s\":1", "\"s\":1e39"), goodTensors(), goodShapes()), "\"L\"", "\"s\"",
                "1.0E39", "float32");
        assertRefused(fileWith(META.replace("\"s\":1", "\"s\":-1e-50"), goodTensors(), goodShapes()), "\"s\"",
                "-1.0E-50", "float32");

        Map<String, float[]> missing = goodTensors();
        missing.remove("L.nora.B_inner");
        assertRefused(fileWith(META, missing, goodShapes()), "L.nora.B_inner", "missing");

        Map<String, long[]> wrongShape = goodShapes();
        wrongShape.put("L.nora.A", new long[] {3, 2});
        assertRefused(fileWith(META, goodTensors(), wrongShape), "L.nora.A", "[3, 2]", "[2, 3]");

        Map<String, float[]> extra = goodTensors();
        Map<String, long[]> extraShapes = goodShapes();
        extra.put("M.nora.A", new float[1]);
        extraShapes.put("M.nora.A", new long[] {1, 1});
        assertRefused(fileWith(META, extra, extraShapes), "M.nora.A", "no layer");

        Map<String, float[]> nan = goodTensors();
        nan.put("L.nora.B", new float[] {0, 0, 0, Float.NaN, 0, 0, 0, 0});
        assertRefused(fileWith(META, nan, goodShapes()), "L.nora.B", "[1, 1]", "NaN");

        assertRefused(fileWith(META.replace("\"init\":\"zero\"", "\"init\":\"sigma\""), goodTensors(), goodShapes()),
                "A_inner0", "missing");
    }

    @Test
    void aMissingLayerNameListsTheLayers() throws Exception {
        Path file = fileWith(META, goodTensors(), goodShapes());
        AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> NestedAdapterFile.readLayer(file, "K"));
        assertTrue(e.getMessage().contains("[L]"), e.getMessage());
        assertTrue(Files.exists(file));
    }
}
