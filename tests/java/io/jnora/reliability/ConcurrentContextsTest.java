package io.jnora.reliability;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.jnora.Backend;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.adapter.AdapterLayer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Many threads, each with its own context, share one read-only adapter (the same {@link AdapterLayer}
 * host arrays and base weight) and must give exactly the single-threaded outputs: the layer's arrays
 * are only read, and a context is confined to its thread. Bit-identical is the bar since every thread
 * runs the same CPU computation on the same sizes (OpenBLAS is deterministic for a given shape). Bounded
 * at 60 s so that a deadlock fails instead of hanging CI.
 */
class ConcurrentContextsTest {
    private static final int THREADS = 8;
    private static final int ROUNDS = 25;
    private static final int M = 64;
    private static final int N = 48;
    private static final int ROWS = 9;

    private static float[] forward(AdapterLayer shared, float[] weight, float[] x) {
        try (NoraContext ctx = NoraContext.create(Backend.CPU); NestedLinear lin = shared.build(ctx, weight);
                Matrix xm = ctx.matrix(ROWS, N, x); Matrix y = lin.forward(xm)) {
            return y.toArray();
        }
    }

    @Test
    void threadsOnIndependentContextsSharingOneAdapterMatchTheSingleThreadedResult() {
        AdapterLayer shared = FixtureLayers.layer("layer", M, N, 8, 4, 3);
        float[] weight = FixtureLayers.ramp(M * N, 4);
        float[][] inputs = new float[THREADS][];
        float[][] expected = new float[THREADS][];
        for (int t = 0; t < THREADS; t++) {
            inputs[t] = FixtureLayers.ramp(ROWS * N, 100 + t);
            expected[t] = forward(shared, weight, inputs[t]);
        }
        float[] sharedA = shared.outerA().clone();
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            try {
                List<Future<?>> futures = new ArrayList<>();
                for (int t = 0; t < THREADS; t++) {
                    int id = t;
                    futures.add(pool.submit(() -> {
                        for (int round = 0; round < ROUNDS; round++) {
                            assertArrayEquals(expected[id], forward(shared, weight, inputs[id]), "thread " + id + ", round " + round);
                        }
                        return null;
                    }));
                }
                for (Future<?> f : futures) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
        });
        assertArrayEquals(sharedA, shared.outerA(), "the shared adapter was written to");
    }
}
