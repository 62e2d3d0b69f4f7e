package io.jnora;

/**
 * A resource bound was reached (an adapter registry's memory budget or slots); the message gives the numbers.
 *
 * <p>Thread safety: immutable once constructed (its message is fixed); safe to hand to any thread.
 */
public class CapacityExceededException extends JnoraException {
    private static final long serialVersionUID = 1L;

    public CapacityExceededException(String message) {
        super(message);
    }
}
