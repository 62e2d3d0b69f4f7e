package io.jnora;

import static io.jnora.Tolerances.FLOAT32_VS_FLOAT64;
import static io.jnora.Tolerances.assertClose;
import static io.jnora.Tolerances.assertCloseAllowingCancellation;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.reference.Float64Reference;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * The plain LoRA layer with both factors trainable (SPEC §2.10) against a float64 reference written
 * here from ΔW = s·B A with plain loops: Y = X Wᵀ + s (X Aᵀ) Bᵀ, dB = s dYᵀ (X Aᵀ), dA = s (dY B)ᵀ X,
 * dX = dY W + s (dY B) A. The reference gradients are themselves checked by central differences of
 * the float64 forward (exact up to rounding: the loss ⟨dY, Y⟩ is linear in A and in B separately).
 */
class LoraLinearTest {
    private static final long SEED = LayerCase.freshSeed();
    private static NoraContext ctx;

    @BeforeAll
    static void open() {
        ctx = NoraContext.create(Backend.CPU);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    /** Gaussian values with a few outlier columns scaled 20–100× (SPEC §4), never zeros. */
    private static float[] random(Random rng, int rows, int cols, boolean outliers) {
        float[] v = new float[rows * cols];
        double[] colScale = new double[cols];
        for (int j = 0; j < cols; j++) {
            colScale[j] = outliers && j % 7 == 3 ? 20 + 80 * rng.nextDouble() : 1;
        }
        for (int i = 0; i < v.length; i++) {
            double g = rng.nextGaussian();
            v[i] = (float) ((g == 0 ? 1e-3 : g) * colScale[i % cols]);
        }
        return v;
    }

    private record Reference(double[] y, double[] dA, double[] dB, double[] dX) {}

    private static Reference reference(double[] w, double[] a, double[] b, double s, double[] x, double[] dy, int t, int m,
            int n, int k) {
        double[] z = Float64Reference.multiplyTransposed(x, t, n, a, k);
        double[] y = Float64Reference.multiplyTransposed(x, t, n, w, m);
        double[] delta = Float64Reference.multiplyTransposed(z, t, k, b, m);
        for (int i = 0; i < y.length; i++) {
            y[i] += s * delta[i];
        }
        double[] dB = Float64Reference.transposeMultiply(dy, t, m, z, k);
        double[] dz = Float64Reference.multiply(dy, t, m, b, k);
        for (int i = 0; i < dB.length; i++) {
            dB[i] *= s;
        }
        for (int i = 0; i < dz.length; i++) {
            dz[i] *= s;
        }
        double[] dA = Float64Reference.transposeMultiply(dz, t, k, x, n);
        double[] dX = Float64Reference.multiply(dy, t, m, w, n);
        double[] dXa = Float64Reference.multiply(dz, t, k, a, n);
        for (int i = 0; i < dX.length; i++) {
            dX[i] += dXa[i];
        }
        return new Reference(y, dA, dB, dX);
    }

    private static double dot(double[] p, double[] q) {
        double acc = 0;
        for (int i = 0; i < p.length; i++) {
            acc += p[i] * q[i];
        }
        return acc;
    }

    @ParameterizedTest(name = "T={0}, m={1}, n={2}, k={3}")
    @CsvSource({"1, 5, 3, 1", "3, 7, 9, 7", "17, 33, 20, 4", "128, 40, 72, 8", "1000, 19, 31, 3"})
    void forwardAndGradientsMatchTheFloat64Reference(int t, int m, int n, int k) {
        Random rng = new Random(SEED ^ (t * 31L + m));
        float[] w = random(rng, m, n, false);
        float[] a = random(rng, k, n, false);
        float[] b = random(rng, m, k, false);
        float[] x = random(rng, t, n, true);
        float[] dy = random(rng, t, m, false);
        float s = 0.7f;
        double[] wd = Float64Reference.toDouble(w);
        double[] ad = Float64Reference.toDouble(a);
        double[] bd = Float64Reference.toDouble(b);
        double[] xd = Float64Reference.toDouble(x);
        double[] dyd = Float64Reference.toDouble(dy);
        Reference want = reference(wd, ad, bd, s, xd, dyd, t, m, n, k);
        Reference magnitude = reference(Float64Reference.abs(wd), Float64Reference.abs(ad), Float64Reference.abs(bd),
                Math.abs(s), Float64Reference.abs(xd), Float64Reference.abs(dyd), t, m, n, k);
        String why = "T=" + t + " m=" + m + " n=" + n + " k=" + k + " (seed " + SEED + ")";
        try (LoraLinear layer = LoraLinear.create(ctx, w, m, n, k, a, b, s);
                Matrix xm = ctx.matrix(t, n, x); Matrix dym = ctx.matrix(t, m, dy);
                Matrix y = ctx.filled(t, m, Float.NaN); Matrix dA = ctx.filled(k, n, Float.NaN);
                Matrix dB = ctx.filled(m, k, Float.NaN); Matrix dX = ctx.filled(t, n, Float.NaN)) {
            assertEquals((long) k * (m + n), layer.trainableParameters());
            layer.forward(xm, y);
            layer.backward(xm, dym, dA, dB, dX);
            assertCloseAllowingCancellation("Y " + why, y.toArray(), want.y(), magnitude.y(), FLOAT32_VS_FLOAT64);
            assertCloseAllowingCancellation("dA " + why, dA.toArray(), want.dA(), magnitude.dA(), FLOAT32_VS_FLOAT64);
            assertCloseAllowingCancellation("dB " + why, dB.toArray(), want.dB(), magnitude.dB(), FLOAT32_VS_FLOAT64);
            assertCloseAllowingCancellation("dX " + why, dX.toArray(), want.dX(), magnitude.dX(), FLOAT32_VS_FLOAT64);
        }
    }

    /** The reference's gradients are the derivatives of its forward: ⟨dA, D⟩ = (L(A + D) − L(A − D)) / 2. */
    @Test
    void theReferenceGradientsAreTheDerivativesOfItsForward() {
        int t = 6;
        int m = 5;
        int n = 4;
        int k = 2;
        Random rng = new Random(SEED);
        double[] w = Float64Reference.toDouble(random(rng, m, n, false));
        double[] a = Float64Reference.toDouble(random(rng, k, n, false));
        double[] b = Float64Reference.toDouble(random(rng, m, k, false));
        double[] x = Float64Reference.toDouble(random(rng, t, n, true));
        double[] dy = Float64Reference.toDouble(random(rng, t, m, false));
        double s = 1.3;
        Reference at = reference(w, a, b, s, x, dy, t, m, n, k);
        double[] d = Float64Reference.toDouble(random(rng, k, n, false));
        double[] plus = a.clone();
        double[] minus = a.clone();
        for (int i = 0; i < d.length; i++) {
            plus[i] += d[i];
            minus[i] -= d[i];
        }
        double fdA = (dot(dy, reference(w, plus, b, s, x, dy, t, m, n, k).y())
                - dot(dy, reference(w, minus, b, s, x, dy, t, m, n, k).y())) / 2;
        assertEquals(dot(at.dA(), d), fdA, 1e-9 * Math.abs(fdA) + 1e-12, "dA (seed " + SEED + ")");
        double[] e = Float64Reference.toDouble(random(rng, m, k, false));
        double[] bPlus = b.clone();
        double[] bMinus = b.clone();
        for (int i = 0; i < e.length; i++) {
            bPlus[i] += e[i];
            bMinus[i] -= e[i];
        }
        double fdB = (dot(dy, reference(w, a, bPlus, s, x, dy, t, m, n, k).y())
                - dot(dy, reference(w, a, bMinus, s, x, dy, t, m, n, k).y())) / 2;
        assertEquals(dot(at.dB(), e), fdB, 1e-9 * Math.abs(fdB) + 1e-12, "dB (seed " + SEED + ")");
    }

    @Test
    void badShapesAndRanksAreTypedErrors() {
        float[] w = new float[6 * 4];
        assertThrows(InvalidRankException.class, () -> LoraLinear.create(ctx, w, 6, 4, 5, new float[20], new float[30], 1f));
        assertThrows(ShapeMismatchException.class, () -> LoraLinear.create(ctx, w, 6, 4, 2, new float[7], new float[12], 1f));
        assertThrows(NonFiniteInputException.class,
                () -> LoraLinear.create(ctx, w, 6, 4, 2, new float[8], new float[12], Float.NaN));
        try (LoraLinear layer = LoraLinear.create(ctx, w, 6, 4, 2, new float[8], new float[12], 1f);
                Matrix x = ctx.zeros(3, 5); Matrix y = ctx.zeros(3, 6)) {
            ShapeMismatchException e = assertThrows(ShapeMismatchException.class, () -> layer.forward(x, y));
            assertTrue(e.getMessage().contains("LoraLinear.forward"), e.getMessage());
        }
    }
}
