package io.jnora.onnx;

import io.jnora.OnnxFormatException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * A bounds-checked reader of the protocol-buffers wire format over a window of a file held in
 * memory. Positions are absolute byte offsets in the file, so every failure names where it happened;
 * a length is checked against the bytes left in the enclosing message before anything is read or
 * allocated from it. Groups (wire types 3 and 4, unused by ONNX) are refused.
 */
final class ProtoReader {
    static final int VARINT = 0;
    static final int FIXED64 = 1;
    static final int LENGTH_DELIMITED = 2;
    static final int FIXED32 = 5;
    private static final int MAX_FIELD_NUMBER = (1 << 29) - 1;

    /** A byte range of the file, not copied. */
    record Slice(int offset, int length) {}

    private final String file;
    private final byte[] data;
    private final int limit;
    private final String context;
    private int pos;
    private int fieldStart;
    private int field;
    private int wireType;

    ProtoReader(String file, byte[] data, int start, int limit, String context) {
        this.file = file;
        this.data = data;
        this.pos = start;
        this.limit = limit;
        this.context = context;
    }

    String context() {
        return context;
    }

    byte[] data() {
        return data;
    }

    String file() {
        return file;
    }

    boolean hasMore() {
        return pos < limit;
    }

    int position() {
        return pos;
    }

    /** Reads the next tag; returns its field number (the wire type is {@link #wireType()}). */
    int nextField() {
        fieldStart = pos;
        long tag = varint("a field tag");
        long number = tag >>> 3;
        int wire = (int) (tag & 7);
        if (number < 1 || number > MAX_FIELD_NUMBER) {
            throw errorAt(fieldStart, "field number " + number + " is out of range");
        }
        if (wire == 3 || wire == 4) {
            throw errorAt(fieldStart, "field " + number + " uses a group (wire type " + wire + "), which ONNX never uses");
        }
        if (wire != VARINT && wire != FIXED64 && wire != LENGTH_DELIMITED && wire != FIXED32) {
            throw errorAt(fieldStart, "field " + number + " has invalid wire type " + wire);
        }
        field = (int) number;
        wireType = wire;
        return field;
    }

    int wireType() {
        return wireType;
    }

    /** Fails unless the current field has the expected wire type. */
    void expect(int wire, String fieldName) {
        if (wireType != wire) {
            throw errorAt(fieldStart, fieldName + " (field " + field + ") has wire type " + wireType + ", expected "
                    + wire);
        }
    }

    long varint(String what) {
        long result = 0;
        int start = pos;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos >= limit) {
                throw errorAt(start, "truncated varint (" + what + ") runs past the end of " + context);
            }
            int b = data[pos++] & 0xff;
            if (shift == 63 && b > 1) {
                throw errorAt(start, "malformed varint (" + what + "): more than 64 bits");
            }
            result |= (long) (b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                return result;
            }
        }
        throw errorAt(start, "malformed varint (" + what + "): longer than 10 bytes");
    }

    long int64(String fieldName) {
        expect(VARINT, fieldName);
        return varint(fieldName);
    }

    /** int32 fields are sign-extended to 64 bits on the wire; a value outside int32 is refused. */
    int int32(String fieldName) {
        int start = pos;
        long v = int64(fieldName);
        if (v != (int) v) {
            throw errorAt(start, fieldName + " = " + v + " does not fit an int32");
        }
        return (int) v;
    }

    float float32(String fieldName) {
        expect(FIXED32, fieldName);
        return Float.intBitsToFloat(fixed32(fieldName));
    }

    private int fixed32(String what) {
        require(4, what);
        int v = (data[pos] & 0xff) | (data[pos + 1] & 0xff) << 8 | (data[pos + 2] & 0xff) << 16 | (data[pos + 3] & 0xff) << 24;
        pos += 4;
        return v;
    }

    /** The payload of a length-delimited field, checked against the bytes left. */
    Slice bytes(String fieldName) {
        expect(LENGTH_DELIMITED, fieldName);
        int start = pos;
        long length = varint(fieldName + " length");
        if (length < 0 || length > limit - pos) {
            throw errorAt(start, fieldName + " declares " + Long.toUnsignedString(length) + " bytes but only "
                    + (limit - pos) + " remain in " + context);
        }
        Slice s = new Slice(pos, (int) length);
        pos += (int) length;
        return s;
    }

    String string(String fieldName) {
        Slice s = bytes(fieldName);
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(data, s.offset(), s.length())).toString();
        } catch (CharacterCodingException e) {
            throw errorAt(s.offset(), fieldName + " is not valid UTF-8");
        }
    }

    /** A reader over an embedded message; {@code childContext} names it in messages. */
    ProtoReader message(String childContext) {
        Slice s = bytes(childContext);
        return new ProtoReader(file, data, s.offset(), s.offset() + s.length(), childContext);
    }

    /** Packed (length-delimited) or single varint elements of a repeated int64 field, appended to {@code out}. */
    void repeatedInt64(String fieldName, LongList out) {
        if (wireType == VARINT) {
            out.add(varint(fieldName));
            return;
        }
        Slice s = bytes(fieldName);
        ProtoReader packed = new ProtoReader(file, data, s.offset(), s.offset() + s.length(), fieldName);
        while (packed.hasMore()) {
            out.add(packed.varint(fieldName));
        }
    }

    /** Packed or single fixed32 floats of a repeated float field. */
    void repeatedFloat(String fieldName, FloatList out) {
        if (wireType == FIXED32) {
            out.add(Float.intBitsToFloat(fixed32(fieldName)));
            return;
        }
        Slice s = bytes(fieldName);
        if (s.length() % 4 != 0) {
            throw errorAt(s.offset(), "packed " + fieldName + " holds " + s.length() + " bytes, not a multiple of 4");
        }
        for (int at = s.offset(); at < s.offset() + s.length(); at += 4) {
            out.add(Float.intBitsToFloat(littleEndianInt(data, at)));
        }
    }

    /** Skips the current field's payload. */
    void skip() {
        switch (wireType) {
            case VARINT -> varint("field " + field);
            case FIXED64 -> {
                require(8, "field " + field);
                pos += 8;
            }
            case FIXED32 -> {
                require(4, "field " + field);
                pos += 4;
            }
            case LENGTH_DELIMITED -> bytes("field " + field);
            default -> throw errorAt(fieldStart, "cannot skip wire type " + wireType);
        }
    }

    private void require(int count, String what) {
        if (limit - pos < count) {
            throw errorAt(pos, what + " needs " + count + " bytes but only " + (limit - pos) + " remain in " + context);
        }
    }

    int fieldStart() {
        return fieldStart;
    }

    OnnxFormatException errorAt(int offset, String what) {
        return error(file, offset, context, what);
    }

    static OnnxFormatException error(String file, int offset, String context, String what) {
        return new OnnxFormatException("ONNX file " + file + ": at byte " + offset + " (" + context + "): " + what);
    }

    static int littleEndianInt(byte[] b, int at) {
        return (b[at] & 0xff) | (b[at + 1] & 0xff) << 8 | (b[at + 2] & 0xff) << 16 | (b[at + 3] & 0xff) << 24;
    }

    static long littleEndianLong(byte[] b, int at) {
        return (littleEndianInt(b, at) & 0xffffffffL) | (long) littleEndianInt(b, at + 4) << 32;
    }

    /** A growable long array (no boxing for the large repeated fields). */
    static final class LongList {
        private long[] values = new long[8];
        private int size;

        void add(long v) {
            if (size == values.length) {
                values = java.util.Arrays.copyOf(values, size * 2);
            }
            values[size++] = v;
        }

        int size() {
            return size;
        }

        long[] toArray() {
            return java.util.Arrays.copyOf(values, size);
        }
    }

    /** A growable float array. */
    static final class FloatList {
        private float[] values = new float[8];
        private int size;

        void add(float v) {
            if (size == values.length) {
                values = java.util.Arrays.copyOf(values, size * 2);
            }
            values[size++] = v;
        }

        int size() {
            return size;
        }

        float[] toArray() {
            return java.util.Arrays.copyOf(values, size);
        }
    }
}
