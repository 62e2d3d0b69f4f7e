package io.jnora.backend;

/**
 * How a truncated SVD is computed: exact, or randomized with oversampling p and q power iterations
 * seeded by {@code seed} (SPEC §2.2); {@code float64} asks the exact path for double precision.
 *
 * <p>Thread safety: immutable and thread-safe.
 */
public record SvdPlan(boolean randomized, int oversampling, int powerIterations, long seed, boolean float64) {
    public static SvdPlan exact(boolean float64) {
        return new SvdPlan(false, 0, 0, 0, float64);
    }

    public static SvdPlan randomized(int oversampling, int powerIterations, long seed) {
        return new SvdPlan(true, oversampling, powerIterations, seed, false);
    }
}
