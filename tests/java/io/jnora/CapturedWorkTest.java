package io.jnora;

import static io.jnora.Tolerances.FLOAT32_VS_FLOAT64;
import static io.jnora.Tolerances.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.backend.CapturedWork;
import io.jnora.reference.Float64Reference;
import io.jnora.serving.AdapterRegistry;
import io.jnora.synth.SyntheticLayer;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link NoraContext#capture}: a whole layer step (forward and backward) and a registry's staged
 * batch recorded once and replayed with new inputs give what a direct call gives. On CUDA this is a
 * CUDA graph, so the test also shows that the hot path neither allocates nor synchronises.
 */
class CapturedWorkTest {
    private static final long SEED = ThreadLocalRandom.current().nextLong();

    private static void layerStepReplays(Backend backend) {
        LayerCase c = LayerCase.of(19, 150, 90, 24, 6, 1.5f);
        SyntheticLayer layer = c.layer();
        try (NoraContext ctx = NoraContext.create(backend);
                NestedLinear linear = layer.build(ctx);
                Matrix x = ctx.matrix(c.rows(), c.in(), c.inputs(layer));
                Matrix dy = ctx.matrix(c.rows(), c.out(), c.upstream(layer));
                Matrix y = ctx.filled(c.rows(), c.out(), Float.NaN);
                Gradients g = new Gradients(ctx.zeros(c.rIn(), c.r()), ctx.zeros(c.r(), c.rIn()),
                        ctx.zeros(c.rows(), c.in()))) {
            Runnable step = () -> {
                linear.forward(x, y, Association.EFFECTIVE);
                linear.backward(x, dy, g);
            };
            step.run();  // warm-up: scratch and the effective-factor cache are made outside the capture
            try (CapturedWork captured = ctx.capture(step)) {
                for (int round = 0; round < 3; round++) {
                    float[] xs = layer.inputs(SEED + round, c.rows());
                    x.copyFrom(xs);
                    y.copyFrom(filled(c.rows() * c.out(), 1e30f));  // poison (finite: copyFrom refuses NaN)
                    captured.replay();
                    ctx.synchronize();
                    double[] want = Float64Reference.forward(layer.toReference(), Float64Reference.toDouble(xs),
                            c.rows());
                    assertClose(backend + " replay " + round + " Y", y.toArray(), want, FLOAT32_VS_FLOAT64);
                    float[] replayedDx = g.input().toArray();
                    step.run();  // the direct call on the same inputs
                    ctx.synchronize();
                    // cuBLAS may pick another algorithm inside a capture: equal to float rounding, not bitwise.
                    assertClose(backend + " replay " + round + " dX", replayedDx,
                            Float64Reference.toDouble(g.input().toArray()), 1e-6);
                }
            }
        }
    }

    private static float[] random(long seed, int count) {
        java.util.SplittableRandom rng = new java.util.SplittableRandom(seed);
        float[] a = new float[count];
        for (int i = 0; i < count; i++) {
            a[i] = (float) (rng.nextDouble() - 0.5);
        }
        return a;
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        Arrays.fill(a, v);
        return a;
    }

    @Test
    void aLayerStepReplaysOnTheCpu() {
        layerStepReplays(Backend.CPU);
    }

    @Test
    void aLayerStepReplaysAsACudaGraph() {
        GpuTests.requireCuda("CapturedWorkTest");
        layerStepReplays(Backend.CUDA);
    }

    /**
     * 2 rows run the row-at-a-time kernels on CUDA, 40 the segment-grouped ones, whose layout is
     * uploaded by stageRows: each replay must follow the new rows. Staging another row count and
     * replaying is refused (the graph's grids and Y are for the recorded count).
     */
    private static void registryBatchReplays(Backend backend, int rows) {
        int m = 40;
        int n = 1031;  // decode rows over a long n: the split-K path
        SyntheticLayer base = SyntheticLayer.random(SEED, m, n, 4, 2, 1f);
        try (NoraContext ctx = NoraContext.create(backend);
                AdapterRegistry registry = new AdapterRegistry(ctx, base.baseWeight, m, n, 4, 1 << 24)) {
            float[][] a = new float[2][];
            float[][] b = new float[2][];
            int[] ranks = {3, 16};
            for (int i = 0; i < 2; i++) {
                a[i] = random(SEED + 10 + i, ranks[i] * n);
                b[i] = random(SEED + 20 + i, m * ranks[i]);
                registry.add("a" + i, a[i], b[i], ranks[i], 0.5f + i);
            }
            java.util.SplittableRandom rng = new java.util.SplittableRandom(SEED);
            int[][] mixes = new int[4][rows];
            for (int t = 0; t < rows; t++) {
                mixes[0][t] = t % 2;
                mixes[1][t] = 1 - t % 2;
                mixes[2][t] = rng.nextInt(3) - 1;
                mixes[3][t] = 0;
            }
            try (Matrix x = ctx.matrix(rows, n, base.inputs(SEED, rows)); Matrix y = ctx.zeros(rows, m)) {
                registry.apply(x, mixes[0], y);  // warm-up
                try (CapturedWork batch = ctx.capture(() -> registry.applyStaged(x, y))) {
                    for (int[] mix : mixes) {
                        float[] xs = base.inputs(SEED + mix[0] + mix[rows - 1] + 5, rows);
                        x.copyFrom(xs);
                        registry.stageRows(mix);
                        batch.replay();
                        float[] replayed = y.toArray();
                        try (Matrix direct = registry.apply(x, mix)) {
                            double err = Float64Reference.relativeFrobeniusError(replayed,
                                    Float64Reference.toDouble(direct.toArray()));
                            assertTrue(err <= 1e-6, backend + " " + Arrays.toString(mix) + ": " + err + " (seed " + SEED + ")");
                        }
                    }
                    registry.stageRows(Arrays.copyOf(mixes[0], rows - 1));
                    RuntimeException e = assertThrows(RuntimeException.class, batch::replay);
                    if (backend == Backend.CUDA) {  // the recorded graph's own check, before any launch
                        assertTrue(e instanceof IllegalStateException
                                && e.getMessage().contains("recorded for " + rows + " rows"), e.toString());
                    } else {  // the CPU runs the step again: the registry's check refuses
                        assertTrue(e instanceof ShapeMismatchException && e.getMessage().contains("staged"), e.toString());
                    }
                }
            }
        }
    }

    /**
     * An AdamW update or a sum of squares (a host value) inside a captured step is refused (recording
     * on CUDA, the replay's run on the CPU).
     */
    private static void adamwIsRefusedInsideACapturedStep(Backend backend) {
        try (NoraContext ctx = NoraContext.create(backend);
                Matrix p = ctx.matrix(2, 3, random(SEED, 6)); Matrix g = ctx.matrix(2, 3, random(SEED + 1, 6));
                Matrix m = ctx.zeros(2, 3); Matrix v = ctx.zeros(2, 3)) {
            Runnable step = () -> TensorOps.adamwStep(List.of(p), List.of(g), List.of(m), List.of(v), 1e-3f, 0.9f,
                    0.999f, 1e-8f, 0f, 1f, 1);
            step.run();  // outside a capture it runs
            float[] before = p.toArray();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> {
                try (CapturedWork work = ctx.capture(step)) {
                    work.replay();
                }
            });
            assertTrue(e.getMessage().contains("TensorOps.adamwStep: cannot be part of a captured step"), e.getMessage());
            assertArrayEquals(before, p.toArray(), "no update ran");
            IllegalStateException sum = assertThrows(IllegalStateException.class, () -> {
                try (CapturedWork work = ctx.capture(() -> TensorOps.sumOfSquares(List.of(g)))) {
                    work.replay();
                }
            });
            assertTrue(sum.getMessage().contains("TensorOps.sumOfSquares: cannot be part of a captured step"),
                    sum.getMessage());
        }
    }

    @Test
    void adamwIsRefusedInsideACapturedStepOnTheCpu() {
        adamwIsRefusedInsideACapturedStep(Backend.CPU);
    }

    @Test
    void adamwIsRefusedInsideACudaGraph() {
        GpuTests.requireCuda("CapturedWorkTest");
        adamwIsRefusedInsideACapturedStep(Backend.CUDA);
    }

    /** Staging rows or changing adapters uploads and waits: inside a captured step it is refused. */
    @Test
    void registryChangesInsideACapturedStepAreRefused() {
        SyntheticLayer base = SyntheticLayer.random(SEED, 20, 30, 4, 2, 1f);
        try (NoraContext ctx = NoraContext.create(Backend.CPU);
                AdapterRegistry registry = new AdapterRegistry(ctx, base.baseWeight, 20, 30, 2, 1 << 20);
                Matrix x = ctx.matrix(2, 30, base.inputs(SEED, 2)); Matrix y = ctx.zeros(2, 20)) {
            registry.add("a", random(SEED, 3 * 30), random(SEED + 1, 20 * 3), 3, 1f);
            for (Runnable step : new Runnable[] {() -> registry.apply(x, new int[] {0, 0}, y),
                    () -> registry.add("b", random(SEED, 30), random(SEED, 20), 1, 1f), () -> registry.remove("a")}) {
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> {
                    try (CapturedWork work = ctx.capture(step)) {
                        work.replay();
                    }
                });
                assertTrue(e.getMessage().contains("cannot be part of a captured step"), e.getMessage());
            }
            assertEquals(List.of("a"), registry.names());
        }
    }

    /** While one thread records a step, another thread's use of the context is refused, not recorded. */
    @Test
    void anotherThreadIsRefusedWhileAStepIsRecorded() throws Exception {
        GpuTests.requireCuda("CapturedWorkTest");
        try (NoraContext ctx = NoraContext.create(Backend.CUDA); Matrix a = ctx.zeros(4, 4); Matrix b = ctx.zeros(4, 4)) {
            java.util.concurrent.CountDownLatch recording = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.CountDownLatch tried = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.atomic.AtomicReference<Throwable> other = new java.util.concurrent.atomic.AtomicReference<>();
            Thread t = new Thread(() -> {
                try {
                    recording.await();
                    TensorOps.multiplyAdd(1f, b, null, 0f, b);
                } catch (Throwable e) {
                    other.set(e);
                } finally {
                    tried.countDown();
                }
            }, "other");
            t.start();
            try (CapturedWork step = ctx.capture(() -> {
                TensorOps.multiplyAdd(2f, a, null, 0f, a);
                recording.countDown();
                try {
                    tried.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            })) {
                step.replay();
            }
            t.join();
            assertTrue(other.get() instanceof IllegalStateException
                    && other.get().getMessage().contains("is recording a step"), String.valueOf(other.get()));
        }
    }

    /** A forward recorded unmerged is refused after merge() (the graph would add the adapter twice). */
    @Test
    void aCudaGraphOfAForwardIsRefusedAfterMerge() {
        GpuTests.requireCuda("CapturedWorkTest");
        LayerCase c = LayerCase.of(4, 40, 30, 8, 2, 1f);
        SyntheticLayer layer = c.layer();
        try (NoraContext ctx = NoraContext.create(Backend.CUDA); NestedLinear linear = layer.build(ctx);
                Matrix x = ctx.matrix(c.rows(), c.in(), c.inputs(layer)); Matrix y = ctx.zeros(c.rows(), c.out())) {
            linear.forward(x, y, Association.EFFECTIVE);
            try (CapturedWork step = ctx.capture(() -> linear.forward(x, y, Association.EFFECTIVE))) {
                step.replay();
                linear.merge();
                IllegalStateException e = assertThrows(IllegalStateException.class, step::replay);
                assertTrue(e.getMessage().contains("was merged since it was recorded"), e.getMessage());
                linear.unmerge();
                step.replay();
            }
        }
    }

    @Test
    void aRegistryBatchReplaysOnTheCpu() {
        registryBatchReplays(Backend.CPU, 2);
        registryBatchReplays(Backend.CPU, 40);
    }

    @Test
    void aRegistryBatchReplaysAsACudaGraph() {
        GpuTests.requireCuda("CapturedWorkTest");
        registryBatchReplays(Backend.CUDA, 2);
        registryBatchReplays(Backend.CUDA, 40);
    }

    @Test
    void nothingRunsWhileRecordingAndAClosedCaptureRefusesReplays() {
        try (NoraContext ctx = NoraContext.create(Backend.CPU)) {
            int[] runs = {0};
            CapturedWork work = ctx.capture(() -> runs[0]++);
            assertEquals(0, runs[0]);
            work.replay();
            work.replay();
            assertEquals(2, runs[0]);
            work.close();
            assertThrows(IllegalStateException.class, work::replay);
        }
    }

    private static void assertRefused(String what, CapturedWork work) {
        IllegalStateException e = assertThrows(IllegalStateException.class, work::replay);
        assertEquals("NoraContext.capture: cannot replay, " + what + " recorded in this step was closed;"
                + " capture the step again", e.getMessage());
    }

    /**
     * A layer step whose matrix or layer was closed after the recording is refused, naming it, before
     * anything runs (Y keeps its poison); replays before the close give what a direct call gives.
     */
    private static void replayAfterACloseIsRefused(Backend backend) {
        LayerCase c = LayerCase.of(19, 150, 90, 24, 6, 1.5f);
        SyntheticLayer layer = c.layer();
        try (NoraContext ctx = NoraContext.create(backend);
                NestedLinear linear = layer.build(ctx);
                Matrix x = ctx.matrix(c.rows(), c.in(), c.inputs(layer));
                Matrix dy = ctx.matrix(c.rows(), c.out(), c.upstream(layer));
                Matrix y = ctx.zeros(c.rows(), c.out());
                Gradients g = new Gradients(ctx.zeros(c.rIn(), c.r()), ctx.zeros(c.r(), c.rIn()),
                        ctx.zeros(c.rows(), c.in()))) {
            Runnable step = () -> {
                linear.forward(x, y, Association.OUTER_FIRST);
                linear.backward(x, dy, g);
            };
            step.run();
            float[] direct = y.toArray();
            float[] directDx = g.input().toArray();
            float[] poison = filled(c.rows() * c.out(), 1e30f);
            try (CapturedWork captured = ctx.capture(step)) {
                y.copyFrom(poison);
                captured.replay();
                ctx.synchronize();
                assertClose(backend + " replay Y", y.toArray(), Float64Reference.toDouble(direct), 1e-6);
                assertClose(backend + " replay dX", g.input().toArray(), Float64Reference.toDouble(directDx), 1e-6);
                y.copyFrom(poison);
                dy.close();
                assertRefused("matrix " + c.rows() + "×" + c.out(), captured);
                assertEquals(1e30f, y.toArray()[0], "nothing ran");
                assertRefused("matrix " + c.rows() + "×" + c.out(), captured);  // and stays refused
            }
            try (CapturedWork forward = ctx.capture(() -> linear.forward(x, y, Association.EFFECTIVE))) {
                forward.replay();
                linear.close();
                assertRefused("NestedLinear (90×150, r=24, r_in=6)", forward);
            }
        }
    }

    @Test
    void aReplayAfterAMatrixOrTheLayerWasClosedIsRefusedOnTheCpu() {
        replayAfterACloseIsRefused(Backend.CPU);
    }

    @Test
    void aReplayAfterAMatrixOrTheLayerWasClosedIsRefusedAsACudaGraph() {
        GpuTests.requireCuda("CapturedWorkTest");
        replayAfterACloseIsRefused(Backend.CUDA);
    }

    /**
     * Closed before the first replay: CUDA refuses from what the recording noted, the CPU (whose
     * recording runs nothing) when its run reaches the closed input; the same error either way.
     */
    private static void firstReplayAfterACloseIsRefused(Backend backend) {
        LayerCase c = LayerCase.of(4, 40, 30, 8, 2, 1f);
        SyntheticLayer layer = c.layer();
        try (NoraContext ctx = NoraContext.create(backend); NestedLinear linear = layer.build(ctx);
                Matrix y = ctx.zeros(c.rows(), c.out())) {
            Matrix x = ctx.matrix(c.rows(), c.in(), c.inputs(layer));
            linear.forward(x, y, Association.EFFECTIVE);
            try (CapturedWork step = ctx.capture(() -> linear.forward(x, y, Association.EFFECTIVE))) {
                x.close();
                assertRefused("matrix 4×40", step);
            }
            try (Matrix x2 = ctx.matrix(c.rows(), c.in(), c.inputs(layer));
                    CapturedWork step = ctx.capture(() -> linear.forward(x2, y, Association.EFFECTIVE))) {
                linear.close();
                assertRefused("NestedLinear (30×40, r=8, r_in=2)", step);
            }
        }
    }

    @Test
    void aFirstReplayAfterACloseIsRefusedOnTheCpu() {
        firstReplayAfterACloseIsRefused(Backend.CPU);
    }

    @Test
    void aFirstReplayAfterACloseIsRefusedAsACudaGraph() {
        GpuTests.requireCuda("CapturedWorkTest");
        firstReplayAfterACloseIsRefused(Backend.CUDA);
    }

    /**
     * A registry's captured batch: removing an adapter keeps replays safe (its rows get no term, as a
     * direct batch with −1 for them); closing the registry refuses them, naming it.
     */
    private static void registryBatchAfterRemoveAndClose(Backend backend) {
        int m = 40;
        int n = 64;
        SyntheticLayer base = SyntheticLayer.random(SEED, m, n, 4, 2, 1f);
        try (NoraContext ctx = NoraContext.create(backend);
                Matrix x = ctx.matrix(2, n, base.inputs(SEED, 2)); Matrix y = ctx.zeros(2, m)) {
            AdapterRegistry registry = new AdapterRegistry(ctx, base.baseWeight, m, n, 4, 1 << 24);
            try {
                registry.add("a", random(SEED, 4 * n), random(SEED + 1, m * 4), 4, 1f);
                registry.add("b", random(SEED + 2, 3 * n), random(SEED + 3, m * 3), 3, 0.5f);
                registry.apply(x, new int[] {0, 1}, y);
                try (CapturedWork batch = ctx.capture(() -> registry.applyStaged(x, y))) {
                    batch.replay();
                    registry.remove("a");  // row 0 still names slot 0
                    batch.replay();
                    float[] replayed = y.toArray();
                    try (Matrix direct = registry.apply(x, new int[] {-1, 1})) {
                        assertClose(backend + " replay after remove", replayed,
                                Float64Reference.toDouble(direct.toArray()), 1e-6);
                    }
                    registry.stageRows(new int[] {1, 1});
                    registry.close();
                    assertRefused("AdapterRegistry (W 40×64)", batch);
                }
            } finally {
                registry.close();
            }
        }
    }

    /**
     * A registry batch captured before it ever ran has no scratch: allocating it inside the recording
     * would be recorded too, so it is refused, saying to run the batch once first (CUDA: at capture;
     * the CPU records nothing and refuses at the replay, which runs the step).
     */
    private static void registryBatchCapturedBeforeItsFirstRun(Backend backend) {
        int m = 20;
        int n = 30;
        SyntheticLayer base = SyntheticLayer.random(SEED, m, n, 4, 2, 1f);
        try (NoraContext ctx = NoraContext.create(backend);
                AdapterRegistry registry = new AdapterRegistry(ctx, base.baseWeight, m, n, 2, 1 << 20);
                Matrix x = ctx.matrix(3, n, base.inputs(SEED, 3)); Matrix y = ctx.zeros(3, m)) {
            registry.add("a", random(SEED, 3 * n), random(SEED + 1, m * 3), 3, 1f);
            registry.stageRows(new int[] {0, -1, 0});
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> {
                try (CapturedWork batch = ctx.capture(() -> registry.applyStaged(x, y))) {
                    batch.replay();
                }
            });
            assertTrue(e.getMessage().contains("run it once before capturing it"), e.getMessage());
            registry.applyStaged(x, y);  // the first run outside a capture
            try (CapturedWork batch = ctx.capture(() -> registry.applyStaged(x, y))) {
                batch.replay();
            }
        }
    }

    @Test
    void aRegistryBatchCapturedBeforeItsFirstRunIsRefusedOnTheCpu() {
        registryBatchCapturedBeforeItsFirstRun(Backend.CPU);
    }

    @Test
    void aRegistryBatchCapturedBeforeItsFirstRunIsRefusedOnCuda() {
        GpuTests.requireCuda("CapturedWorkTest");
        registryBatchCapturedBeforeItsFirstRun(Backend.CUDA);
    }

    @Test
    void aRegistryBatchSurvivesARemoveAndIsRefusedAfterCloseOnTheCpu() {
        registryBatchAfterRemoveAndClose(Backend.CPU);
    }

    @Test
    void aRegistryBatchSurvivesARemoveAndIsRefusedAfterCloseAsACudaGraph() {
        GpuTests.requireCuda("CapturedWorkTest");
        registryBatchAfterRemoveAndClose(Backend.CUDA);
    }

    /**
     * A direct call with more rows than the recording outgrows the layer's scratch: the old scratch
     * is kept while the capture is open (a graph holds its address), so replays go on, and freed
     * when the capture is closed.
     */
    private static void outgrownScratchIsKeptForTheCapture(Backend backend) {
        LayerCase c = LayerCase.of(3, 40, 30, 8, 2, 1f);
        SyntheticLayer layer = c.layer();
        try (NoraContext ctx = NoraContext.create(backend); NestedLinear linear = layer.build(ctx);
                Matrix x = ctx.matrix(c.rows(), c.in(), c.inputs(layer)); Matrix y = ctx.zeros(c.rows(), c.out());
                Matrix bigX = ctx.matrix(50, c.in(), layer.inputs(SEED, 50)); Matrix bigY = ctx.zeros(50, c.out())) {
            linear.forward(x, y, Association.OUTER_FIRST);
            float[] direct = y.toArray();
            int open;
            try (CapturedWork step = ctx.capture(() -> linear.forward(x, y, Association.OUTER_FIRST))) {
                linear.forward(bigX, bigY, Association.OUTER_FIRST);  // a larger workspace
                y.copyFrom(filled(c.rows() * c.out(), 1e30f));
                step.replay();
                assertClose(backend + " replay after the scratch grew", y.toArray(), Float64Reference.toDouble(direct),
                        1e-6);
                open = ctx.openMatrices();
            }
            assertEquals(open - 6, ctx.openMatrices(), "the outgrown chain Z1..dZ3 is freed with the capture");
        }
    }

    @Test
    void outgrownScratchIsKeptForTheCaptureOnTheCpu() {
        outgrownScratchIsKeptForTheCapture(Backend.CPU);
    }

    @Test
    void outgrownScratchIsKeptForTheCaptureAsACudaGraph() {
        GpuTests.requireCuda("CapturedWorkTest");
        outgrownScratchIsKeptForTheCapture(Backend.CUDA);
    }

    /**
     * The CPU re-runs the step, so matrices the step makes and closes itself are not held against
     * later replays; a step that replays another captured step is refused.
     */
    @Test
    void cpuReplaysForgetTheirTemporariesAndNestedReplaysAreRefused() {
        LayerCase c = LayerCase.of(5, 40, 30, 8, 2, 1f);
        SyntheticLayer layer = c.layer();
        try (NoraContext ctx = NoraContext.create(Backend.CPU); NestedLinear linear = layer.build(ctx);
                Matrix x = ctx.matrix(c.rows(), c.in(), c.inputs(layer)); Matrix y = ctx.zeros(c.rows(), c.out())) {
            try (CapturedWork step = ctx.capture(() -> {
                try (Matrix t = linear.forward(x)) {
                    TensorOps.multiplyAdd(1f, t, null, 0f, y);
                }
            })) {
                for (int round = 0; round < 3; round++) {
                    step.replay();
                }
            }
            // A step that replays another captured step is refused (on CUDA: a graph inside a graph).
            try (CapturedWork inner = ctx.capture(() -> linear.forward(x, y, Association.EFFECTIVE));
                    CapturedWork outer = ctx.capture(inner::replay)) {
                IllegalStateException e = assertThrows(IllegalStateException.class, outer::replay);
                assertTrue(e.getMessage().contains("cannot replay another captured step"), e.getMessage());
                inner.replay();  // on its own it runs
                x.close();
                assertRefused("matrix 5×40", inner);
            }
        }
    }

    /** A synchronisation inside a CUDA capture cannot be recorded: a typed error that says why. */
    @Test
    void aCudaCaptureThatSynchronisesIsRefused() {
        GpuTests.requireCuda("CapturedWorkTest");
        try (NoraContext ctx = NoraContext.create(Backend.CUDA); Matrix x = ctx.zeros(4, 4)) {
            NativeFailureException e = assertThrows(NativeFailureException.class, () -> ctx.capture(x::toArray));
            assertTrue(e.getMessage().contains("capture"), e.getMessage());
            assertEquals(16, x.toArray().length, "the context still works after a failed capture");
        }
    }

    /**
     * A recorded forward follows inner factors changed after the recording (its effective factors
     * are rebuilt inside the graph); a registry refuses, while a captured batch is open, an adapter
     * above the recorded rank and a batch larger than the recorded row index.
     */
    @Test
    void aCudaCaptureFollowsInnerFactorsAndRefusesWhatItsGraphCannotFollow() {
        GpuTests.requireCuda("CapturedWorkTest");
        LayerCase c = LayerCase.of(8, 64, 48, 16, 4, 1f);
        SyntheticLayer layer = c.layer();
        try (NoraContext ctx = NoraContext.create(Backend.CUDA); NestedLinear linear = layer.build(ctx);
                Matrix x = ctx.matrix(c.rows(), c.in(), c.inputs(layer)); Matrix y = ctx.zeros(c.rows(), c.out())) {
            linear.forward(x, y, Association.EFFECTIVE);  // warm-up: the cache is fresh before recording
            try (CapturedWork step = ctx.capture(() -> linear.forward(x, y, Association.EFFECTIVE))) {
                float[] changed = linear.innerA().toArray();
                for (int i = 0; i < changed.length; i++) {
                    changed[i] = 2 * changed[i] + 0.01f;
                }
                linear.innerA().copyFrom(changed);
                step.replay();
                float[] replayed = y.toArray();
                linear.forward(x, y, Association.EFFECTIVE);
                assertClose("replay after A' changed", replayed, Float64Reference.toDouble(y.toArray()), 1e-6);
            }
            SyntheticLayer base = SyntheticLayer.random(SEED, 40, 64, 4, 2, 1f);
            try (AdapterRegistry registry = new AdapterRegistry(ctx, base.baseWeight, 40, 64, 4, 1 << 24);
                    Matrix xs = ctx.matrix(2, 64, base.inputs(SEED, 2)); Matrix ys = ctx.zeros(2, 40)) {
                registry.add("small", random(SEED, 4 * 64), random(SEED + 1, 40 * 4), 4, 1f);
                registry.apply(xs, new int[] {0, -1}, ys);
                try (CapturedWork batch = ctx.capture(() -> registry.applyStaged(xs, ys))) {
                    assertThrows(IllegalStateException.class,
                            () -> registry.add("large", random(SEED, 8 * 64), random(SEED + 1, 40 * 8), 8, 1f));
                    assertThrows(IllegalStateException.class, () -> registry.stageRows(new int[] {0, 0, 0}));
                    registry.add("same", random(SEED, 4 * 64), random(SEED + 1, 40 * 4), 4, 1f);  // within the rank
                    batch.replay();
                }
                registry.add("large", random(SEED, 8 * 64), random(SEED + 1, 40 * 8), 8, 1f);
            }
        }
    }
}
