package io.jnora.serving;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.Backend;
import io.jnora.CapacityExceededException;
import io.jnora.JnoraException;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.Precision;
import io.jnora.ShapeMismatchException;
import io.jnora.adapter.AdapterLayer;
import io.jnora.init.InnerInit;
import io.jnora.init.InputScaling;
import io.jnora.init.NestedInitializer;
import io.jnora.init.NoraConfig;
import io.jnora.reference.Float64Reference;
import io.jnora.synth.SyntheticLayer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;

/** Several adapters in one batch (SPEC §2.9) against applying each row's adapter on its own. */
class AdapterRegistryTest {
    private static final long SEED = ThreadLocalRandom.current().nextLong();
    private static final int M = 50;
    private static final int N = 70;

    record Lora(int rank, float scale, float[] a, float[] b) {}

    private static Lora lora(SplittableRandom rng, int rank) {
        return lora(rng, rank, M, N);
    }

    private static Lora lora(SplittableRandom rng, int rank, int n) {
        return lora(rng, rank, M, n);
    }

    /** Random factors A (rank×n) and B (m×rank) and a scale in [0.25, 1.25). */
    static Lora lora(SplittableRandom rng, int rank, int m, int n) {
        float[] a = new float[rank * n];
        float[] b = new float[m * rank];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (rng.nextDouble() - 0.5);
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) (rng.nextDouble() - 0.5);
        }
        return new Lora(rank, (float) (0.25 + rng.nextDouble()), a, b);
    }

    private static double[] reference(float[] x, int rows, int n, float[] w, Lora[] adapters, int[] which) {
        return reference(x, rows, M, n, w, adapters, which);
    }

    /** Row t's output on its own, in float64: x Wᵀ + s (x Aᵀ) Bᵀ with the adapter adapters[which[t]] (none if < 0). */
    static double[] reference(float[] x, int rows, int m, int n, float[] w, Lora[] adapters, int[] which) {
        double[] y = new double[rows * m];
        for (int t = 0; t < rows; t++) {
            for (int j = 0; j < m; j++) {
                double acc = 0;
                for (int l = 0; l < n; l++) {
                    acc += (double) x[t * n + l] * w[j * n + l];
                }
                y[t * m + j] = acc;
            }
            if (which[t] < 0) {
                continue;
            }
            Lora a = adapters[which[t]];
            double[] z = new double[a.rank()];
            for (int k = 0; k < a.rank(); k++) {
                for (int l = 0; l < n; l++) {
                    z[k] += (double) x[t * n + l] * a.a()[k * n + l];
                }
            }
            for (int j = 0; j < m; j++) {
                double acc = 0;
                for (int k = 0; k < a.rank(); k++) {
                    acc += z[k] * a.b()[j * a.rank() + k];
                }
                y[t * m + j] += a.scale() * acc;
            }
        }
        return y;
    }

    private static void checkMixes(Backend backend) {
        checkMixes(backend, 37, N);
    }

    /**
     * Rows × n: 37 × 70 is a prefill-like batch; a few rows of a long n are decode batches, where the
     * CUDA shrink splits n (split-K) and the expand adds the partial sums.
     */
    private static void checkMixes(Backend backend, int rows, int n) {
        checkMixes(backend, rows, n, Precision.FLOAT32);
    }

    private static float[] rounded(float[] values, Precision precision) {
        float[] out = new float[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = precision.round(values[i]);
        }
        return out;
    }

    /**
     * In a half precision the registry stores X, W, the factors and Y in 2 bytes: the reference is
     * computed in float64 from the rounded values, and Y's one rounding allows SPEC §4's 1e-2.
     */
    private static void checkMixes(Backend backend, int rows, int n, Precision precision) {
        SplittableRandom rng = new SplittableRandom(SEED);
        SyntheticLayer base = SyntheticLayer.random(SEED, M, n, 4, 2, 1f);
        int[] ranks = {1, 2, 7, 16, 33, 50};  // 1 to min(m, n): no padding to the largest
        Lora[] adapters = new Lora[ranks.length];
        double tolerance = precision.isHalf() ? 1e-2 : 1e-5;
        try (NoraContext ctx = NoraContext.create(backend);
                AdapterRegistry registry = new AdapterRegistry(ctx, base.baseWeight, M, n, 8, 1 << 24, precision)) {
            int[] index = new int[ranks.length];
            for (int i = 0; i < ranks.length; i++) {
                Lora l = lora(rng, ranks[i], n);
                index[i] = registry.add("a" + i, l.a(), l.b(), ranks[i], l.scale());
                adapters[i] = new Lora(l.rank(), l.scale(), rounded(l.a(), precision), rounded(l.b(), precision));
            }
            float[] x = rounded(base.inputs(SEED + 1, rows), precision);
            float[] w = rounded(base.baseWeight, precision);
            String[] mixes = {"all rows one adapter", "every row different", "some rows none", "no adapter at all"};
            for (String mix : mixes) {
                int[] which = new int[rows];
                for (int t = 0; t < rows; t++) {
                    which[t] = switch (mix) {
                        case "all rows one adapter" -> 3;
                        case "every row different" -> t % ranks.length;
                        case "some rows none" -> rng.nextInt(ranks.length + 2) - 2 < 0 ? -1 : rng.nextInt(ranks.length);
                        default -> -1;
                    };
                }
                int[] slots = new int[rows];
                for (int t = 0; t < rows; t++) {
                    slots[t] = which[t] < 0 ? -1 : index[which[t]];
                }
                double[] want = reference(x, rows, n, w, adapters, which);
                try (Matrix xm = ctx.matrix(rows, n, x, precision); Matrix y = registry.apply(xm, slots)) {
                    assertEquals(precision, y.precision());
                    double err = Float64Reference.relativeFrobeniusError(y.toArray(), want);
                    assertTrue(err <= tolerance, backend + " " + precision + " " + rows + "×" + n + " " + mix + ": " + err
                            + " (seed " + SEED + ")");
                }
                // The staged path into a poisoned Y: every element written, the same values.
                try (Matrix xm = ctx.matrix(rows, n, x, precision); Matrix y = ctx.filled(rows, M, Float.NaN, precision)) {
                    registry.stageRows(slots);
                    registry.applyStaged(xm, y);
                    double err = Float64Reference.relativeFrobeniusError(y.toArray(), want);
                    assertTrue(err <= tolerance, backend + " " + precision + " staged " + rows + "×" + n + " " + mix + ": "
                            + err);
                }
            }
        }
    }

    @Test
    void randomMixesMatchEachRowsOwnAdapterOnTheCpu() {
        checkMixes(Backend.CPU);
    }

    @Test
    void randomMixesMatchOnCuda() {
        io.jnora.GpuTests.requireCuda("AdapterRegistryTest");
        checkMixes(Backend.CUDA);
    }

    @Test
    void decodeBatchesMatchOnTheCpu() {
        for (int rows : new int[] {1, 3}) {
            checkMixes(Backend.CPU, rows, 1031);
        }
    }

    /** T = 1 and 3 at n = 1031 split n into 8 to 37 slices on CUDA (jnora_grouped_splits). */
    @Test
    void decodeBatchesMatchOnCudaWithSplitK() {
        io.jnora.GpuTests.requireCuda("AdapterRegistryTest");
        for (int rows : new int[] {1, 3}) {
            checkMixes(Backend.CUDA, rows, 1031);
        }
    }

    @Test
    void prefillBatchesMatchOnTheCpu() {
        for (int rows : new int[] {17, 200}) {
            checkMixes(Backend.CPU, rows, 1031);
        }
    }

    /**
     * 17 rows (the first size past decode) and 200 run the segment-grouped kernels on CUDA: tiles of
     * one adapter cut at 64 rows, and split-K over n = 1031 (jnora_segmented_splits).
     */
    @Test
    void prefillBatchesMatchOnCudaSegmented() {
        io.jnora.GpuTests.requireCuda("AdapterRegistryTest");
        for (int rows : new int[] {17, 200}) {
            checkMixes(Backend.CUDA, rows, 1031);
        }
    }

    /** bf16 and fp16 registries: decode (row at a time on CUDA) and prefill (segment-grouped) batches. */
    @Test
    void halfPrecisionRegistriesMatchOnTheCpu() {
        for (Precision p : new Precision[] {Precision.BFLOAT16, Precision.FLOAT16}) {
            checkMixes(Backend.CPU, 3, 1031, p);
            checkMixes(Backend.CPU, 200, 1031, p);
        }
    }

    @Test
    void halfPrecisionRegistriesMatchOnCuda() {
        io.jnora.GpuTests.requireCuda("AdapterRegistryTest");
        for (Precision p : new Precision[] {Precision.BFLOAT16, Precision.FLOAT16}) {
            checkMixes(Backend.CUDA, 3, 1031, p);
            checkMixes(Backend.CUDA, 200, 1031, p);
        }
    }

    /** A half registry counts 2 bytes an element against its budget and refuses X of another precision. */
    @Test
    void halfPrecisionRegistryBudgetsAndRefusesOtherPrecisions() {
        SyntheticLayer base = SyntheticLayer.random(SEED, M, N, 4, 2, 1f);
        SplittableRandom rng = new SplittableRandom(SEED);
        Lora l = lora(rng, 4);
        try (NoraContext ctx = NoraContext.create(Backend.CPU);
                AdapterRegistry registry = new AdapterRegistry(ctx, base.baseWeight, M, N, 2, 1 << 20, Precision.BFLOAT16)) {
            registry.add("a", l.a(), l.b(), 4, l.scale());
            assertEquals(4L * (M + N) * 2, registry.bytesInUse());
            try (Matrix x = ctx.matrix(3, N, base.inputs(SEED, 3))) {
                ShapeMismatchException e = assertThrows(ShapeMismatchException.class,
                        () -> registry.apply(x, new int[] {0, -1, 0}));
                assertTrue(e.getMessage().contains("FLOAT32") && e.getMessage().contains("BFLOAT16"), e.getMessage());
            }
            assertEquals(3, ctx.openMatrices(), "the base weight and the adapter's two factors; no Y left behind");
        }
    }

    @Test
    void stagedRowsMustMatchTheBatch() {
        SplittableRandom rng = new SplittableRandom(SEED);
        SyntheticLayer base = SyntheticLayer.random(SEED, M, N, 4, 2, 1f);
        try (NoraContext ctx = NoraContext.create(Backend.CPU);
                AdapterRegistry registry = new AdapterRegistry(ctx, base.baseWeight, M, N, 2, 1 << 20);
                Matrix x = ctx.matrix(3, N, base.inputs(SEED, 3)); Matrix y = ctx.zeros(3, M);
                Matrix wrongY = ctx.zeros(3, M + 1)) {
            Lora a = lora(rng, 4);
            registry.add("a", a.a(), a.b(), 4, 1f);
            assertThrows(io.jnora.ShapeMismatchException.class, () -> registry.applyStaged(x, y));  // nothing staged
            registry.stageRows(new int[] {0, -1});
            assertThrows(io.jnora.ShapeMismatchException.class, () -> registry.applyStaged(x, y));  // 2 rows for 3
            registry.stageRows(new int[] {0, -1, 0});
            assertThrows(io.jnora.ShapeMismatchException.class, () -> registry.applyStaged(x, wrongY));
            registry.applyStaged(x, y);
            assertThrows(JnoraException.class, () -> registry.stageRows(new int[] {1, 0, 0}));  // slot 1 empty
        }
    }

    @Test
    void nestedAdaptersServeWhatTheirLayersCompute() {
        SyntheticLayer base = SyntheticLayer.random(SEED, M, N, 8, 3, 1f);
        try (NoraContext ctx = NoraContext.create(Backend.CPU);
                AdapterRegistry registry = new AdapterRegistry(ctx, base.baseWeight, M, N, 4, 1 << 20)) {
            List<AdapterLayer> nested = new ArrayList<>();
            for (InnerInit init : new InnerInit[] {InnerInit.ZERO, InnerInit.SIGMA}) {
                var w = NestedInitializer.initialize(base.baseWeight, M, N, InputScaling.identity(N),
                        NoraConfig.builder().outerRank(8).innerRank(3).init(init).seed(SEED).build());
                AdapterLayer l = AdapterLayer.of(init.name(), w);
                float[] innerB = l.innerB().clone();
                for (int i = 0; i < innerB.length; i++) {
                    innerB[i] += 0.3f * (i % 5 - 2);  // "trained": the adapter term shows
                }
                nested.add(l.withInner(l.innerA(), innerB));
                registry.add(init.name(), nested.get(nested.size() - 1));
            }
            int rows = 6;
            float[] x = base.inputs(SEED + 2, rows);
            int[] which = {0, 1, -1, 1, 0, 0};
            try (Matrix xm = ctx.matrix(rows, N, x); Matrix y = registry.apply(xm, which)) {
                float[] got = y.toArray();
                for (int t = 0; t < rows; t++) {
                    float[] row = java.util.Arrays.copyOfRange(x, t * N, (t + 1) * N);
                    float[] want;
                    try (Matrix xr = ctx.matrix(1, N, row); Matrix yr = ctx.zeros(1, M)) {
                        if (which[t] < 0) {
                            try (Matrix w = ctx.matrix(M, N, base.baseWeight)) {
                                ctx.linear(xr, w, yr);
                            }
                        } else {
                            try (NestedLinear l = nested.get(which[t]).build(ctx, base.baseWeight)) {
                                l.forward(xr, yr, io.jnora.Association.OUTER_FIRST);
                            }
                        }
                        want = yr.toArray();
                    }
                    double err = Float64Reference.relativeFrobeniusError(java.util.Arrays.copyOfRange(got, t * M, (t + 1) * M),
                            Float64Reference.toDouble(want));
                    assertTrue(err <= 1e-5, "row " + t + ": " + err);
                }
            }
        }
    }

    @Test
    void budgetsSlotsNamesAndIndicesAreChecked() {
        SplittableRandom rng = new SplittableRandom(SEED);
        SyntheticLayer base = SyntheticLayer.random(SEED, M, N, 4, 2, 1f);
        long oneRank4 = 4L * (M + N) * Float.BYTES;
        try (NoraContext ctx = NoraContext.create(Backend.CPU);
                AdapterRegistry registry = new AdapterRegistry(ctx, base.baseWeight, M, N, 2, 2 * oneRank4)) {
            Lora a = lora(rng, 4);
            registry.add("a", a.a(), a.b(), 4, 1f);
            assertThrows(IllegalArgumentException.class, () -> registry.add("a", a.a(), a.b(), 4, 1f));
            Lora big = lora(rng, 5);
            CapacityExceededException e = assertThrows(CapacityExceededException.class,
                    () -> registry.add("big", big.a(), big.b(), 5, 1f));
            assertTrue(e.getMessage().contains("big") && e.getMessage().contains(String.valueOf(2 * oneRank4)), e.getMessage());
            registry.add("b", a.a(), a.b(), 4, 1f);
            assertThrows(CapacityExceededException.class, () -> registry.add("c", lora(rng, 1).a(), lora(rng, 1).b(), 1, 1f));
            try (Matrix x = ctx.zeros(3, N)) {
                JnoraException bad = assertThrows(JnoraException.class, () -> registry.apply(x, new int[] {0, 5, -1}));
                assertTrue(bad.getMessage().contains("row 1") && bad.getMessage().contains("id 5, which is not resident"),
                        bad.getMessage());
                registry.remove("a");
                JnoraException gone = assertThrows(JnoraException.class, () -> registry.apply(x, new int[] {0, -1, -1}));
                assertTrue(gone.getMessage().contains("id 0, which is no longer resident"), gone.getMessage());
                assertEquals(2, registry.add("d", a.a(), a.b(), 4, 1f), "the freed slot 0 again, under a new id");
                assertEquals(2, registry.idOf("d"));
                assertThrows(JnoraException.class, () -> registry.apply(x, new int[] {0, -1, -1}));  // still gone
                registry.apply(x, new int[] {2, 1, -1}).close();
            }
            assertThrows(JnoraException.class, () -> registry.remove("zzz"));
        }
    }
}
