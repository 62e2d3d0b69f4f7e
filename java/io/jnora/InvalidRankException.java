package io.jnora;

/**
 * A rank is out of range (for example r_in > r, or r > min(m, n)); the message names the ranks and the shape.
 *
 * <p>Thread safety: immutable once constructed (its message is fixed); safe to hand to any thread.
 */
public class InvalidRankException extends JnoraException {
    private static final long serialVersionUID = 1L;

    public InvalidRankException(String message) {
        super(message);
    }

    public InvalidRankException(String message, Throwable cause) {
        super(message, cause);
    }
}
