package io.jnora.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.Backend;
import io.jnora.Gradients;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.adapter.AdapterLayer;
import io.jnora.adapter.AdapterSet;
import io.jnora.adapter.NestedAdapterFile;
import io.jnora.serving.AdapterRegistry;
import io.jnora.train.Trainer;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every native allocation has one owner (issue 11): many create/use/close cycles of every AutoCloseable
 * type leave JavaCPP's count of live native bytes ({@link Pointer#totalBytes()}) where it was after the
 * warm-up cycles, without any help from the garbage collector: so nothing is left for a deallocator to
 * find. The warm-up absorbs what is made once per process (native libraries, OpenBLAS's buffers,
 * JavaCPP's own bookkeeping, glibc's arenas). The resident size ({@link Pointer#physicalBytes()}) is also
 * bounded: it may not grow by more than 64 MiB over cycles that would leak well over that if one
 * allocation a cycle were lost (each cycle allocates more than 1 MiB natively). The resident size holds
 * the Java heap too, whose untouched pages become resident as the collector first hands them out (CI once
 * saw +82 MiB over the cycles with every native byte returned), so the cycles run in a child JVM whose
 * heap is fixed and touched at start: there, growth is native memory, metaspace and compiled code.
 * Use after close is an {@link IllegalStateException}, never a crash.
 */
class NativeMemoryTest {
    private static final int CYCLES = 150;
    private static final int WARM_UP = 10;
    private static final int M = 96;
    private static final int N = 80;

    @TempDir
    Path dir;

    static AdapterLayer layer(String name) {
        return FixtureLayers.layer(name, M, N, 8, 4, 7);
    }

    /** One cycle: every AutoCloseable type created, used and closed. */
    private static void cycle(Path adapterFile, float[] weight, float[] x) {
        try (NoraContext ctx = NoraContext.create(Backend.CPU)) {
            AdapterLayer l = layer("layer");
            try (NestedLinear lin = l.build(ctx, weight);
                    Matrix xm = ctx.matrix(16, N, x);
                    Matrix y = lin.forward(xm);
                    Matrix dy = ctx.filled(16, M, 0.5f);
                    Gradients g = lin.backward(xm, dy)) {
                y.toArray();
                g.innerA().toArray();
            }
            try (NestedLinear lin = l.build(ctx, weight);
                    Trainer t = Trainer.builder(ctx).layer("layer", lin).build();
                    Matrix xm = ctx.matrix(16, N, x);
                    Matrix dy = ctx.filled(16, M, 0.01f)) {
                t.step(xm, dy);
            }
            try (AdapterSet set = AdapterSet.load(ctx, adapterFile, Map.of("layer", weight));
                    Matrix xm = ctx.matrix(16, N, x);
                    Matrix y = set.forward("layer", xm)) {
                y.toArray();
            }
            try (AdapterRegistry registry = new AdapterRegistry(ctx, weight, M, N, 4, 1L << 24)) {
                registry.add("a", l);
                registry.add("b", layer("b"));
                registry.apply(x, 16, new int[] {0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0});
            }
        }
    }

    /**
     * The child JVM: the warm-up, then the cycles; prints one line, {@code cycles <first cycle that left
     * more live native bytes than before, or 0> <live bytes then> <live bytes before> <resident growth>}.
     */
    public static void main(String[] args) {
        float[] weight = FixtureLayers.ramp(M * N, 11);
        float[] x = FixtureLayers.ramp(16 * N, 12);
        Path adapterFile = Path.of(args[0]);
        NestedAdapterFile.write(adapterFile, List.of(layer("layer")));
        for (int i = 0; i < WARM_UP; i++) {
            cycle(adapterFile, weight, x);
        }
        long total = Pointer.totalBytes();
        long physical = Pointer.physicalBytes();
        int badCycle = 0;
        long bad = 0;
        for (int i = 0; i < CYCLES && badCycle == 0; i++) {
            cycle(adapterFile, weight, x);
            // Never more than before; less is allowed (a collection may free garbage made before the cycles).
            long now = Pointer.totalBytes();
            if (now > total) {
                badCycle = i + 1;
                bad = now;
            } else {
                total = now;
            }
        }
        System.out.println("cycles " + badCycle + " " + bad + " " + total + " " + (Pointer.physicalBytes() - physical));
    }

    @Test
    void manyCyclesOfEveryAutoCloseableTypeReturnTheNativeByteCountToWhereItWas() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process child = new ProcessBuilder(java, "-Xms128m", "-Xmx128m", "-XX:+AlwaysPreTouch", "-XX:+UseSerialGC",
                "-Dorg.bytedeco.javacpp.logger=slf4j-none", "-cp", System.getProperty("java.class.path"),
                NativeMemoryTest.class.getName(), dir.resolve("a.safetensors").toString())
                .redirectErrorStream(true).start();
        String output;
        try (InputStream out = child.getInputStream()) {
            output = new String(out.readAllBytes(), StandardCharsets.UTF_8);
        } finally {
            child.destroyForcibly();
        }
        assertTrue(child.waitFor(60, TimeUnit.SECONDS), "the child JVM did not stop");
        assertEquals(0, child.exitValue(), "the child JVM failed:\n" + output);
        String last = output.strip().lines().reduce((a, b) -> b).orElse("");
        String[] f = last.split(" ");
        assertTrue(f.length == 5 && f[0].equals("cycles"), "unexpected output of the child JVM:\n" + output);
        assertEquals("0", f[1], "live native bytes after cycle " + f[1] + ": " + f[2] + ", was " + f[3]);
        long grown = Long.parseLong(f[4]);
        assertTrue(grown < 64L << 20, "resident size grew by " + (grown >> 20) + " MiB over " + CYCLES + " cycles");
    }

    @Test
    void useAfterCloseIsAnIllegalStateExceptionForEveryType() {
        float[] weight = FixtureLayers.ramp(M * N, 11);
        float[] x = FixtureLayers.ramp(4 * N, 12);
        NoraContext ctx = NoraContext.create(Backend.CPU);
        Matrix xm = ctx.matrix(4, N, x);
        NestedLinear lin = layer("layer").build(ctx, weight);
        Matrix closed = ctx.zeros(2, 2);
        closed.close();
        assertThrows(IllegalStateException.class, closed::toArray);
        closed.close();  // closing twice is allowed
        Trainer trainer = Trainer.builder(ctx).layer("layer", layer("layer").build(ctx, weight)).build();
        trainer.close();
        assertThrows(IllegalStateException.class, () -> trainer.step(xm, xm));
        lin.close();
        assertThrows(IllegalStateException.class, () -> lin.forward(xm));
        ctx.close();
        assertThrows(IllegalStateException.class, xm::toArray);
        assertThrows(IllegalStateException.class, () -> ctx.zeros(1, 1));
        ctx.close();
    }
}
