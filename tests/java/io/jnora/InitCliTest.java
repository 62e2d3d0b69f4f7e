package io.jnora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jnora init} end to end: safetensors in, an adapter file out that reproduces the layer. */
class InitCliTest {
    @TempDir
    Path dir;



    private Path inputs(SyntheticLayer layer, int rows) {
        Path file = dir.resolve("layer.safetensors");
        new SafetensorsWriter().add("weight", layer.baseWeight, layer.m, layer.n)
                .add("calib", layer.inputs(5, rows), 2, rows / 2, layer.n).write(file);
        return file;
    }

    @Test
    void zeroInitWritesAnAdapterWhoseLayerIsExactlyTheBase() {
        SyntheticLayer layer = SyntheticLayer.random(11, 40, 36, 8, 2, 1f);
        Path in = inputs(layer, 200);
        Path out = dir.resolve("adapter.safetensors");
        CliRun r = CliRun.of("init", "--weight", in + "#weight", "--calib", in + "#calib", "--rank", "8", "--inner-rank", "2",
                "--scale-mode", "rms", "--layer", "mlp.up", "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("layer mlp.up: W 40×36, r = 8, r_in = 2"), r.out());
        assertTrue(r.err().contains("statistics 200/200 rows"), r.err());
        AdapterLayer a = NestedAdapterFile.readLayer(out, "mlp.up");
        assertEquals("rms", a.scaleMode());
        float[] x = layer.inputs(6, 7);
        try (NoraContext ctx = NoraContext.create(Backend.CPU); NestedLinear l = a.build(ctx, layer.baseWeight);
                Matrix xm = ctx.matrix(7, 36, x); Matrix y = l.forward(xm); Matrix base = ctx.zeros(7, 40)) {
            l.forwardBase(xm, base);
            assertArrayEquals(base.toArray(), y.toArray());
        }
    }

    @Test
    void initAndRecoverShareAdapterOptionsButNotTheirDefaultScaleMode() {
        SyntheticLayer layer = SyntheticLayer.random(13, 20, 16, 4, 2, 1f);
        Path in = inputs(layer, 64);
        Path out = dir.resolve("default.safetensors");
        CliRun r = CliRun.of("init", "--weight", in + "#weight", "--calib", in + "#calib", "--rank", "4", "--inner-rank", "2",
                "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        assertEquals("mean-abs(0.5)", NestedAdapterFile.readLayer(out, "layer").scaleMode());
        assertTrue(CliRun.of("init", "--help").out().contains("Input scaling of the SVD (default: mean-abs)"));
        assertTrue(CliRun.of("recover", "--help").out().contains("Input scaling of the SVD (default: whiten)"));
        CliRun bad = CliRun.of("init", "--weight", in + "#weight", "--calib", in + "#calib", "--rank", "4",
                "--inner-rank", "2", "--svd", "qr", "--out", out.toString());
        assertEquals(2, bad.status(), bad.err());
        assertTrue(bad.err().contains("--svd: unknown value 'qr'"), bad.err());
    }

    @Test
    void sigmaInitWithWhiteningKeepsTheLayersOutput() {
        SyntheticLayer layer = SyntheticLayer.random(12, 30, 24, 6, 3, 1f);
        Path in = inputs(layer, 300);
        Path out = dir.resolve("sigma.safetensors");
        CliRun r = CliRun.of("init", "--weight", in + "#weight", "--calib", in + "#calib", "--rank", "6", "--inner-rank", "3",
                "--scale-mode", "whiten", "--init", "sigma", "--rule", "rora", "--alpha", "4", "--svd", "exact",
                "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        AdapterLayer a = NestedAdapterFile.readLayer(out, null);
        assertEquals(4 / Math.sqrt(3), a.scale(), 1e-6);
        float[] x = layer.inputs(7, 9);
        try (NoraContext ctx = NoraContext.create(Backend.CPU); NestedLinear l = a.build(ctx, layer.baseWeight);
                Matrix xm = ctx.matrix(9, 24, x); Matrix y = l.forward(xm)) {
            double[] want = Float64Reference.multiplyTransposed(Float64Reference.toDouble(x), 9, 24,
                    Float64Reference.toDouble(layer.baseWeight), 30);
            assertTrue(Float64Reference.relativeFrobeniusError(y.toArray(), want) <= 1e-5);
        }
    }

    @Test
    void calibrationOfTheWrongWidthIsBadInputNamingBothShapes() {
        SyntheticLayer layer = SyntheticLayer.random(13, 20, 16, 4, 2, 1f);
        Path file = dir.resolve("bad.safetensors");
        new SafetensorsWriter().add("weight", layer.baseWeight, 20, 16).add("calib", new float[30], 2, 15).write(file);
        Path out = dir.resolve("never.safetensors");
        CliRun r = CliRun.of("init", "--weight", file + "#weight", "--calib", file + "#calib", "--rank", "4", "--inner-rank", "2",
                "--out", out.toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("[2, 15]") && r.err().contains("20×16"), r.err());
        assertFalse(Files.exists(out), "nothing is written on failure");
    }

    @Test
    void aTruncatedWeightFileIsRefusedWithItsName() throws Exception {
        SyntheticLayer layer = SyntheticLayer.random(14, 20, 16, 4, 2, 1f);
        Path in = inputs(layer, 40);
        byte[] bytes = Files.readAllBytes(in);
        Path cut = dir.resolve("cut.safetensors");
        Files.write(cut, java.util.Arrays.copyOf(bytes, bytes.length - 100));
        CliRun r = CliRun.of("init", "--weight", cut + "#weight", "--calib", in + "#calib", "--rank", "4", "--inner-rank", "2",
                "--out", dir.resolve("o.safetensors").toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("cut.safetensors"), r.err());
    }

    /**
     * A weight whose shape has a zero dimension, or one beyond what a Java array holds, is bad input
     * naming the command, the option, FILE#TENSOR and the shape, before any allocation: a valid
     * file with zero elements ([0, 2^40], [3·10^9, 0] with empty data) or a [5, 0] weight.
     */
    @Test
    void aWeightWithAnEmptyOrOversizedDimensionIsBadInputNamingFileAndShape() {
        SyntheticLayer layer = SyntheticLayer.random(16, 20, 16, 4, 2, 1f);
        Path calib = inputs(layer, 40);
        long[][] shapes = {{0, 1L << 40}, {3_000_000_000L, 0}, {5, 0}, {0, 16}};
        for (long[] shape : shapes) {
            Path file = dir.resolve("empty" + shape[0] + "x" + shape[1] + ".safetensors");
            new SafetensorsWriter().add("w", new float[0], shape).write(file);
            String ref = file + "#w";
            String shapeText = java.util.Arrays.toString(shape);
            CliRun init = CliRun.of("init", "--weight", ref, "--calib", calib + "#calib", "--rank", "4", "--inner-rank", "2",
                    "--out", dir.resolve("o.safetensors").toString());
            assertEquals(2, init.status(), shapeText + ": " + init.err());
            assertTrue(init.err().startsWith("jnora init: --weight " + ref) && init.err().contains(shapeText), init.err());
            CliRun forward = CliRun.of("forward", "--weight", ref, "--adapter", dir.resolve("none.safetensors").toString(),
                    "--input", calib + "#calib", "--out", dir.resolve("y.safetensors").toString());
            assertEquals(2, forward.status(), shapeText + ": " + forward.err());
            assertTrue(forward.err().contains("forward: --weight " + ref) && forward.err().contains(shapeText),
                    forward.err());
        }
        assertFalse(Files.exists(dir.resolve("o.safetensors")), "nothing is written on failure");
        Path noRows = dir.resolve("norows.safetensors");
        new SafetensorsWriter().add("weight", layer.baseWeight, 20, 16).add("x", new float[0], new long[] {0, 16}).write(noRows);
        CliRun empty = CliRun.of("init", "--weight", noRows + "#weight", "--calib", noRows + "#x", "--rank", "4",
                "--inner-rank", "2", "--out", dir.resolve("o.safetensors").toString());
        assertEquals(2, empty.status(), empty.err());
        assertTrue(empty.err().strip().endsWith("\njnora init: calibration " + noRows + "#x holds no rows"), empty.err());
    }

    /** --alpha-exp below 0 is refused up front, naming the exponent (it gave ∞ for dead channels and a vague error). */
    @Test
    void aNegativeMeanAbsExponentIsBadInput() {
        SyntheticLayer layer = SyntheticLayer.random(18, 20, 16, 4, 2, 1f);
        Path in = inputs(layer, 40);
        CliRun r = CliRun.of("init", "--weight", in + "#weight", "--calib", in + "#calib", "--rank", "4", "--inner-rank", "2",
                "--alpha-exp", "-0.5", "--out", dir.resolve("o.safetensors").toString());
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().contains("ScaleMode.meanAbs") && r.err().contains("≥ 0") && r.err().contains("-0.5"), r.err());
    }

    @Test
    void aRankAboveTheWeightsIsBadInput() {
        SyntheticLayer layer = SyntheticLayer.random(15, 20, 16, 4, 2, 1f);
        Path in = inputs(layer, 40);
        CliRun r = CliRun.of("init", "--weight", in + "#weight", "--calib", in + "#calib", "--rank", "17", "--inner-rank", "2",
                "--out", dir.resolve("o.safetensors").toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("min(m, n) = 16"), r.err());
    }
}
