package io.jnora.init;

/**
 * Where Σ_r goes when the truncated SVD U_r Σ_r V_rᵀ of W S becomes B and A (SPEC §2.2).
 *
 * <p>Thread safety: constants without mutable state; thread-safe.
 */
public enum OuterSplit {
    /** B = U_r Σ_r, A = V_rᵀ S⁻¹: the NoRA default (supplementary Table 9). */
    SIGMA_IN_B("b-sigma"),
    /** B = U_r, A = Σ_r V_rᵀ S⁻¹. */
    SIGMA_IN_A("a-sigma"),
    /** B = U_r √Σ_r, A = √Σ_r V_rᵀ S⁻¹. */
    SQRT_SIGMA("sqrt-sigma");

    private final String metadataName;

    OuterSplit(String metadataName) {
        this.metadataName = metadataName;
    }

    public String metadataName() {
        return metadataName;
    }

    /** The factor σ_k contributes to B's column k. */
    double bFactor(double sigma) {
        return this == SIGMA_IN_B ? sigma : this == SQRT_SIGMA ? Math.sqrt(sigma) : 1;
    }

    /** The factor σ_k contributes to A's row k. */
    double aFactor(double sigma) {
        return this == SIGMA_IN_A ? sigma : this == SQRT_SIGMA ? Math.sqrt(sigma) : 1;
    }
}
