package io.jnora;

/**
 * A tokenizer file (Hugging Face {@code tokenizer.json}) is malformed or of an unsupported kind; names file and field.
 *
 * <p>Thread safety: immutable once constructed (its message is fixed); safe to hand to any thread.
 */
public class TokenizerFormatException extends JnoraException {
    private static final long serialVersionUID = 1L;

    public TokenizerFormatException(String message) {
        super(message);
    }

    public TokenizerFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
