package io.jnora;

/**
 * A native call (CUDA, cuBLAS, the jnora C API) failed; the message carries the native error and where it was detected.
 *
 * <p>Thread safety: immutable once constructed (its message is fixed); safe to hand to any thread.
 */
public class NativeFailureException extends JnoraException {
    private static final long serialVersionUID = 1L;

    public NativeFailureException(String message) {
        super(message);
    }

    public NativeFailureException(String message, Throwable cause) {
        super(message, cause);
    }
}
