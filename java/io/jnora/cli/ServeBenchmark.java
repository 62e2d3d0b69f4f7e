package io.jnora.cli;

import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.Association;
import io.jnora.NoraContext;
import io.jnora.Precision;
import io.jnora.serving.AdapterRegistry;
import io.jnora.synth.SyntheticLayer;
import java.io.PrintWriter;
import java.util.SplittableRandom;

/**
 * Serving many adapters in one batch (issue 7): for each batch size T and count A of distinct
 * adapters, the registry's grouped call (rows given adapters round-robin, so min(T, A) are in use)
 * against one nested adapter through {@link NestedLinear} (cached effective factors: two thin GEMMs
 * on top of the base GEMM) and against the base GEMM alone. Width n = m, outer rank 256, inner (and
 * effective) rank r_in. The target: grouped ≤ 1.2× single at A = 32 for T ≥ 256. In a half
 * precision X, Y, W and every adapter's factors are bfloat16/float16 (the single layer's inner
 * factors stay float32, as always).
 */
final class ServeBenchmark {
    private ServeBenchmark() {}

    static void run(NoraContext ctx, Precision precision, int width, int innerRank, int[] batchSizes, int[] adapterCounts, int warmup,
            int iterations, long seed, PrintWriter out, PrintWriter err) {
        int outerRank = Math.min(256, width);
        int maxAdapters = java.util.Arrays.stream(adapterCounts).max().orElse(1);
        SyntheticLayer layer = SyntheticLayer.random(seed, width, width, outerRank, Math.min(innerRank, outerRank), 1f);
        long budget = (long) maxAdapters * innerRank * 2L * width * precision.bytes();
        out.printf("jnora bench --suite serve on %s, %s: n = m = %d, nested single adapter r = %d, r_in = %d;"
                + " grouped adapters of rank %d%n", ctx.selection(), precision, width, outerRank, innerRank, innerRank);
        Table table = new Table("T", "adapters", "base ms", "single ms", "grouped ms", "grouped / single",
                "grouped / base");
        try (NestedLinear single = layer.build(ctx, precision);
                Matrix w = ctx.matrix(width, width, layer.baseWeight, precision);
                AdapterRegistry registry = new AdapterRegistry(ctx, layer.baseWeight, width, width, maxAdapters, budget,
                        precision)) {
            SplittableRandom rng = new SplittableRandom(seed + 1);
            for (int i = 0; i < maxAdapters; i++) {
                registry.add("adapter-" + i, random(rng, innerRank * width), random(rng, width * innerRank), innerRank,
                        0.5f);
            }
            for (int t : batchSizes) {
                try (Matrix x = ctx.matrix(t, width, layer.inputs(seed + 2, t), precision);
                        Matrix y = ctx.zeros(t, width, precision)) {
                    double base = median(ctx, warmup, iterations, () -> ctx.linear(x, w, y));
                    double one = median(ctx, warmup, iterations, () -> single.forward(x, y, Association.EFFECTIVE));
                    for (int a : adapterCounts) {
                        int[] rows = new int[t];
                        for (int i = 0; i < t; i++) {
                            rows[i] = registry.idOf("adapter-" + (i % a));
                        }
                        registry.stageRows(rows);
                        double grouped = median(ctx, warmup, iterations, () -> registry.applyStaged(x, y));
                        table.row(t, a, base, one, grouped, grouped / one, grouped / base);
                        err.printf("bench serve: T = %d, %d adapters: grouped %.3f ms%n", t, a, grouped);
                        err.flush();
                    }
                }
            }
        }
        table.print(out);
    }

    private static double median(NoraContext ctx, int warmup, int iterations, Runnable op) {
        Timing timing = new Timing(iterations);
        Runnable synced = () -> {
            op.run();
            ctx.synchronize();
        };
        for (int i = 0; i < warmup; i++) {
            synced.run();
        }
        for (int i = 0; i < iterations; i++) {
            timing.time(synced);
        }
        return timing.median();
    }

    private static float[] random(SplittableRandom rng, int count) {
        float[] a = new float[count];
        double bound = Math.sqrt(3.0 / Math.max(1, count));  // small factors: the output stays O(base)
        for (int i = 0; i < count; i++) {
            a[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
        }
        return a;
    }
}
