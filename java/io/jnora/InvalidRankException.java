package io.jnora;

/** A rank is out of range (for example r_in > r, or r > min(m, n)); the message names the ranks and the shape. */
public class InvalidRankException extends JnoraException {
    private static final long serialVersionUID = 1L;

    public InvalidRankException(String message) {
        super(message);
    }

    public InvalidRankException(String message, Throwable cause) {
        super(message, cause);
    }
}
