package io.jnora.train;

/**
 * The learning-rate multiplier per update (SPEC §2.10): a linear warm-up, then a cosine decay to 0.
 *
 * <p>Step indexing, exactly as Hugging Face's {@code get_cosine_schedule_with_warmup} stepped once
 * per update (so that runs compare with PyTorch ones): update t = 1, 2, …, N uses the multiplier
 * λ(t − 1) with, for W warm-up steps and N total steps,
 *
 * <pre>
 *   λ(s) = s / W                                   for s &lt; W
 *   λ(s) = ½ · (1 + cos(π · (s − W) / (N − W)))     for W ≤ s &lt; N
 * </pre>
 *
 * So with W &gt; 0 the first update has multiplier 0 (the moments still take its gradient), update W + 1
 * has the full rate, and the last, t = N, has ½(1 + cos(π(N − 1 − W)/(N − W))) &gt; 0; λ reaches 0 at
 * t = N + 1, an update that is never taken ({@link #covers} says which updates exist). {@link
 * #constant()} has λ = 1 for every update and no end.
 *
 * <p>Thread safety: immutable and thread-safe.
 */
public final class LearningRateSchedule {
    private final int warmupSteps;
    private final int totalSteps;  // 0: constant, no end

    private LearningRateSchedule(int warmupSteps, int totalSteps) {
        this.warmupSteps = warmupSteps;
        this.totalSteps = totalSteps;
    }

    /** λ = 1 at every update. */
    public static LearningRateSchedule constant() {
        return new LearningRateSchedule(0, 0);
    }

    /** W warm-up updates (0 ≤ W &lt; N), then cosine decay; N ≥ 1 updates in all. */
    public static LearningRateSchedule warmupCosine(int warmupSteps, int totalSteps) {
        if (totalSteps < 1) {
            throw new InvalidHyperparameterException("LearningRateSchedule: total steps must be ≥ 1, got " + totalSteps);
        }
        if (warmupSteps < 0 || warmupSteps >= totalSteps) {
            throw new InvalidHyperparameterException("LearningRateSchedule: warm-up steps must be in [0, " + totalSteps
                    + ") for " + totalSteps + " steps, got " + warmupSteps);
        }
        return new LearningRateSchedule(warmupSteps, totalSteps);
    }

    public int warmupSteps() {
        return warmupSteps;
    }

    /** N, or 0 for the constant schedule. */
    public int totalSteps() {
        return totalSteps;
    }

    public boolean isConstant() {
        return totalSteps == 0;
    }

    /** Whether update t (1-based) is part of the schedule. */
    public boolean covers(int step) {
        return step >= 1 && (totalSteps == 0 || step <= totalSteps);
    }

    /** The multiplier of the base learning rate for update t (1-based, {@link #covers covered}). */
    public double factor(int step) {
        if (!covers(step)) {
            throw new IllegalArgumentException("LearningRateSchedule: update " + step + " is outside the schedule's "
                    + (totalSteps == 0 ? "steps 1, 2, ..." : "steps 1.." + totalSteps));
        }
        int s = step - 1;
        if (s < warmupSteps) {
            return (double) s / warmupSteps;
        }
        if (totalSteps == 0) {
            return 1.0;
        }
        double progress = (double) (s - warmupSteps) / (totalSteps - warmupSteps);
        return 0.5 * (1.0 + Math.cos(Math.PI * progress));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LearningRateSchedule l && l.warmupSteps == warmupSteps && l.totalSteps == totalSteps;
    }

    @Override
    public int hashCode() {
        return 31 * warmupSteps + totalSteps;
    }

    @Override
    public String toString() {
        return totalSteps == 0 ? "constant" : "warm-up " + warmupSteps + " then cosine to step " + totalSteps;
    }
}
