package io.jnora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.adapter.AdapterLayer;
import io.jnora.adapter.NestedAdapterFile;
import io.jnora.init.InnerInit;
import io.jnora.init.InputScaling;
import io.jnora.init.NestedInitializer;
import io.jnora.init.NoraConfig;
import io.jnora.io.Dtype;
import io.jnora.io.SafetensorsFile;
import io.jnora.io.SafetensorsWriter;
import io.jnora.reference.Float64Reference;
import io.jnora.synth.SyntheticLayer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The merge and forward commands, run through the command line. */
class MergeForwardCliTest {
    @TempDir
    Path dir;



    /** An adapter file for the layer with non-zero inner factors (so that the adapter term shows). */
    private Path adapter(String file, SyntheticLayer layer, InnerInit init, long seed) {
        var w = NestedInitializer.initialize(layer.baseWeight, layer.m, layer.n, InputScaling.identity(layer.n),
                NoraConfig.builder().outerRank(layer.r).innerRank(layer.rIn).init(init).seed(seed).build());
        AdapterLayer a = AdapterLayer.of("layer", w);
        float[] innerB = SyntheticLayer.random(seed, layer.m, layer.n, layer.r, layer.rIn, 1f).innerB;
        a = new AdapterLayer(a.name(), a.outFeatures(), a.inFeatures(), a.outerRank(), a.innerRank(), a.alpha(), a.rule(),
                a.scale(), a.scaleMode(), a.init(), a.split(), a.svd(), a.outerA(), a.outerB(), a.innerA(), innerB,
                a.innerA0(), a.innerB0());
        Path p = dir.resolve(file);
        NestedAdapterFile.write(p, List.of(a));
        return p;
    }

    private Path weightFile(SyntheticLayer layer, Dtype dtype) {
        Path p = dir.resolve("w-" + dtype + ".safetensors");
        new SafetensorsWriter().add("weight", dtype, layer.baseWeight, layer.m, layer.n).write(p);
        return p;
    }

    private static float[] read(Path file, String tensor) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            return f.readFloats(tensor);
        }
    }

    @Test
    void mergeThenUnmergeRestoresTheWeightAndKeepsItsDtype() {
        SyntheticLayer layer = SyntheticLayer.random(21, 36, 28, 6, 3, 1f);
        for (InnerInit init : new InnerInit[] {InnerInit.ZERO, InnerInit.SIGMA}) {
            Path a = adapter("a-" + init + ".safetensors", layer, init, 5);
            Path w = weightFile(layer, Dtype.F32);
            Path merged = dir.resolve("merged-" + init + ".safetensors");
            CliRun r = CliRun.of("merge", "--weight", w + "#weight", "--adapter", a.toString(), "--out", merged.toString());
            assertEquals(0, r.status(), r.err());
            AdapterLayer al = NestedAdapterFile.readLayer(a, null);
            assertArrayEquals(al.mergedWeight(layer.baseWeight), read(merged, "weight"));

            Path back = dir.resolve("back-" + init + ".safetensors");
            r = CliRun.of("merge", "--unmerge", "--weight", merged + "#weight", "--adapter", a.toString(), "--out", back.toString());
            assertEquals(0, r.status(), r.err());
            double err = Float64Reference.relativeFrobeniusError(read(back, "weight"), Float64Reference.toDouble(layer.baseWeight));
            assertTrue(err <= 1e-6, init + ": unmerged vs original W: " + err);
        }
        Path bf16 = weightFile(layer, Dtype.BF16);
        Path out = dir.resolve("merged-bf16.safetensors");
        assertEquals(0, CliRun.of("merge", "--weight", bf16 + "#weight", "--adapter", dir.resolve("a-ZERO.safetensors").toString(),
                "--out", out.toString()).status());
        try (SafetensorsFile f = SafetensorsFile.open(out)) {
            assertEquals(Dtype.BF16, f.tensor("weight").dtype());
        }
    }

    @Test
    void aMergedWeightServesTheAdaptersOutput() {
        SyntheticLayer layer = SyntheticLayer.random(22, 30, 26, 5, 2, 1f);
        Path a = adapter("a.safetensors", layer, InnerInit.ZERO, 6);
        AdapterLayer al = NestedAdapterFile.readLayer(a, null);
        float[] x = layer.inputs(3, 11);
        try (NoraContext ctx = NoraContext.create(Backend.CPU); NestedLinear l = al.build(ctx, layer.baseWeight);
                Matrix xm = ctx.matrix(11, 26, x); Matrix y = l.forward(xm);
                Matrix wm = ctx.matrix(30, 26, al.mergedWeight(layer.baseWeight)); Matrix ym = ctx.zeros(11, 30)) {
            ctx.linear(xm, wm, ym);
            Tolerances.assertClose("merged weight vs adapter", ym.toArray(), y.toArray(), 1e-5);
        }
    }

    @Test
    void forwardRoutesEachRowThroughItsAdapter() {
        SyntheticLayer layer = SyntheticLayer.random(23, 24, 20, 4, 2, 1f);
        Path a0 = adapter("a0.safetensors", layer, InnerInit.ZERO, 7);
        Path a1 = adapter("a1.safetensors", layer, InnerInit.SIGMA, 8);
        Path w = weightFile(layer, Dtype.F32);
        int rows = 9;
        float[] x = layer.inputs(4, rows);
        long[] which = {0, 1, -1, 1, 0, 0, -1, 1, 1};
        Path in = dir.resolve("in.safetensors");
        new SafetensorsWriter().add("x", x, 3, 3, 20).write(in);
        Path idx = dir.resolve("idx.safetensors");
        writeInt64(idx, which);
        Path out = dir.resolve("y.safetensors");
        CliRun r = CliRun.of("forward", "--backend", "cpu", "--weight", w + "#weight", "--adapter", a0.toString(), "--adapter",
                a1.toString(), "--row-adapter", idx + "#rows", "--input", in + "#x", "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        float[] y = read(out, "y");
        try (SafetensorsFile f = SafetensorsFile.open(out)) {
            assertArrayEquals(new long[] {3, 3, 24}, f.tensor("y").shape());
        }
        AdapterLayer[] layers = {NestedAdapterFile.readLayer(a0, null), NestedAdapterFile.readLayer(a1, null)};
        for (int t = 0; t < rows; t++) {
            float[] row = java.util.Arrays.copyOfRange(x, t * 20, t * 20 + 20);
            float[] weightUsed = which[t] < 0 ? layer.baseWeight : layers[(int) which[t]].mergedWeight(layer.baseWeight);
            double[] want = Float64Reference.multiplyTransposed(Float64Reference.toDouble(row), 1, 20,
                    Float64Reference.toDouble(weightUsed), 24);
            Tolerances.assertClose("row " + t + " (adapter " + which[t] + ")", java.util.Arrays.copyOfRange(y, t * 24, t * 24 + 24),
                    want, 1e-5);
        }
    }

    private static void writeInt64(Path file, long[] values) {
        // The writer takes float data; int64 indices are written by hand: header, then little-endian longs.
        String header = "{\"rows\":{\"dtype\":\"I64\",\"shape\":[" + values.length + "],\"data_offsets\":[0,"
                + values.length * 8 + "]}}";
        while ((header.length() + 8) % 8 != 0) {
            header += " ";
        }
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8 + header.length() + values.length * 8)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length()).put(header.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        for (long v : values) {
            b.putLong(v);
        }
        try {
            Files.write(file, b.array());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void badRoutingAndShapesAreBadInputAndWriteNothing() {
        SyntheticLayer layer = SyntheticLayer.random(24, 24, 20, 4, 2, 1f);
        Path a0 = adapter("b0.safetensors", layer, InnerInit.ZERO, 9);
        Path w = weightFile(layer, Dtype.F32);
        Path in = dir.resolve("in2.safetensors");
        new SafetensorsWriter().add("x", layer.inputs(5, 3), 3, 20).add("bad", new float[3 * 19], 3, 19).write(in);
        Path idx = dir.resolve("idx2.safetensors");
        writeInt64(idx, new long[] {0, 2, -1});
        Path out = dir.resolve("never.safetensors");

        CliRun r = CliRun.of("forward", "--weight", w + "#weight", "--adapter", a0.toString(), "--row-adapter", idx + "#rows",
                "--input", in + "#x", "--out", out.toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("index 2 at row 1"), r.err());
        r = CliRun.of("forward", "--weight", w + "#weight", "--adapter", a0.toString(), "--adapter", a0.toString(),
                "--input", in + "#x", "--out", out.toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--row-adapter"), r.err());
        r = CliRun.of("forward", "--weight", w + "#weight", "--adapter", a0.toString(), "--input", in + "#bad", "--out",
                out.toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("[3, 19]") && r.err().contains("24×20"), r.err());
        SyntheticLayer other = SyntheticLayer.random(25, 20, 20, 4, 2, 1f);
        Path wrong = weightFile(other, Dtype.F16);
        r = CliRun.of("merge", "--weight", wrong + "#weight", "--adapter", a0.toString(), "--out", out.toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("24×20") && r.err().contains("20×20"), r.err());
        assertFalse(Files.exists(out));
    }
}
