package io.jnora.init;

import io.jnora.backend.HostSvd;
import io.jnora.backend.SvdFactors;

/**
 * The top-r singular triplets of a matrix M (m×n): M ≈ U_r Σ_r V_rᵀ. Decompose, then ask for the
 * factors. Row-major float32; U is m×r, Vᵀ is r×n, σ descending. Computed on the host (LAPACK);
 * {@link NestedInitializer} also runs the same decompositions on the GPU.
 *
 * <p>Thread safety: immutable (the factors are copied out) and thread-safe.
 */
public final class TruncatedSvd {
    private final SvdFactors factors;

    private TruncatedSvd(SvdFactors factors) {
        this.factors = factors;
    }

    /** Exact: the thin SVD by LAPACK gesdd (float64 when asked), truncated to the top {@code rank}. */
    public static TruncatedSvd exact(float[] matrix, int m, int n, int rank, boolean float64) {
        return new TruncatedSvd(HostSvd.exact(matrix, m, n, rank, float64));
    }

    /** Randomized (Halko–Martinsson–Tropp) with oversampling p and q power iterations. */
    public static TruncatedSvd randomized(float[] matrix, int m, int n, int rank, int oversampling, int powerIterations,
            long seed) {
        return new TruncatedSvd(HostSvd.randomized(matrix, m, n, rank, oversampling, powerIterations, seed));
    }

    public int rows() {
        return factors.m();
    }

    public int cols() {
        return factors.n();
    }

    public int rank() {
        return factors.rank();
    }

    /** U_r, m×r (a copy). */
    public float[] u() {
        return factors.u().clone();
    }

    /** σ_1 ≥ … ≥ σ_r (a copy). */
    public float[] singularValues() {
        return factors.sigma().clone();
    }

    /** V_rᵀ, r×n (a copy). */
    public float[] vt() {
        return factors.vt().clone();
    }
}
