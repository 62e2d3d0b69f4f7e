package io.jnora.train;

/**
 * AdamW's hyper-parameters (SPEC §2.10), immutable and validated at {@link Builder#build()}:
 *
 * <pre>{@code
 * AdamWConfig cfg = AdamWConfig.builder().learningRate(1e-3)
 *         .schedule(LearningRateSchedule.warmupCosine(50, 1000)).maxGradNorm(1.0).build();
 * }</pre>
 *
 * Defaults are the SPEC's (the papers' setting): learning rate 5e-4, β = (0.9, 0.999), ε = 1e-8,
 * decoupled weight decay 0.01 (torch.optim.AdamW: p ← p − lr·wd·p, then the Adam step), no
 * gradient clipping, and a constant schedule (a warm-up/cosine schedule needs the number of steps).
 * With clipping, a step whose global gradient norm ‖g‖ (over every trainable tensor of the model)
 * exceeds {@code maxGradNorm} uses g · maxGradNorm/‖g‖; one at or below it is left alone
 * (PyTorch's clip_grad_norm_ divides by ‖g‖ + 1e-6 instead, a difference of 1e-6 relative).
 *
 * <p>Thread safety: immutable and thread-safe; its Builder is not.
 */
public final class AdamWConfig {
    public static final double DEFAULT_LEARNING_RATE = 5e-4;
    public static final double DEFAULT_BETA1 = 0.9;
    public static final double DEFAULT_BETA2 = 0.999;
    public static final double DEFAULT_EPSILON = 1e-8;
    public static final double DEFAULT_WEIGHT_DECAY = 0.01;

    private final double learningRate;
    private final double beta1;
    private final double beta2;
    private final double epsilon;
    private final double weightDecay;
    private final double maxGradNorm;  // 0: no clipping
    private final LearningRateSchedule schedule;

    private AdamWConfig(Builder b) {
        this.learningRate = b.learningRate;
        this.beta1 = b.beta1;
        this.beta2 = b.beta2;
        this.epsilon = b.epsilon;
        this.weightDecay = b.weightDecay;
        this.maxGradNorm = b.maxGradNorm;
        this.schedule = b.schedule;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this configuration's values, to change some of them. */
    public Builder toBuilder() {
        return new Builder().learningRate(learningRate).betas(beta1, beta2).epsilon(epsilon).weightDecay(weightDecay)
                .maxGradNorm(maxGradNorm).schedule(schedule);
    }

    public double learningRate() { return learningRate; }
    public double beta1() { return beta1; }
    public double beta2() { return beta2; }
    public double epsilon() { return epsilon; }
    public double weightDecay() { return weightDecay; }
    /** The bound on the global gradient norm, or 0 when clipping is off. */
    public double maxGradNorm() { return maxGradNorm; }
    public boolean clipsGradients() { return maxGradNorm > 0; }
    public LearningRateSchedule schedule() { return schedule; }

    /** The learning rate of update t (1-based): the base rate times the schedule's multiplier. */
    public double learningRate(int step) {
        return learningRate * schedule.factor(step);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AdamWConfig c && c.learningRate == learningRate && c.beta1 == beta1 && c.beta2 == beta2
                && c.epsilon == epsilon && c.weightDecay == weightDecay && c.maxGradNorm == maxGradNorm
                && c.schedule.equals(schedule);
    }

    @Override
    public int hashCode() {
        return Double.hashCode(learningRate) * 31 + schedule.hashCode();
    }

    @Override
    public String toString() {
        return "AdamW[lr=" + learningRate + ", β=(" + beta1 + ", " + beta2 + "), ε=" + epsilon + ", wd=" + weightDecay
                + (clipsGradients() ? ", max ‖g‖=" + maxGradNorm : "") + ", " + schedule + "]";
    }

    public static final class Builder {
        private double learningRate = DEFAULT_LEARNING_RATE;
        private double beta1 = DEFAULT_BETA1;
        private double beta2 = DEFAULT_BETA2;
        private double epsilon = DEFAULT_EPSILON;
        private double weightDecay = DEFAULT_WEIGHT_DECAY;
        private double maxGradNorm;
        private LearningRateSchedule schedule = LearningRateSchedule.constant();

        private Builder() {}

        public Builder learningRate(double lr) { this.learningRate = lr; return this; }
        public Builder betas(double b1, double b2) { this.beta1 = b1; this.beta2 = b2; return this; }
        public Builder epsilon(double eps) { this.epsilon = eps; return this; }
        public Builder weightDecay(double wd) { this.weightDecay = wd; return this; }
        /** Clip the global gradient norm to this bound (> 0); 0 turns clipping off (the default). */
        public Builder maxGradNorm(double bound) { this.maxGradNorm = bound; return this; }
        public Builder schedule(LearningRateSchedule s) { this.schedule = java.util.Objects.requireNonNull(s); return this; }

        public AdamWConfig build() {
            require(learningRate > 0 && Double.isFinite(learningRate), "the learning rate must be > 0 and finite, got "
                    + learningRate);
            require(beta1 >= 0 && beta1 < 1, "β1 must be in [0, 1), got " + beta1);
            require(beta2 >= 0 && beta2 < 1, "β2 must be in [0, 1), got " + beta2);
            require(epsilon > 0 && Double.isFinite(epsilon), "ε must be > 0 and finite, got " + epsilon);
            require(weightDecay >= 0 && Double.isFinite(weightDecay), "the weight decay must be ≥ 0 and finite, got "
                    + weightDecay);
            require(maxGradNorm >= 0 && Double.isFinite(maxGradNorm), "the gradient-norm bound must be > 0 (or 0 for "
                    + "no clipping) and finite, got " + maxGradNorm);
            return new AdamWConfig(this);
        }

        private static void require(boolean ok, String message) {
            if (!ok) {
                throw new InvalidHyperparameterException("AdamWConfig: " + message);
            }
        }
    }
}
