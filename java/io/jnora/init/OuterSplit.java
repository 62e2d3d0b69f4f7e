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

    /**
     * The metadata name of the outer pair the SIGMA init uses, (U_r, V_rᵀ S⁻¹) (SPEC §2.3): Σ_r in
     * neither outer factor but in the inner pair. Not a choice of split, so not a constant of this enum.
     */
    public static final String SIGMA_INIT_METADATA_NAME = "inner-sigma";

    /** The metadata name of RANDOM_OUTER's outer pair: random orthonormal factors, no SVD to split. */
    public static final String RANDOM_OUTER_METADATA_NAME = "none";

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
