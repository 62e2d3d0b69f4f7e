package io.jnora;

/**
 * A safetensors file is inconsistent or does not hold what was asked of it (SPEC §5); the message
 * names the file, the offending field and, where one applies, the byte offset in the file.
 *
 * <p>Thread safety: immutable once constructed (its message is fixed); safe to hand to any thread.
 */
public class SafetensorsFormatException extends JnoraException {
    private static final long serialVersionUID = 1L;

    public SafetensorsFormatException(String message) {
        super(message);
    }

    public SafetensorsFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
