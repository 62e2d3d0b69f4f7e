package io.jnora.backend;

/** The top-r singular triplets of an m×n matrix on the host: U (m×r), σ descending (r), Vᵀ (r×n), row-major. */
public record SvdFactors(int m, int n, int rank, float[] u, float[] sigma, float[] vt) {}
