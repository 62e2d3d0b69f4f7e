package io.jnora;

/**
 * The gradients of one backward pass (SPEC §2.6): of the trainable inner factors and of the input.
 * The outer factors and the base weight are frozen and get none. Closing frees what it holds.
 *
 * <p>Thread safety: not thread-safe; confined, like its matrices, to the thread of their context.
 *
 * @param innerA dL/dA' (r_in×r)
 * @param innerB dL/dB' (r×r_in)
 * @param input dL/dX (T×n), or null when dX is not wanted (the first layer of a model, or one layer
 *     trained on its own): the backward then skips dX = dY W_base + dZ1 A, which costs as much as
 *     the base GEMM
 */
public record Gradients(Matrix innerA, Matrix innerB, Matrix input) implements AutoCloseable {
    @Override
    public void close() {
        innerA.close();
        innerB.close();
        if (input != null) {
            input.close();
        }
    }
}
