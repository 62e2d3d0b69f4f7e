package io.jnora;

/**
 * Base of every exception jnora throws; unchecked, and its message names the operation.
 *
 * <p>Thread safety: immutable once constructed (its message is fixed); safe to hand to any thread.
 */
public class JnoraException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public JnoraException(String message) {
        super(message);
    }

    public JnoraException(String message, Throwable cause) {
        super(message, cause);
    }
}
