package io.jnora;

/**
 * Shapes of the operands of an operation do not agree; the message gives the expected and actual shapes.
 *
 * <p>Thread safety: immutable once constructed (its message is fixed); safe to hand to any thread.
 */
public class ShapeMismatchException extends JnoraException {
    private static final long serialVersionUID = 1L;

    public ShapeMismatchException(String message) {
        super(message);
    }

    public ShapeMismatchException(String message, Throwable cause) {
        super(message, cause);
    }
}
