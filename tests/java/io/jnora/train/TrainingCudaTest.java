package io.jnora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.Association;
import io.jnora.Backend;
import io.jnora.DropoutMask;
import io.jnora.Gradients;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.TensorOps;
import io.jnora.reference.Float64Reference;
import io.jnora.synth.SyntheticLayer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The training primitives on CUDA (adamw.cu) against the CPU backend. Without a GPU these are skipped
 * with the reason; with JNORA_REQUIRE_GPU=1 a missing GPU fails them instead.
 *
 * <p>Tolerances: AdamW runs the same float32 operations in the same order on both backends
 * (round-to-nearest intrinsics, no FMA contraction; scalars formed identically on the host), so equal
 * inputs should give equal bits; 1e-6 relative allows a few ulps should a device differ. The sum of
 * squares is float64 in another order: 1e-12. Dropout and the trainer go through cuBLAS and our GEMM
 * kernels: SPEC §4's 1e-4.
 */
class TrainingCudaTest {
    private static final long SEED = ThreadLocalRandom.current().nextLong();
    private static NoraContext cuda;
    private static NoraContext cpu;

    @BeforeAll
    static void open() {
        io.jnora.GpuTests.requireCuda("TrainingCudaTest");
        cuda = NoraContext.create(Backend.CUDA);
        cpu = NoraContext.create(Backend.CPU);
    }

    @AfterAll
    static void close() {
        if (cuda != null) {
            cuda.close();
            cpu.close();
        }
    }

    private static float[] random(Random rng, int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (rng.nextGaussian() * scale);
        }
        return v;
    }

    /** Tensor lists of odd sizes: single elements, one above a 4096-element chunk, many small ones. */
    @Test
    void adamwOnTheDeviceEqualsTheCpuBackendOverSeveralSteps() {
        int[][] shapes = {{1, 1}, {3, 17}, {65, 65}, {16, 256}, {256, 16}, {7, 1000}};
        List<int[]> all = new ArrayList<>(List.of(shapes));
        for (int i = 0; i < 150; i++) {
            all.add(new int[] {1 + i % 7, 3 + i % 29});
        }
        Random rng = new Random(SEED);
        List<List<Matrix>> dev = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        List<List<Matrix>> host = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        for (int[] s : all) {
            float[] p = random(rng, s[0] * s[1], 1);
            dev.get(0).add(cuda.matrix(s[0], s[1], p));
            host.get(0).add(cpu.matrix(s[0], s[1], p));
            for (int k = 2; k < 4; k++) {
                dev.get(k).add(cuda.zeros(s[0], s[1]));
                host.get(k).add(cpu.zeros(s[0], s[1]));
            }
        }
        for (int step = 1; step <= 4; step++) {
            for (List<List<Matrix>> side : List.of(dev, host)) {
                side.get(1).forEach(Matrix::close);
                side.get(1).clear();
            }
            for (int[] s : all) {
                float[] g = random(rng, s[0] * s[1], step == 3 ? 1e-4 : 1);
                dev.get(1).add(cuda.matrix(s[0], s[1], g));
                host.get(1).add(cpu.matrix(s[0], s[1], g));
            }
            float scale = step == 2 ? 0.3f : 1f;
            for (List<List<Matrix>> side : List.of(dev, host)) {
                TensorOps.adamwStep(side.get(0), side.get(1), side.get(2), side.get(3), 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f,
                        scale, step);
            }
        }
        int bitwise = 0;
        for (int k : new int[] {0, 2, 3}) {
            for (int i = 0; i < all.size(); i++) {
                float[] d = dev.get(k).get(i).toArray();
                float[] h = host.get(k).get(i).toArray();
                double err = Float64Reference.relativeFrobeniusError(d, Float64Reference.toDouble(h));
                assertTrue(err <= 1e-6, "tensor " + i + " (" + all.get(i)[0] + "×" + all.get(i)[1] + ") state " + k + ": "
                        + err + " (seed " + SEED + ")");
                bitwise += java.util.Arrays.equals(d, h) ? 1 : 0;
            }
        }
        System.out.println("TrainingCudaTest: AdamW bitwise equal to the CPU on " + bitwise + " of " + 3 * all.size()
                + " tensors");
        double devSum = TensorOps.sumOfSquares(dev.get(0));
        double hostSum = TensorOps.sumOfSquares(host.get(0));
        assertEquals(hostSum, devSum, 1e-12 * hostSum);
        assertEquals(devSum, TensorOps.sumOfSquares(dev.get(0)), 0, "the device's sum is deterministic");
        for (List<List<Matrix>> side : List.of(dev, host)) {
            side.forEach(l -> l.forEach(Matrix::close));
        }
    }

    @Test
    void multiplyAddOnTheDeviceMatchesAndNeverReadsAPoisonedOutput() {
        Random rng = new Random(SEED + 1);
        float[] a = random(rng, 70_001, 1);
        float[] b = random(rng, 70_001, 1);
        try (Matrix da = cuda.matrix(1, 70_001, a); Matrix db = cuda.matrix(1, 70_001, b);
                Matrix dout = cuda.filled(1, 70_001, Float.NaN); Matrix ha = cpu.matrix(1, 70_001, a);
                Matrix hb = cpu.matrix(1, 70_001, b); Matrix hout = cpu.zeros(1, 70_001)) {
            TensorOps.multiplyAdd(0.5f, da, db, 0f, dout);
            TensorOps.multiplyAdd(0.5f, ha, hb, 0f, hout);
            TensorOps.multiplyAdd(-2f, da, null, 1f, dout);
            TensorOps.multiplyAdd(-2f, ha, null, 1f, hout);
            float[] h = hout.toArray();
            assertEquals(0, Float64Reference.relativeFrobeniusError(dout.toArray(), Float64Reference.toDouble(h)), 1e-7);
        }
    }

    @Test
    void theDroppedForwardAndBackwardOnTheDeviceMatchTheCpu() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 131, 97, 24, 8, 0.5f);
        int rows = 37;
        float[] x = s.inputs(SEED + 1, rows);
        float[] dy = s.upstream(SEED + 2, rows);
        try (NestedLinear g = s.build(cuda); NestedLinear h = s.build(cpu); Matrix xg = cuda.matrix(rows, 97, x);
                Matrix xh = cpu.matrix(rows, 97, x); Matrix dyg = cuda.matrix(rows, 131, dy); Matrix dyh = cpu.matrix(rows, 131, dy);
                DropoutMask mg = DropoutMask.sample(cuda, rows, 97, 0.25, SEED); DropoutMask mh = DropoutMask.sample(cpu, rows, 97, 0.25, SEED);
                Matrix yg = cuda.filled(rows, 131, Float.NaN); Matrix yh = cpu.zeros(rows, 131);
                Gradients gg = new Gradients(cuda.filled(8, 24, Float.NaN), cuda.filled(24, 8, Float.NaN),
                        cuda.filled(rows, 97, Float.NaN));
                Gradients gh = new Gradients(cpu.zeros(8, 24), cpu.zeros(24, 8), cpu.zeros(rows, 97))) {
            assertEquals(0, Float64Reference.relativeFrobeniusError(mg.toArray(), Float64Reference.toDouble(mh.toArray())), 0);
            for (Association a : new Association[] {Association.OUTER_FIRST, Association.EFFECTIVE}) {
                g.forward(xg, yg, a, mg);
                h.forward(xh, yh, a, mh);
                assertClose("Y " + a, yg.toArray(), yh.toArray());
            }
            g.backward(xg, dyg, gg, mg);
            h.backward(xh, dyh, gh, mh);
            assertClose("dA'", gg.innerA().toArray(), gh.innerA().toArray());
            assertClose("dB'", gg.innerB().toArray(), gh.innerB().toArray());
            assertClose("dX", gg.input().toArray(), gh.input().toArray());
        }
    }

    @Test
    void aTrainerOnTheDeviceFollowsTheCpuTrainer() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 64, 48, 16, 4, 1f);
        AdamWConfig cfg = AdamWConfig.builder().learningRate(1e-2).maxGradNorm(1.0)
                .schedule(LearningRateSchedule.warmupCosine(2, 10)).build();
        try (NestedLinear g = s.build(cuda); NestedLinear h = s.build(cpu);
                Trainer tg = Trainer.builder(cuda).layer("l", g).optimizer(cfg).dropout(0.1).seed(SEED).build();
                Trainer th = Trainer.builder(cpu).layer("l", h).optimizer(cfg).dropout(0.1).seed(SEED).build()) {
            for (int t = 1; t <= 10; t++) {
                float[] x = s.inputs(SEED + t, 33);
                float[] target = s.upstream(SEED + 100 + t, 33);
                try (Matrix xg = cuda.matrix(33, 48, x); Matrix xh = cpu.matrix(33, 48, x);
                        Matrix tg2 = cuda.matrix(33, 64, target); Matrix th2 = cpu.matrix(33, 64, target)) {
                    StepReport rg = tg.regressionStep(xg, tg2);
                    StepReport rh = th.regressionStep(xh, th2);
                    assertEquals(rh.loss(), rg.loss(), 1e-4 * rh.loss(), "step " + t + " loss");
                    assertEquals(rh.gradientNorm(), rg.gradientNorm(), 1e-4 * rh.gradientNorm(), "step " + t + " ‖g‖");
                }
            }
            assertClose("A' after 10 steps", g.innerA().toArray(), h.innerA().toArray());
            assertClose("B' after 10 steps", g.innerB().toArray(), h.innerB().toArray());
        }
    }

    private static void assertClose(String what, float[] got, float[] want) {
        double err = Float64Reference.relativeFrobeniusError(got, Float64Reference.toDouble(want));
        assertTrue(err <= 1e-4, what + ": relative Frobenius error " + err + " > 1e-4 (seed " + SEED + ")");
    }
}
