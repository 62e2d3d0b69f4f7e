package io.jnora.init;

import io.jnora.InvalidRankException;
import io.jnora.NonFiniteInputException;

/**
 * An immutable, validated configuration of a nested adapter's initialisation:
 *
 * <pre>{@code
 * NoraConfig cfg = NoraConfig.builder().outerRank(256).innerRank(16)
 *         .scaleMode(ScaleMode.meanAbs()).rule(ScalingRule.RORA).build();
 * }</pre>
 *
 * Defaults follow the SPEC: MEAN_ABS(0.5) scaling, AUTO SVD (p = 10, q = 2), ZERO inner init,
 * B = U_rΣ_r, α = r_in with the LoRA rule (s = 1). {@code r ≤ min(m, n)} is checked at init, when
 * the weight's shape is known.
 *
 * <p>Thread safety: immutable and thread-safe; its Builder is not.
 */
public final class NoraConfig {
    private final int outerRank;
    private final int innerRank;
    private final ScaleMode scaleMode;
    private final SvdMethod svd;
    private final int oversampling;
    private final int powerIterations;
    private final boolean svdFloat64;
    private final InnerInit init;
    private final OuterSplit split;
    private final double alpha;
    private final ScalingRule rule;
    private final double scale;
    private final long seed;
    private final boolean alphaGiven;
    private final boolean constantScale;
    private final boolean activationInformedInput;

    private NoraConfig(Builder b, double alpha, double scale) {
        this.outerRank = b.outerRank;
        this.innerRank = b.innerRank;
        this.scaleMode = b.scaleMode;
        this.svd = b.svd;
        this.oversampling = b.oversampling;
        this.powerIterations = b.powerIterations;
        this.svdFloat64 = b.svdFloat64;
        this.init = b.init;
        this.split = b.split;
        this.alpha = alpha;
        this.rule = b.rule;
        this.scale = scale;
        this.seed = b.seed;
        this.alphaGiven = b.alpha != null;
        this.constantScale = b.constantScale != null;
        this.activationInformedInput = b.activationInformedInput;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this configuration, to derive a variant (e.g. another inner rank per layer). */
    public Builder toBuilder() {
        Builder b = new Builder().outerRank(outerRank).innerRank(innerRank).scaleMode(scaleMode).svd(svd)
                .oversampling(oversampling).powerIterations(powerIterations).svdFloat64(svdFloat64).init(init)
                .split(split).rule(rule).seed(seed).activationInformedInput(activationInformedInput);
        b.alpha = alphaGiven ? alpha : null;
        b.constantScale = constantScale ? scale : null;
        return b;
    }

    public int outerRank() { return outerRank; }
    public int innerRank() { return innerRank; }
    public ScaleMode scaleMode() { return scaleMode; }
    public SvdMethod svd() { return svd; }
    public int oversampling() { return oversampling; }
    public int powerIterations() { return powerIterations; }
    public boolean svdFloat64() { return svdFloat64; }
    public InnerInit init() { return init; }
    /** The split of Σ_r between B and A for the ZERO init; SIGMA and RANDOM_OUTER use none (see {@link #splitUsed()}). */
    public OuterSplit split() { return split; }
    /**
     * The outer split the init actually uses, as written into adapter metadata (SPEC §5): the
     * configured split's name for ZERO; {@value OuterSplit#SIGMA_INIT_METADATA_NAME} for SIGMA, whose
     * outer pair is (U_r, V_rᵀ S⁻¹) whatever the split (SPEC §2.3); {@value OuterSplit#RANDOM_OUTER_METADATA_NAME}
     * for RANDOM_OUTER.
     */
    public String splitUsed() {
        return switch (init) {
            case SIGMA -> OuterSplit.SIGMA_INIT_METADATA_NAME;
            case RANDOM_OUTER -> OuterSplit.RANDOM_OUTER_METADATA_NAME;
            default -> split.metadataName();
        };
    }
    public double alpha() { return alpha; }
    public ScalingRule rule() { return rule; }
    /** The scale s: the rule applied to α and r_in, or the constant given. */
    public double scale() { return scale; }
    public long seed() { return seed; }
    /** Whether the outer A is multiplied by diag(s_in) at init (AIRA supp. §B, SPEC §2.10). */
    public boolean activationInformedInput() { return activationInformedInput; }

    @Override
    public String toString() {
        return "NoraConfig[r=" + outerRank + ", r_in=" + innerRank + ", scale mode " + scaleMode + ", svd " + svd
                + ", init " + init.metadataName() + ", split " + splitUsed() + ", α=" + alpha + ", rule "
                + rule.metadataName() + ", s=" + scale + (activationInformedInput ? ", activation-informed input" : "") + "]";
    }

    public static final class Builder {
        private int outerRank = -1;
        private int innerRank = -1;
        private ScaleMode scaleMode = ScaleMode.meanAbs();
        private SvdMethod svd = SvdMethod.AUTO;
        private int oversampling = 10;
        private int powerIterations = 2;
        private boolean svdFloat64;
        private InnerInit init = InnerInit.ZERO;
        private OuterSplit split = OuterSplit.SIGMA_IN_B;
        private Double alpha;
        private ScalingRule rule = ScalingRule.LORA;
        private Double constantScale;
        private long seed = 0x5eed;
        private boolean activationInformedInput;

        private Builder() {}

        public Builder outerRank(int r) { this.outerRank = r; return this; }
        public Builder innerRank(int rIn) { this.innerRank = rIn; return this; }
        public Builder scaleMode(ScaleMode mode) { this.scaleMode = java.util.Objects.requireNonNull(mode); return this; }
        public Builder svd(SvdMethod method) { this.svd = java.util.Objects.requireNonNull(method); return this; }
        /** Randomized SVD oversampling p (default 10). */
        public Builder oversampling(int p) { this.oversampling = p; return this; }
        /** Randomized SVD power iterations q (default 2). */
        public Builder powerIterations(int q) { this.powerIterations = q; return this; }
        /** Exact SVD in float64 (slower; for ill-conditioned weights). */
        public Builder svdFloat64(boolean on) { this.svdFloat64 = on; return this; }
        public Builder init(InnerInit mode) { this.init = java.util.Objects.requireNonNull(mode); return this; }
        /** Where Σ_r goes for the ZERO init (default B = U_rΣ_r); with SIGMA only the default is accepted (SPEC §2.3). */
        public Builder split(OuterSplit s) { this.split = java.util.Objects.requireNonNull(s); return this; }
        /** α (default r_in). */
        public Builder alpha(double a) { this.alpha = a; return this; }
        public Builder rule(ScalingRule r) { this.rule = java.util.Objects.requireNonNull(r); return this; }
        /** A given scale s instead of a rule. */
        public Builder constantScale(double s) { this.constantScale = s; return this; }
        /** Seed of the randomized SVD's sketch and of the Kaiming init (default fixed: results reproduce). */
        public Builder seed(long s) { this.seed = s; return this; }
        /**
         * Activation-informed input (AIRA supp. §B; SPEC §2.10): the adapter branch sees x ⊙ s_in with
         * s_in,j = mean|x_j| / mean_k mean|x_k|, folded into the frozen outer factor at init
         * (A ← A·diag(s_in)), so the kernels do not change. Needs the activation statistics
         * (the {@code ActivationStats} overloads of {@link NestedInitializer}). Default off.
         */
        public Builder activationInformedInput(boolean on) { this.activationInformedInput = on; return this; }

        public NoraConfig build() {
            if (outerRank < 1) {
                throw new InvalidRankException("NoraConfig: outer rank r must be ≥ 1, got " + outerRank);
            }
            if (innerRank < 1 || innerRank > outerRank) {
                throw new InvalidRankException("NoraConfig: inner rank r_in = " + innerRank + " must be in [1, r = "
                        + outerRank + "]");
            }
            if (oversampling < 0 || powerIterations < 0) {
                throw new IllegalArgumentException("NoraConfig: oversampling (" + oversampling + ") and power iterations ("
                        + powerIterations + ") must be ≥ 0");
            }
            // SIGMA's outer pair is (U_r, V_rᵀ S⁻¹) by definition (SPEC §2.3): another split asked for with
            // it would be silently ignored, so it is refused (the default B = U_rΣ_r reads as "not asked").
            if (init == InnerInit.SIGMA && split != OuterSplit.SIGMA_IN_B) {
                throw new IllegalArgumentException("NoraConfig: the sigma init uses the outer split (U_r, V_rᵀS⁻¹) and "
                        + "puts Σ_r into the inner pair (SPEC §2.3); the split " + split.metadataName()
                        + " applies to the zero init only");
            }
            double a = alpha == null ? innerRank : alpha;
            if (!Double.isFinite(a)) {
                throw new NonFiniteInputException("NoraConfig: α must be finite, got " + a);
            }
            double s = constantScale != null ? constantScale : rule.scale(a, innerRank);
            String from = constantScale != null ? "given" : "from α = " + a + ", r_in = " + innerRank + ", rule "
                    + rule.metadataName();
            if (!Double.isFinite(s)) {
                throw new NonFiniteInputException("NoraConfig: the scale s must be finite, got " + s + " (" + from + ")");
            }
            if (s == 0) {
                // Any other s is fine, negative too: the sigma init puts sign(s) into B' (SPEC §2.3, exact for any s).
                throw new IllegalArgumentException("NoraConfig: the scale s must be non-zero, got 0 (" + from + "): s = 0 "
                        + "leaves the adapter without effect and makes the sigma init's B' = √Σ/√|s| undefined");
            }
            return new NoraConfig(this, a, s);
        }
    }
}
