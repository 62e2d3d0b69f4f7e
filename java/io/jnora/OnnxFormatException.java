package io.jnora;

/**
 * An ONNX file is malformed or holds something the reader does not support; the message names the
 * file, the byte offset in it and the field being read (e.g. {@code GraphProto.initializer[3].dims}).
 *
 * <p>Thread safety: immutable once constructed (its message is fixed); safe to hand to any thread.
 */
public class OnnxFormatException extends JnoraException {
    private static final long serialVersionUID = 1L;

    public OnnxFormatException(String message) {
        super(message);
    }

    public OnnxFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
