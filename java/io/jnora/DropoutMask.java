package io.jnora;

import java.util.SplittableRandom;

/**
 * A dropout mask on a layer's adapter input (SPEC §2.10; PEFT's {@code lora_dropout}): T×n values,
 * each 0 (dropped, with probability p) or 1/(1 − p) (kept), the scaling torch.nn.Dropout applies in
 * training so that the expected input is unchanged. {@link NestedLinear#forward(Matrix, Matrix,
 * Association, DropoutMask)} multiplies X by it in the adapter term only (the base GEMM sees X), and
 * the backward given the same mask uses the same values, so the gradients are those of the dropped
 * forward. The mask is drawn on the host from a seed and copied to the context's memory: the same
 * seed gives the same mask on every backend. One owner; closing frees it.
 *
 * <p>Thread safety: not thread-safe; it lives on its context, which one thread at a time uses.
 */
public final class DropoutMask implements AutoCloseable {
    private final Matrix values;
    private final double probability;
    private final float keptValue;

    private DropoutMask(Matrix values, double probability) {
        this.values = values;
        this.probability = probability;
        this.keptValue = (float) (1.0 / (1.0 - probability));
    }

    /** A fresh mask of rows×cols with drop probability p ∈ [0, 1), drawn from {@code seed}. */
    public static DropoutMask sample(NoraContext context, int rows, int cols, double p, long seed) {
        requireProbability("DropoutMask.sample", p);
        Checks.requireDimensions("DropoutMask.sample", rows, cols);
        DropoutMask mask = new DropoutMask(context.allocate(rows, cols), p);
        mask.resample(seed);
        return mask;
    }

    /** A given mask: {@code keep[i]} says whether element i (row-major) is kept; kept values are 1/(1 − p). */
    public static DropoutMask of(NoraContext context, int rows, int cols, double p, boolean[] keep) {
        final String op = "DropoutMask.of";
        requireProbability(op, p);
        Checks.requireDimensions(op, rows, cols);
        Checks.requireLength(op, "keep", keep.length, rows, cols);
        DropoutMask mask = new DropoutMask(context.allocate(rows, cols), p);
        mask.upload(keep);
        return mask;
    }

    /** A new draw into this mask (same shape and p): what a training loop does at every step. */
    public void resample(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        boolean[] keep = new boolean[Math.toIntExact(values.size())];
        for (int i = 0; i < keep.length; i++) {
            keep[i] = rng.nextDouble() >= probability;
        }
        upload(keep);
    }

    private void upload(boolean[] keep) {
        float[] v = new float[keep.length];
        for (int i = 0; i < v.length; i++) {
            v[i] = keep[i] ? keptValue : 0f;
        }
        values.copyFrom(v);
    }

    private static void requireProbability(String operation, double p) {
        if (!(p >= 0 && p < 1)) {
            throw new IllegalArgumentException(operation + ": the dropout probability must be in [0, 1), got " + p);
        }
    }

    public int rows() {
        return values.rows();
    }

    public int cols() {
        return values.cols();
    }

    public double probability() {
        return probability;
    }

    /** The mask's values (0 or 1/(1 − p)), row-major. */
    public float[] toArray() {
        return values.toArray();
    }

    Matrix values() {
        return values;
    }

    @Override
    public void close() {
        values.close();
    }

    @Override
    public String toString() {
        return "DropoutMask[" + values.shape() + ", p=" + probability + "]";
    }
}
