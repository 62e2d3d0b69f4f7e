package io.jnora.onnx;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * A minimal protocol-buffers writer for building ONNX files in tests (independent of the reader); public
 * for the fuzz targets' seeds. Not thread-safe: one writer per thread.
 */
public final class ProtoWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    public ProtoWriter varintField(int field, long value) {
        tag(field, 0);
        varint(value);
        return this;
    }

    public ProtoWriter fixed32Field(int field, float value) {
        tag(field, 5);
        int bits = Float.floatToRawIntBits(value);
        for (int i = 0; i < 4; i++) {
            out.write(bits >>> (8 * i));
        }
        return this;
    }

    public ProtoWriter bytesField(int field, byte[] value) {
        tag(field, 2);
        varint(value.length);
        out.writeBytes(value);
        return this;
    }

    public ProtoWriter stringField(int field, String value) {
        return bytesField(field, value.getBytes(StandardCharsets.UTF_8));
    }

    public ProtoWriter messageField(int field, ProtoWriter message) {
        return bytesField(field, message.toByteArray());
    }

    /** A packed repeated varint field. */
    public ProtoWriter packedVarints(int field, long... values) {
        ProtoWriter p = new ProtoWriter();
        for (long v : values) {
            p.varint(v);
        }
        return bytesField(field, p.toByteArray());
    }

    public ProtoWriter raw(byte[] bytes) {
        out.writeBytes(bytes);
        return this;
    }

    public void tag(int field, int wire) {
        varint((long) field << 3 | wire);
    }

    public void varint(long v) {
        while ((v & ~0x7FL) != 0) {
            out.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    public byte[] toByteArray() {
        return out.toByteArray();
    }

    public static byte[] floats(float... values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return b.array();
    }

    /** TensorProto with dims, a data type and raw_data. */
    public static ProtoWriter rawTensor(String name, int dataType, byte[] raw, long... dims) {
        ProtoWriter t = new ProtoWriter();
        for (long d : dims) {
            t.varintField(1, d);
        }
        return t.varintField(2, dataType).stringField(8, name).bytesField(9, raw);
    }

    public static ProtoWriter node(String name, String op, String[] inputs, String[] outputs, ProtoWriter... attributes) {
        ProtoWriter n = new ProtoWriter();
        for (String i : inputs) {
            n.stringField(1, i);
        }
        for (String o : outputs) {
            n.stringField(2, o);
        }
        n.stringField(3, name).stringField(4, op);
        for (ProtoWriter a : attributes) {
            n.messageField(5, a);
        }
        return n;
    }

    public static ProtoWriter valueInfo(String name, int elemType, Object... dims) {
        ProtoWriter shape = new ProtoWriter();
        for (Object d : dims) {
            ProtoWriter dim = new ProtoWriter();
            if (d instanceof String s) {
                dim.stringField(2, s);
            } else {
                dim.varintField(1, ((Number) d).longValue());
            }
            shape.messageField(1, dim);
        }
        ProtoWriter tensor = new ProtoWriter().varintField(1, elemType).messageField(2, shape);
        return new ProtoWriter().stringField(1, name).messageField(2, new ProtoWriter().messageField(1, tensor));
    }

    /**
     * A small valid model: y = x·W + b as MatMul and Add (W a 2×3 raw FLOAT initializer, b packed
     * float_data), a Constant node holding a scalar tensor, an INT64 initializer in packed int64_data,
     * an attribute with ints, graph input x [batch, 2] and output y.
     */
    public static byte[] smallModel() {
        ProtoWriter w = rawTensor("onnx::MatMul_7", 1, floats(1, 2, 3, 4, 5, 6), 2, 3);
        ProtoWriter b = new ProtoWriter().varintField(1, 3).varintField(2, 1).stringField(8, "lin.bias")
                .bytesField(4, floats(0.5f, -0.5f, 2));
        ProtoWriter shape = new ProtoWriter().varintField(1, 2).varintField(2, 7).stringField(8, "shape")
                .packedVarints(7, 4, -1);
        ProtoWriter eps = rawTensor("", 1, floats(1e-12f));
        ProtoWriter constant = node("/Constant", "Constant", new String[0], new String[] {"eps"},
                new ProtoWriter().stringField(1, "value").varintField(20, 4).messageField(5, eps));
        ProtoWriter matmul = node("/lin/MatMul", "MatMul", new String[] {"x", "onnx::MatMul_7"}, new String[] {"xw"},
                new ProtoWriter().stringField(1, "perm").varintField(20, 7).packedVarints(8, 0, 2, 1));
        ProtoWriter add = node("/lin/Add", "Add", new String[] {"lin.bias", "xw"}, new String[] {"y"},
                new ProtoWriter().stringField(1, "alpha").varintField(20, 1).fixed32Field(2, 0.25f));
        ProtoWriter graph = new ProtoWriter().messageField(1, constant).messageField(1, matmul).messageField(1, add)
                .stringField(2, "tiny").messageField(5, w).messageField(5, b).messageField(5, shape)
                .messageField(11, valueInfo("x", 1, "batch", 2)).messageField(12, valueInfo("y", 1, "batch", 3));
        return new ProtoWriter().varintField(1, 8).stringField(2, "jnora-test").stringField(3, "1")
                .messageField(8, new ProtoWriter().stringField(1, "").varintField(2, 17))
                .messageField(7, graph).toByteArray();
    }
}
