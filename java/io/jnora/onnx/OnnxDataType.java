package io.jnora.onnx;

/**
 * ONNX {@code TensorProto.DataType} codes, with the element size of their {@code raw_data} (0: not fixed).
 *
 * <p>Thread safety: constants without mutable state; thread-safe.
 */
public enum OnnxDataType {
    UNDEFINED(0, 0), FLOAT(1, 4), UINT8(2, 1), INT8(3, 1), UINT16(4, 2), INT16(5, 2), INT32(6, 4), INT64(7, 8),
    STRING(8, 0), BOOL(9, 1), FLOAT16(10, 2), DOUBLE(11, 8), UINT32(12, 4), UINT64(13, 8), COMPLEX64(14, 8),
    COMPLEX128(15, 16), BFLOAT16(16, 2), OTHER(-1, 0);

    private final int code;
    private final int elementBytes;

    OnnxDataType(int code, int elementBytes) {
        this.code = code;
        this.elementBytes = elementBytes;
    }

    public int code() {
        return code;
    }

    /** Bytes per element in raw_data; 0 for strings and unknown types. */
    public int elementBytes() {
        return elementBytes;
    }

    /** The type for a code; codes this enum does not name (FLOAT8 variants, INT4, …) are {@link #OTHER}. */
    public static OnnxDataType of(int code) {
        for (OnnxDataType t : values()) {
            if (t.code == code && t != OTHER) {
                return t;
            }
        }
        return OTHER;
    }
}
