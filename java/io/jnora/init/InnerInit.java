package io.jnora.init;

/**
 * How the trainable inner pair and the base start (SPEC §2.3).
 *
 * <p>Thread safety: constants without mutable state; thread-safe.
 */
public enum InnerInit {
    /** A' Kaiming-uniform, B' = 0, W_base = W: the output at init is exactly the base layer's. */
    ZERO,
    /** Outer split (U_r, V_rᵀS⁻¹); B', A' = √Σ_r's top r_in block / √|s| (B' with sign(s), so any s ≠ 0); W_base = W − s·BB'A'A (NoRA §3.2). */
    SIGMA,
    /** Random orthonormal outer factors, inner ZERO: the papers' ablation baseline. */
    RANDOM_OUTER;

    public String metadataName() {
        return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }
}
