package io.jnora.onnx;

import io.jnora.OnnxFormatException;
import io.jnora.io.BFloat16;
import io.jnora.io.Float16;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;

/**
 * A {@code TensorProto}: name, dims, element type, and its data as a validated byte range of the file
 * (raw_data, or a packed typed field), decoded on request. The element count (the product of the dims)
 * was checked against the bytes present when the file was read, so decoding allocates exactly what
 * the file holds; a type without a fixed element size (strings, FLOAT8, INT4, …) is refused before any
 * allocation, since nothing bounded its count.
 *
 * <p>Immutable and thread-safe, provided the bytes given to {@link OnnxModel#parse} are not modified.
 */
public final class OnnxTensor {
    /** Where the elements are: raw little-endian bytes, or one of the typed repeated fields. */
    enum Storage { RAW, FLOAT_DATA, INT32_DATA, INT64_DATA, DOUBLE_DATA, NONE }

    /** The types whose raw_data {@link #toLongArray} reads as integers (16-bit floats as their bits). */
    private static final Set<OnnxDataType> INTEGER_RAW = EnumSet.of(OnnxDataType.INT64, OnnxDataType.INT32,
            OnnxDataType.UINT32, OnnxDataType.INT16, OnnxDataType.UINT16, OnnxDataType.FLOAT16, OnnxDataType.BFLOAT16,
            OnnxDataType.INT8, OnnxDataType.UINT8, OnnxDataType.BOOL);

    private final String file;
    private final String name;
    private final long[] dims;
    private final OnnxDataType dataType;
    private final int dataTypeCode;
    private final long elementCount;
    private final byte[] bytes;
    private final Storage storage;
    private final int dataOffset;
    private final int dataLength;

    OnnxTensor(String file, String name, long[] dims, int dataTypeCode, long elementCount, byte[] bytes, Storage storage,
            int dataOffset, int dataLength) {
        this.file = file;
        this.name = name;
        this.dims = dims;
        this.dataTypeCode = dataTypeCode;
        this.dataType = OnnxDataType.of(dataTypeCode);
        this.elementCount = elementCount;
        this.bytes = bytes;
        this.storage = storage;
        this.dataOffset = dataOffset;
        this.dataLength = dataLength;
    }

    public String name() {
        return name;
    }

    public long[] dims() {
        return dims.clone();
    }

    public int rank() {
        return dims.length;
    }

    public OnnxDataType dataType() {
        return dataType;
    }

    public long elementCount() {
        return elementCount;
    }

    /** The byte offset of the tensor's data in the file. */
    public int dataOffset() {
        return dataOffset;
    }

    /** The dims as ints (each fits: the element count was checked against the file). */
    public int[] shape() {
        int[] s = new int[dims.length];
        for (int i = 0; i < s.length; i++) {
            s[i] = (int) dims[i];
        }
        return s;
    }

    /** The elements as float32, from FLOAT, FLOAT16, BFLOAT16 or DOUBLE data. */
    public float[] toFloatArray() {
        if (elementCount > 0 && dataType != OnnxDataType.FLOAT && dataType != OnnxDataType.DOUBLE
                && dataType != OnnxDataType.FLOAT16 && dataType != OnnxDataType.BFLOAT16) {
            throw unsupported("float");  // before allocating: a type without a fixed size was not sized by its data
        }
        int n = (int) elementCount;
        float[] out = new float[n];
        if (n == 0) {
            return out;
        }
        switch (dataType) {
            case FLOAT -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Float.intBitsToFloat(ProtoReader.littleEndianInt(bytes, dataOffset + 4 * i));
                }
            }
            case DOUBLE -> {
                for (int i = 0; i < n; i++) {
                    out[i] = (float) Double.longBitsToDouble(ProtoReader.littleEndianLong(bytes, dataOffset + 8 * i));
                }
            }
            case FLOAT16, BFLOAT16 -> {
                // raw_data holds 2-byte elements; int32_data holds one element per (varint) int32
                long[] bits = storage == Storage.RAW ? null : toLongArray();
                for (int i = 0; i < n; i++) {
                    int h = bits == null ? (bytes[dataOffset + 2 * i] & 0xff) | (bytes[dataOffset + 2 * i + 1] & 0xff) << 8
                            : (int) bits[i] & 0xffff;
                    out[i] = dataType == OnnxDataType.FLOAT16 ? Float16.toFloat((short) h) : BFloat16.toFloat((short) h);
                }
            }
            default -> throw unsupported("float");
        }
        return out;
    }

    /** The elements as int64, from INT64, INT32, INT16, INT8, UINT8, UINT16, UINT32 or BOOL data. */
    public long[] toLongArray() {
        boolean typed = storage == Storage.INT32_DATA || storage == Storage.INT64_DATA;
        if (elementCount > 0 && !typed && (storage != Storage.RAW || !INTEGER_RAW.contains(dataType))) {
            throw unsupported("integer");  // before allocating: a type without a fixed size was not sized by its data
        }
        int n = (int) elementCount;
        long[] out = new long[n];
        if (n == 0) {
            return out;
        }
        if (typed) {
            ProtoReader r = new ProtoReader(file, bytes, dataOffset, dataOffset + dataLength, "TensorProto " + name);
            for (int i = 0; i < n; i++) {
                long v = r.varint("element " + i);
                out[i] = storage == Storage.INT32_DATA ? (int) v : v;
            }
            return out;
        }
        for (int i = 0; i < n; i++) {
            int at = dataOffset + i * dataType.elementBytes();
            out[i] = switch (dataType) {
                case INT64 -> ProtoReader.littleEndianLong(bytes, at);
                case INT32 -> ProtoReader.littleEndianInt(bytes, at);
                case UINT32 -> ProtoReader.littleEndianInt(bytes, at) & 0xffffffffL;
                case INT16 -> (short) ((bytes[at] & 0xff) | (bytes[at + 1] & 0xff) << 8);
                case UINT16, FLOAT16, BFLOAT16 -> (bytes[at] & 0xff) | (bytes[at + 1] & 0xff) << 8;
                case INT8 -> bytes[at];
                case UINT8, BOOL -> bytes[at] & 0xff;
                default -> throw unsupported("integer");
            };
        }
        return out;
    }

    private OnnxFormatException unsupported(String as) {
        return ProtoReader.error(file, dataOffset, "TensorProto " + name, "data type " + dataType + " (code "
                + dataTypeCode + ") cannot be read as " + as + " values");
    }

    @Override
    public String toString() {
        return "OnnxTensor[" + name + ", " + dataType + " " + Arrays.toString(dims) + "]";
    }
}
