package io.jnora.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.NativeFailureException;
import java.util.SplittableRandom;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;

/**
 * The host SVD's fallback: where gesdd (divide and conquer) does not converge (info > 0, rare but
 * allowed by LAPACK), gesvd (QR iteration) gives the SVD instead of the init failing. A driver that
 * reports non-convergence stands in for gesdd, since no matrix makes it fail on demand.
 */
class HostLapackTest {
    private static final long SEED = ThreadLocalRandom.current().nextLong();

    /** gesdd that "did not converge": scribbles on its outputs and its input, reports info = 3. */
    private static final HostLapack.FloatSvdDriver NOT_CONVERGED = (m, n, a, s, u, vt) -> {
        java.util.Arrays.fill(a, Float.NaN);
        java.util.Arrays.fill(s, -1f);
        return 3;
    };
    private static final HostLapack.DoubleSvdDriver NOT_CONVERGED_64 = (m, n, a, s, u, vt) -> {
        java.util.Arrays.fill(a, Double.NaN);
        return 3;
    };

    private static float[] matrix(int m, int n) {
        SplittableRandom rng = new SplittableRandom(SEED);
        float[] a = new float[m * n];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (2 * rng.nextDouble() - 1);
        }
        return a;
    }

    /** max |A − U Σ Vᵀ| / max |A|, in float64. */
    private static double reconstructionError(float[] a, HostLapack.Svd svd) {
        double worst = 0;
        double scale = 0;
        for (int i = 0; i < svd.m(); i++) {
            for (int j = 0; j < svd.n(); j++) {
                double v = 0;
                for (int k = 0; k < svd.k(); k++) {
                    v += (double) svd.u()[i * svd.k() + k] * svd.sigma()[k] * svd.vt()[k * svd.n() + j];
                }
                worst = Math.max(worst, Math.abs(v - a[i * svd.n() + j]));
                scale = Math.max(scale, Math.abs(a[i * svd.n() + j]));
            }
        }
        return worst / scale;
    }

    @Test
    void whenGesddDoesNotConvergeGesvdGivesTheSvd() {
        for (int[] shape : new int[][] {{23, 17}, {17, 23}}) {
            int m = shape[0];
            int n = shape[1];
            float[] a = matrix(m, n);
            float[] original = a.clone();
            HostLapack.Svd usual = HostLapack.svd(a, m, n);
            HostLapack.Svd fallback = HostLapack.svd(a, m, n, NOT_CONVERGED, HostLapack.SGESVD);
            assertArrayEquals(original, a, "A is left unchanged");
            for (int k = 0; k < usual.k(); k++) {
                // gesdd and gesvd agree on σ to float32 rounding of σ_1
                assertEquals(usual.sigma()[k], fallback.sigma()[k], 1e-5 * usual.sigma()[0], "σ_" + k + " (seed " + SEED + ")");
            }
            double err = reconstructionError(a, fallback);
            assertTrue(err <= 1e-5, m + "×" + n + ": ‖A − UΣVᵀ‖_max / ‖A‖_max = " + err + " (seed " + SEED + ")");

            HostLapack.Svd fallback64 = HostLapack.svdFloat64(a, m, n, NOT_CONVERGED_64, HostLapack.DGESVD);
            double err64 = reconstructionError(a, fallback64);
            assertTrue(err64 <= 1e-6, m + "×" + n + " float64: " + err64 + " (seed " + SEED + ")");
        }
    }

    @Test
    void whenBothDriversFailTheErrorNamesBoth() {
        float[] a = matrix(6, 5);
        NativeFailureException e = assertThrows(NativeFailureException.class,
                () -> HostLapack.svd(a, 6, 5, NOT_CONVERGED, NOT_CONVERGED));
        assertTrue(e.getMessage().contains("sgesvd") && e.getMessage().contains("sgesdd did not converge")
                && e.getMessage().contains("6×5"), e.getMessage());
    }

    @Test
    void anIllegalArgumentIsNotRetried() {
        float[] a = matrix(6, 5);
        NativeFailureException e = assertThrows(NativeFailureException.class,
                () -> HostLapack.svd(a, 6, 5, (m, n, x, s, u, vt) -> -4, (m, n, x, s, u, vt) -> {
                    throw new AssertionError("gesvd must not run after an illegal argument");
                }));
        assertTrue(e.getMessage().contains("sgesdd") && e.getMessage().contains("illegal argument"), e.getMessage());
    }
}
