package io.jnora.reliability;

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
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every native allocation has one owner (issue 11): many create/use/close cycles of every AutoCloseable
 * type leave JavaCPP's count of live native bytes ({@link Pointer#totalBytes()}) exactly where it was
 * after one warm-up cycle, without any help from the garbage collector: so nothing is left for a
 * deallocator to find. The warm-up absorbs what is made once per process (native libraries, OpenBLAS's
 * buffers, JavaCPP's own bookkeeping). The resident size ({@link Pointer#physicalBytes()}) is noisy (heap,
 * JIT, glibc arenas), so it is only bounded: it may not grow by more than 64 MiB over cycles that would
 * leak well over that if one allocation a cycle were lost (each cycle allocates more than 1 MiB natively).
 * Use after close is an {@link IllegalStateException}, never a crash.
 */
class NativeMemoryTest {
    private static final int CYCLES = 150;
    private static final int M = 96;
    private static final int N = 80;

    @TempDir
    Path dir;

    static AdapterLayer layer(String name) {
        return FixtureLayers.layer(name, M, N, 8, 4, 7);
    }

    /** One cycle: every AutoCloseable type created, used and closed. */
    private void cycle(Path adapterFile, float[] weight, float[] x) {
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

    @Test
    void manyCyclesOfEveryAutoCloseableTypeReturnTheNativeByteCountToWhereItWas() {
        float[] weight = FixtureLayers.ramp(M * N, 11);
        float[] x = FixtureLayers.ramp(16 * N, 12);
        Path adapterFile = dir.resolve("a.safetensors");
        NestedAdapterFile.write(adapterFile, List.of(layer("layer")));
        cycle(adapterFile, weight, x);  // warm-up: once-per-process allocations
        long total = Pointer.totalBytes();
        long physical = Pointer.physicalBytes();
        for (int i = 0; i < CYCLES; i++) {
            cycle(adapterFile, weight, x);
            // Never more than before; less is allowed: the tests before this one in the JVM may leave
            // garbage pointers that the collector frees during a cycle (seen: 8 bytes, once).
            long now = Pointer.totalBytes();
            assertTrue(now <= total, "live native bytes after cycle " + (i + 1) + ": " + now + ", was " + total);
            total = now;
        }
        long grown = Pointer.physicalBytes() - physical;
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
