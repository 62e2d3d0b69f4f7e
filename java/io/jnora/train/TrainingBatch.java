package io.jnora.train;

import io.jnora.Matrix;
import io.jnora.NestedLinear;
import java.util.Objects;

/**
 * One layer's share of a training step: its input rows X (T×n) and either the upstream gradient dY
 * (T×m) of the model's loss, or regression targets (T×m) for the mean-squared-error helper
 * (loss = ‖Y − target‖²_F / (T·m), so dY = 2(Y − target)/(T·m)). Optionally a T×n matrix to receive
 * dL/dX (computed with the parameters as they were before the step), for back-propagating further.
 *
 * <p>Thread safety: not thread-safe; its matrices live on one context, which one thread at a time uses.
 */
public final class TrainingBatch {
    private final NestedLinear layer;
    private final Matrix input;
    private final Matrix upstream;
    private final Matrix target;
    private final Matrix inputGradient;

    private TrainingBatch(NestedLinear layer, Matrix input, Matrix upstream, Matrix target, Matrix inputGradient) {
        this.layer = Objects.requireNonNull(layer, "layer");
        this.input = Objects.requireNonNull(input, "input");
        this.upstream = upstream;
        this.target = target;
        this.inputGradient = inputGradient;
    }

    /** X and the upstream gradient dY of the model's loss. */
    public static TrainingBatch upstream(NestedLinear layer, Matrix x, Matrix dy) {
        return new TrainingBatch(layer, x, Objects.requireNonNull(dy, "dy"), null, null);
    }

    /** X and the targets of the mean-squared-error loss. */
    public static TrainingBatch regression(NestedLinear layer, Matrix x, Matrix target) {
        return new TrainingBatch(layer, x, null, Objects.requireNonNull(target, "target"), null);
    }

    /** The same batch, also writing dL/dX into {@code dx} (T×n). */
    public TrainingBatch withInputGradient(Matrix dx) {
        return new TrainingBatch(layer, input, upstream, target, Objects.requireNonNull(dx, "dx"));
    }

    public NestedLinear layer() {
        return layer;
    }

    public Matrix input() {
        return input;
    }

    /** dY, or null for a regression batch. */
    public Matrix upstream() {
        return upstream;
    }

    /** The targets, or null when dY is given. */
    public Matrix target() {
        return target;
    }

    /** Where dL/dX goes, or null. */
    public Matrix inputGradient() {
        return inputGradient;
    }

    public boolean isRegression() {
        return target != null;
    }
}
