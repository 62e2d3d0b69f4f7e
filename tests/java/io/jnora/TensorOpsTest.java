package io.jnora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The training primitives on the CPU backend: multiply-add, the multi-tensor sum of squares, argument checks. */
class TensorOpsTest {
    private static final long SEED = ThreadLocalRandom.current().nextLong();
    private static NoraContext ctx;

    @BeforeAll
    static void open() {
        ctx = NoraContext.create(Backend.CPU);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    private static float[] random(Random rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rng.nextGaussian();
        }
        return v;
    }

    /** Float32 → half rounds each element to nearest even (Precision.round), half → float32 is exact; shapes must match. */
    @Test
    void convertRoundsBetweenPrecisionsAndChecksShapes() {
        float[] values = random(new Random(SEED), 3 * 7);
        values[0] = 1e6f;  // past float16's range: infinity there, finite in bfloat16
        for (Precision p : new Precision[] {Precision.BFLOAT16, Precision.FLOAT16}) {
            try (Matrix source = ctx.matrix(3, 7, values); Matrix half = ctx.filled(3, 7, Float.NaN, p);
                    Matrix back = ctx.filled(3, 7, Float.NaN)) {
                TensorOps.convert(source, half);
                TensorOps.convert(half, back);
                float[] want = new float[values.length];
                for (int i = 0; i < want.length; i++) {
                    want[i] = p.round(values[i]);
                }
                assertArrayEquals(want, back.toArray(), p.toString());
                assertArrayEquals(want, half.toArray(), p.toString());
                try (Matrix wrong = ctx.zeros(7, 3, p)) {
                    ShapeMismatchException e = assertThrows(ShapeMismatchException.class,
                            () -> TensorOps.convert(source, wrong));
                    assertTrue(e.getMessage().startsWith("TensorOps.convert"), e.getMessage());
                }
            }
        }
    }

    @Test
    void multiplyAddComputesAlphaABPlusBetaOutAndNeverReadsOutAtBetaZero() {
        Random rng = new Random(SEED);
        float[] a = random(rng, 35);
        float[] b = random(rng, 35);
        float[] o = random(rng, 35);
        try (Matrix am = ctx.matrix(5, 7, a); Matrix bm = ctx.matrix(5, 7, b); Matrix out = ctx.filled(5, 7, Float.NaN);
                Matrix acc = ctx.matrix(5, 7, o)) {
            TensorOps.multiplyAdd(0.5f, am, bm, 0f, out);
            TensorOps.multiplyAdd(-1f, am, null, 2f, acc);
            float[] got = out.toArray();
            float[] gotAcc = acc.toArray();
            for (int i = 0; i < 35; i++) {
                assertEquals(0.5f * a[i] * b[i], got[i], 0f);
                assertEquals(-a[i] + 2f * o[i], gotAcc[i], 0f);
            }
            TensorOps.multiplyAdd(3f, out, bm, 0f, out);  // out may be an input
            float[] aliased = out.toArray();
            for (int i = 0; i < 35; i++) {
                assertEquals(3f * got[i] * b[i], aliased[i], 0f);
            }
        }
    }

    @Test
    void sumOfSquaresAddsEveryElementOfEveryTensorInFloat64() {
        Random rng = new Random(SEED);
        float[] a = random(rng, 12);
        float[] b = random(rng, 1);
        double want = 0;
        for (float v : a) {
            want += (double) v * v;
        }
        want += (double) b[0] * b[0];
        try (Matrix am = ctx.matrix(3, 4, a); Matrix bm = ctx.matrix(1, 1, b); Matrix empty = ctx.zeros(0, 5)) {
            assertEquals(want, TensorOps.sumOfSquares(List.of(am, empty, bm)), 1e-15 * want);
            assertEquals(0, TensorOps.sumOfSquares(List.of()));
        }
    }

    @Test
    void mismatchedShapesAndContextsAreRefusedNamingTheOperation() {
        try (Matrix a = ctx.zeros(2, 3); Matrix b = ctx.zeros(3, 2); NoraContext other = NoraContext.create(Backend.CPU);
                Matrix foreign = other.zeros(2, 3)) {
            ShapeMismatchException e = assertThrows(ShapeMismatchException.class,
                    () -> TensorOps.multiplyAdd(1f, a, b, 0f, a));
            assertTrue(e.getMessage().startsWith("TensorOps.multiplyAdd"), e.getMessage());
            assertThrows(JnoraException.class, () -> TensorOps.sumOfSquares(List.of(a, foreign)));
            e = assertThrows(ShapeMismatchException.class, () -> TensorOps.adamwStep(List.of(a), List.of(b), List.of(a),
                    List.of(a), 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1f, 1));
            assertTrue(e.getMessage().contains("gradient 0"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> TensorOps.adamwStep(List.of(a), List.of(a), List.of(a),
                    List.of(a), 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1f, 0));
        }
    }

    @Test
    void anUpdateBumpsTheParametersVersion() {
        try (Matrix p = ctx.matrix(1, 2, new float[] {1f, 2f}); Matrix g = ctx.matrix(1, 2, new float[] {0.5f, -0.5f});
                Matrix m = ctx.zeros(1, 2); Matrix v = ctx.zeros(1, 2)) {
            long before = p.version();
            TensorOps.adamwStep(List.of(p), List.of(g), List.of(m), List.of(v), 0.1f, 0.9f, 0.999f, 1e-8f, 0f, 1f, 1);
            assertTrue(p.version() > before);
            // Step 1 of Adam moves each element by lr·sign(g) (m̂/√v̂ = g/|g|) up to ε.
            assertArrayEquals(new float[] {0.9f, 2.1f}, p.toArray(), 1e-6f);
        }
    }
}
