package io.jnora.init;

/**
 * The adapter scale s from α and the trainable rank r_in (SPEC §2.4).
 *
 * <p>Thread safety: constants without mutable state; thread-safe.
 */
public enum ScalingRule {
    /** s = α / r_in (LoRA). */
    LORA,
    /** s = α / √r_in (RoRA, rsLoRA): the update size does not shrink as r_in grows. */
    RORA;

    public double scale(double alpha, int innerRank) {
        return this == LORA ? alpha / innerRank : alpha / Math.sqrt(innerRank);
    }

    public String metadataName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    public static ScalingRule parse(String name) {
        for (ScalingRule r : values()) {
            if (r.metadataName().equalsIgnoreCase(name.trim())) {
                return r;
            }
        }
        throw new IllegalArgumentException("unknown scaling rule '" + name + "' (expected lora or rora)");
    }
}
