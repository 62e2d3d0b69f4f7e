package io.jnora;

/**
 * The gradients of one backward pass (SPEC §2.6): of the trainable inner factors and of the input.
 * The outer factors and the base weight are frozen and get none. Closing frees all three.
 *
 * @param innerA dL/dA' (r_in×r)
 * @param innerB dL/dB' (r×r_in)
 * @param input dL/dX (T×n)
 */
public record Gradients(Matrix innerA, Matrix innerB, Matrix input) implements AutoCloseable {
    @Override
    public void close() {
        innerA.close();
        innerB.close();
        input.close();
    }
}
