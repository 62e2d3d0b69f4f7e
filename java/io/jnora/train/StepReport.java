package io.jnora.train;

/**
 * What one training step did (SPEC §2.10).
 *
 * @param step the update's number, 1 for the first
 * @param loss the sum over the step's regression batches of their mean squared error, before the
 *     update; NaN when every batch gave its own dY (the loss is then the caller's)
 * @param gradientNorm the global gradient norm ‖g‖ over every trainable tensor, before clipping
 * @param gradientScale the factor the gradients were multiplied by: maxGradNorm/‖g‖ when clipping
 *     engaged, else 1
 * @param learningRate the learning rate this update used (base rate times the schedule's multiplier)
 *
 * <p>Thread safety: immutable and thread-safe.
 */
public record StepReport(int step, double loss, double gradientNorm, double gradientScale, double learningRate) {
    /** Whether the gradient-norm clipping engaged on this step. */
    public boolean clipped() {
        return gradientScale < 1;
    }
}
