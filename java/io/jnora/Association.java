package io.jnora;

/**
 * The order of the products in the adapter term of the forward (SPEC §2.5).
 *
 * <p>Thread safety: constants without mutable state; thread-safe.
 */
public enum Association {
    /** ((X Aᵀ) A'ᵀ) B'ᵀ) Bᵀ: cost ≈ T·r·(n + m); no state beyond the factors. */
    OUTER_FIRST,
    /** (X A_effᵀ) B_effᵀ with A_eff = A'A, B_eff = BB', cached until an inner factor changes. */
    EFFECTIVE,
    /** The cheaper of the two for this T, counting the cost of rebuilding a stale cache. */
    AUTO
}
