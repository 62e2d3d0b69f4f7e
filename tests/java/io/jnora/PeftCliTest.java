package io.jnora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.adapter.AdapterLayer;
import io.jnora.adapter.NestedAdapterFile;
import io.jnora.io.SafetensorsWriter;
import io.jnora.reference.Float64Reference;
import io.jnora.synth.SyntheticLayer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code init} → {@code export-peft} → {@code import-peft} end to end (SPEC §2.7, §6): the imported
 * plain LoRA on the original weight gives the nested layer's outputs. Tolerance 1e-5 relative
 * (Frobenius): float32 forwards on both sides, one rounding of the exported products and of W_res.
 */
class PeftCliTest {
    private static final double TOLERANCE = 1e-5;

    @TempDir
    Path dir;



    /** {@code jnora init} of one layer, then inner factors moved as training would move them. */
    private AdapterLayer initAndTrain(SyntheticLayer s, String name, String init, long seed) {
        Path in = dir.resolve(name + ".in.safetensors");
        new SafetensorsWriter().add("weight", s.baseWeight, s.m, s.n).add("calib", s.inputs(seed, 128), 128, s.n).write(in);
        Path file = dir.resolve(name + ".safetensors");
        CliRun r = CliRun.of("init", "--weight", in + "#weight", "--calib", in + "#calib", "--rank", String.valueOf(s.r),
                "--inner-rank", String.valueOf(s.rIn), "--init", init, "--alpha", "3", "--layer", name, "--backend", "cpu",
                "--out", file.toString());
        assertEquals(0, r.status(), r.err());
        AdapterLayer l = NestedAdapterFile.readLayer(file, name);
        SplittableRandom rng = new SplittableRandom(seed);
        float[] innerA = l.innerA().clone();
        float[] innerB = l.innerB().clone();
        for (int i = 0; i < innerA.length; i++) {
            innerA[i] += (float) (0.2 * (rng.nextDouble() - 0.5));
            innerB[i] += (float) (0.4 * (rng.nextDouble() - 0.5));  // ZERO starts at B' = 0
        }
        return new AdapterLayer(l.name(), l.outFeatures(), l.inFeatures(), l.outerRank(), l.innerRank(), l.alpha(), l.rule(),
                l.scale(), l.scaleMode(), l.init(), l.split(), l.svd(), l.outerA(), l.outerB(), innerA, innerB, l.innerA0(),
                l.innerB0());
    }

    private static float[] forward(AdapterLayer l, float[] w, float[] x, int rows) {
        try (NoraContext ctx = NoraContext.create(Backend.CPU); NestedLinear layer = l.build(ctx, w);
                Matrix xm = ctx.matrix(rows, l.inFeatures(), x); Matrix y = layer.forward(xm)) {
            return y.toArray();
        }
    }

    @Test
    void initExportImportGivesTheSameOutputs() {
        SyntheticLayer q = SyntheticLayer.random(31, 40, 36, 8, 3, 1f);
        SyntheticLayer up = SyntheticLayer.random(32, 52, 36, 10, 2, 1f);
        AdapterLayer qa = initAndTrain(q, "q_proj", "zero", 5);
        AdapterLayer ua = initAndTrain(up, "up_proj", "sigma", 6);
        Path nested = dir.resolve("nested.safetensors");
        NestedAdapterFile.write(nested, List.of(qa, ua));

        Path peft = dir.resolve("peft");
        CliRun ex = CliRun.of("export-peft", "--adapter", nested.toString(), "--module-prefix", "model.layers.0.", "--out",
                peft.toString());
        assertEquals(0, ex.status(), ex.err());
        assertTrue(ex.out().contains("model.layers.0.q_proj") && ex.out().contains("residual base: 2·r_in"), ex.out());
        assertTrue(Files.exists(peft.resolve("adapter_config.json")));

        Path back = dir.resolve("back.safetensors");
        CliRun im = CliRun.of("import-peft", "--adapter", peft.toString(), "--out", back.toString());
        assertEquals(0, im.status(), im.err());
        assertTrue(im.out().contains("model.layers.0.up_proj"), im.out());
        Map<String, AdapterLayer> imported = NestedAdapterFile.read(back);
        assertEquals(List.of("model.layers.0.q_proj", "model.layers.0.up_proj"), new ArrayList<>(imported.keySet()));
        AdapterLayer iu = imported.get("model.layers.0.up_proj");
        assertEquals("peft", iu.init());
        assertEquals(4, iu.outerRank(), "2·r_in: the residual base's change against W");
        assertEquals(4, iu.innerRank());
        assertFalse(iu.usesResidualBase(), "an imported LoRA runs on the original W");

        for (Object[] c : new Object[][] {{q, qa, "model.layers.0.q_proj"}, {up, ua, "model.layers.0.up_proj"}}) {
            SyntheticLayer s = (SyntheticLayer) c[0];
            float[] x = s.inputs(77, 21);
            float[] want = forward((AdapterLayer) c[1], s.baseWeight, x, 21);
            float[] got = forward(imported.get((String) c[2]), s.baseWeight, x, 21);
            double err = Float64Reference.relativeFrobeniusError(got, Float64Reference.toDouble(want));
            assertTrue(err <= TOLERANCE, c[2] + ": " + err);
        }
    }

    @Test
    void exportPeftSelectsLayersByName() {
        SyntheticLayer q = SyntheticLayer.random(33, 20, 16, 4, 2, 1f);
        AdapterLayer a = initAndTrain(q, "q", "zero", 7);
        AdapterLayer b = initAndTrain(q, "k", "zero", 8);
        Path nested = dir.resolve("two.safetensors");
        NestedAdapterFile.write(nested, List.of(a, b));
        CliRun r = CliRun.of("export-peft", "--adapter", nested.toString(), "--layer", "k", "--out", dir.resolve("only-k").toString());
        assertEquals(0, r.status(), r.err());
        assertEquals(List.of("k"), new ArrayList<>(io.jnora.peft.PeftAdapter.read(dir.resolve("only-k")).keySet()));
    }

    @Test
    void anUnknownLayerIsBadInputAndNothingIsWritten() {
        SyntheticLayer q = SyntheticLayer.random(34, 20, 16, 4, 2, 1f);
        Path nested = dir.resolve("one.safetensors");
        NestedAdapterFile.write(nested, List.of(initAndTrain(q, "q", "zero", 9)));
        Path out = dir.resolve("never");
        CliRun r = CliRun.of("export-peft", "--adapter", nested.toString(), "--layer", "v", "--out", out.toString());
        assertEquals(2, r.status());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("one.safetensors") && r.err().contains("\"v\""), r.err());
        assertFalse(Files.exists(out));
    }

    @Test
    void importPeftChecksTheBaseModelsShapesWhenGiven() {
        SyntheticLayer q = SyntheticLayer.random(35, 20, 16, 4, 2, 1f);
        Path nested = dir.resolve("q.safetensors");
        NestedAdapterFile.write(nested, List.of(initAndTrain(q, "q", "zero", 10)));
        Path peft = dir.resolve("peft");
        assertEquals(0, CliRun.of("export-peft", "--adapter", nested.toString(), "--module-prefix", "model.", "--out",
                peft.toString()).status());
        Path good = dir.resolve("base.safetensors");
        new SafetensorsWriter().add("model.q.weight", q.baseWeight, 20, 16).write(good);
        assertEquals(0, CliRun.of("import-peft", "--adapter", peft.toString(), "--base", good.toString(), "--out",
                dir.resolve("ok.safetensors").toString()).status());
        Path bad = dir.resolve("bad-base.safetensors");
        new SafetensorsWriter().add("model.q.weight", q.baseWeight, 16, 20).write(bad);
        Path out = dir.resolve("no.safetensors");
        CliRun r = CliRun.of("import-peft", "--adapter", peft.toString(), "--base", bad.toString(), "--out", out.toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("model.q") && r.err().contains("[16, 20]"), r.err());
        assertFalse(Files.exists(out));
    }
}
