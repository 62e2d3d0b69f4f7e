package io.jnora.backend;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.FloatPointer;

/**
 * Truncated SVDs on the host through LAPACK: exact (gesdd) and randomized (Halko–Martinsson–Tropp).
 *
 * <p>Thread safety: stateless; concurrent calls on different arrays share nothing in jnora (OpenBLAS's threaded
 * build is itself thread-safe).
 */
public final class HostSvd {
    private HostSvd() {}

    /** The SVD of W·S for S = diag(scaleDiagonal), or the lower-triangular scaleLower (n×n) when that is null. */
    public static SvdFactors ofScaled(float[] w, int m, int n, float[] scaleDiagonal, float[] scaleLower, int rank,
            SvdPlan plan) {
        float[] scaled = scaleDiagonal != null ? HostLapack.scaleColumns(w, m, n, scaleDiagonal)
                : HostLapack.multiply(false, false, m, n, n, w, scaleLower);
        return compute(scaled, m, n, rank, plan);
    }

    public static SvdFactors compute(float[] matrix, int m, int n, int rank, SvdPlan plan) {
        return plan.randomized()
                ? randomized(matrix, m, n, rank, plan.oversampling(), plan.powerIterations(), plan.seed())
                : exact(matrix, m, n, rank, plan.float64());
    }

    /** The thin SVD by gesdd (gesvd where gesdd does not converge; float64 when asked), truncated to the top {@code rank}. */
    public static SvdFactors exact(float[] matrix, int m, int n, int rank, boolean float64) {
        HostLapack.Svd full = float64 ? HostLapack.svdFloat64(matrix, m, n) : HostLapack.svd(matrix, m, n);
        return truncate(full.u(), full.k(), full.sigma(), full.vt(), m, n, rank);
    }

    /**
     * Randomized (Halko, Martinsson, Tropp 2011, Alg. 4.4 + 5.1): ℓ = min(r + p, min(m, n)) Gaussian
     * test vectors, {@code q} power iterations re-orthonormalised by QR at every half-step (without
     * it the small singular directions drown in rounding), then the SVD of the ℓ×n matrix Qᵀ M.
     */
    public static SvdFactors randomized(float[] matrix, int m, int n, int rank, int oversampling, int powerIterations,
            long seed) {
        int l = Math.min(rank + oversampling, Math.min(m, n));
        HostLapack.ensureLoaded();
        // M is read 2q + 2 times: it goes off-heap once, with the blocks, instead of through JNI's copy
        // in and out on every product (at 4096² that was 128 MiB of copying per product).
        try (FloatPointer mat = new FloatPointer(matrix); FloatPointer omega = new FloatPointer(gaussian(n * l, seed));
                FloatPointer q = new FloatPointer((long) m * l); FloatPointer z = new FloatPointer((long) n * l);
                FloatPointer small = new FloatPointer((long) l * n); FloatPointer tau = new FloatPointer(Math.max(1, l))) {
            HostLapack.multiply(false, false, m, l, n, mat, omega, q);          // Y = M Ω (m×l)
            HostLapack.orthonormalizeColumns(q, m, l, tau);
            for (int it = 0; it < powerIterations; it++) {
                HostLapack.multiply(true, false, n, l, m, mat, q, z);           // Mᵀ Q (n×l)
                HostLapack.orthonormalizeColumns(z, n, l, tau);
                HostLapack.multiply(false, false, m, l, n, mat, z, q);          // M Z (m×l)
                HostLapack.orthonormalizeColumns(q, m, l, tau);
            }
            HostLapack.multiply(true, false, l, n, m, q, mat, small);           // Qᵀ M (l×n)
            HostLapack.Svd s = HostLapack.svd(toArray(small, l * n), l, n);
            float[] u = HostLapack.multiply(false, false, m, s.k(), l, toArray(q, m * l), s.u());  // Q Ũ (m×k)
            return truncate(u, s.k(), s.sigma(), s.vt(), m, n, rank);
        }
    }

    private static float[] toArray(FloatPointer p, int count) {
        float[] out = new float[count];
        p.position(0).get(out);
        return out;
    }

    /** Standard normal test vectors from a seed (Box–Muller), shared by the host and device paths. */
    public static float[] gaussian(int count, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] out = new float[count];
        for (int i = 0; i < count; i++) {
            out[i] = (float) gaussian(rng);
        }
        return out;
    }

    public static double gaussian(SplittableRandom rng) {
        double u1 = 1.0 - rng.nextDouble();
        double u2 = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    private static SvdFactors truncate(float[] u, int k, float[] sigma, float[] vt, int m, int n, int rank) {
        float[] ur = new float[m * rank];
        for (int i = 0; i < m; i++) {
            System.arraycopy(u, i * k, ur, i * rank, rank);
        }
        return new SvdFactors(m, n, rank, ur, Arrays.copyOf(sigma, rank), Arrays.copyOf(vt, rank * n));
    }
}
