package io.jnora.train;

import io.jnora.JnoraException;

/**
 * A training step met a NaN or an infinity in a loss or a gradient. The step was not applied: the
 * parameters, the moments and the step count are as they were before it. The message names the
 * step, the layer and what was non-finite.
 *
 * <p>Thread safety: immutable once constructed (its message is fixed); safe to hand to any thread.
 */
public class NonFiniteTrainingException extends JnoraException {
    private static final long serialVersionUID = 1L;

    private final int step;
    private final String layer;

    public NonFiniteTrainingException(String message, int step, String layer) {
        super(message);
        this.step = step;
        this.layer = layer;
    }

    /** The number of the step that was refused (1 for the first). */
    public int step() {
        return step;
    }

    /** The name of the layer whose loss or gradient was non-finite. */
    public String layer() {
        return layer;
    }
}
