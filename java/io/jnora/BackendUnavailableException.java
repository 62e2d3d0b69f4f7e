package io.jnora;

/**
 * The requested backend cannot run here; the message says why (no device, no driver, library not built, libraries failed to load).
 *
 * <p>Thread safety: immutable once constructed (its message is fixed); safe to hand to any thread.
 */
public class BackendUnavailableException extends JnoraException {
    private static final long serialVersionUID = 1L;

    public BackendUnavailableException(String message) {
        super(message);
    }

    public BackendUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
