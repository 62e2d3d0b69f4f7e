package io.jnora;

/**
 * A layer list for rank allocation (the {@code ranks} command's JSON) is malformed; the message names the file and the field.
 *
 * <p>Thread safety: immutable once constructed (its message is fixed); safe to hand to any thread.
 */
public class LayersFormatException extends JnoraException {
    private static final long serialVersionUID = 1L;

    public LayersFormatException(String message) {
        super(message);
    }

    public LayersFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
