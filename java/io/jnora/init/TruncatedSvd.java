package io.jnora.init;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The top-r singular triplets of a matrix M (m×n): M ≈ U_r Σ_r V_rᵀ. Decompose, then ask for the
 * factors. Row-major float32; U is m×r, Vᵀ is r×n, σ descending.
 */
public final class TruncatedSvd {
    private final int m;
    private final int n;
    private final int rank;
    private final float[] u;
    private final float[] sigma;
    private final float[] vt;

    private TruncatedSvd(int m, int n, int rank, float[] u, float[] sigma, float[] vt) {
        this.m = m;
        this.n = n;
        this.rank = rank;
        this.u = u;
        this.sigma = sigma;
        this.vt = vt;
    }

    /** Exact: the thin SVD by LAPACK gesdd (float64 when asked), truncated to the top {@code rank}. */
    public static TruncatedSvd exact(float[] matrix, int m, int n, int rank, boolean float64) {
        float[] copy = matrix.clone();  // gesdd overwrites its input
        HostLinearAlgebra.Svd full = float64 ? HostLinearAlgebra.svdFloat64(copy, m, n) : HostLinearAlgebra.svd(copy, m, n);
        return truncate(full.u(), full.k(), full.sigma(), full.vt(), m, n, rank);
    }

    /**
     * Randomized (Halko, Martinsson, Tropp 2011, Alg. 4.4 + 5.1): ℓ = min(r + p, min(m, n)) Gaussian
     * test vectors, {@code q} power iterations re-orthonormalised by QR at every half-step (without
     * it the small singular directions drown in rounding), then the SVD of the ℓ×n matrix Qᵀ M.
     */
    public static TruncatedSvd randomized(float[] matrix, int m, int n, int rank, int oversampling, int powerIterations,
            long seed) {
        int l = Math.min(rank + oversampling, Math.min(m, n));
        float[] omega = new float[n * l];
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = 0; i < omega.length; i++) {
            omega[i] = (float) gaussian(rng);
        }
        float[] q = HostLinearAlgebra.multiply(false, false, m, l, n, matrix, omega);      // Y = M Ω (m×l)
        HostLinearAlgebra.orthonormalizeColumns(q, m, l);
        for (int it = 0; it < powerIterations; it++) {
            float[] z = HostLinearAlgebra.multiply(true, false, n, l, m, matrix, q);       // Mᵀ Q (n×l)
            HostLinearAlgebra.orthonormalizeColumns(z, n, l);
            q = HostLinearAlgebra.multiply(false, false, m, l, n, matrix, z);              // M Z (m×l)
            HostLinearAlgebra.orthonormalizeColumns(q, m, l);
        }
        float[] small = HostLinearAlgebra.multiply(true, false, l, n, m, q, matrix);       // Qᵀ M (l×n)
        HostLinearAlgebra.Svd s = HostLinearAlgebra.svd(small, l, n);
        float[] u = HostLinearAlgebra.multiply(false, false, m, s.k(), l, q, s.u());       // Q Ũ (m×k)
        return truncate(u, s.k(), s.sigma(), s.vt(), m, n, rank);
    }

    private static TruncatedSvd truncate(float[] u, int k, float[] sigma, float[] vt, int m, int n, int rank) {
        float[] ur = new float[m * rank];
        for (int i = 0; i < m; i++) {
            System.arraycopy(u, i * k, ur, i * rank, rank);
        }
        return new TruncatedSvd(m, n, rank, ur, Arrays.copyOf(sigma, rank), Arrays.copyOf(vt, rank * n));
    }

    static double gaussian(SplittableRandom rng) {
        double u1 = 1.0 - rng.nextDouble();
        double u2 = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    public int rows() {
        return m;
    }

    public int cols() {
        return n;
    }

    public int rank() {
        return rank;
    }

    /** U_r, m×r (a copy). */
    public float[] u() {
        return u.clone();
    }

    /** σ_1 ≥ … ≥ σ_r (a copy). */
    public float[] singularValues() {
        return sigma.clone();
    }

    /** V_rᵀ, r×n (a copy). */
    public float[] vt() {
        return vt.clone();
    }

    float[] uView() {
        return u;
    }

    float[] sigmaView() {
        return sigma;
    }

    float[] vtView() {
        return vt;
    }
}
