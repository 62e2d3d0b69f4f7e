package io.jnora;

/**
 * An adapter file is inconsistent with itself or with its layer; the message names the file, layer and field.
 *
 * <p>Thread safety: immutable once constructed (its message is fixed); safe to hand to any thread.
 */
public class AdapterFormatException extends JnoraException {
    private static final long serialVersionUID = 1L;

    public AdapterFormatException(String message) {
        super(message);
    }

    public AdapterFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
