package io.jnora.init;

/**
 * How the truncated SVD of the scaled weight is computed (SPEC §2.2).
 *
 * <p>Thread safety: constants without mutable state; thread-safe.
 */
public enum SvdMethod {
    /** Randomized when {@code r ≤ min(m, n) / 4}, else exact (the SPEC's default rule). */
    AUTO,
    /** The full thin SVD (LAPACK gesdd; cuSOLVER on the GPU), truncated. */
    EXACT,
    /** Halko–Martinsson–Tropp: oversampled sketch, power iterations, QR, a small SVD. */
    RANDOMIZED;

    /** The method AUTO stands for at this shape. */
    public SvdMethod resolve(int m, int n, int rank) {
        if (this != AUTO) {
            return this;
        }
        return rank <= Math.min(m, n) / 4 ? RANDOMIZED : EXACT;
    }
}
