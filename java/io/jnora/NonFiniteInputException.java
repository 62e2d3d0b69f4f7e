package io.jnora;

/**
 * An input that must be finite holds NaN or infinity; the message names the operand and the first bad element.
 *
 * <p>Thread safety: immutable once constructed (its message is fixed); safe to hand to any thread.
 */
public class NonFiniteInputException extends JnoraException {
    private static final long serialVersionUID = 1L;

    public NonFiniteInputException(String message) {
        super(message);
    }

    public NonFiniteInputException(String message, Throwable cause) {
        super(message, cause);
    }
}
