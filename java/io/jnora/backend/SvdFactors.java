package io.jnora.backend;

/**
 * The top-r singular triplets of an m×n matrix on the host: U (m×r), σ descending (r), Vᵀ (r×n), row-major.
 *
 * <p>Thread safety: its arrays are not copied; safe to share between threads as long as nobody writes to them.
 */
public record SvdFactors(int m, int n, int rank, float[] u, float[] sigma, float[] vt) {}
