package io.jnora.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.OnnxFormatException;
import io.jnora.model.BertWeights;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The hand-written ONNX reader on small files built by an independent writer, and on broken ones. */
class OnnxModelTest {
    private static final String FILE = "tiny.onnx";

    private static OnnxFormatException refused(byte[] bytes) {
        return assertThrows(OnnxFormatException.class, () -> OnnxModel.parse(FILE, bytes));
    }

    private static void assertNamesFileAndOffset(OnnxFormatException e, String... fragments) {
        assertTrue(e.getMessage().startsWith("ONNX file " + FILE + ": at byte ")
                || e.getMessage().startsWith("ONNX file " + FILE + ": "), e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "'" + f + "' in: " + e.getMessage());
        }
    }

    @Test
    void readsTheGraphNodesInitializersAndValueInfos() {
        OnnxModel m = OnnxModel.parse(FILE, ProtoWriter.smallModel());
        assertEquals(8, m.irVersion());
        assertEquals("jnora-test", m.producerName());
        assertEquals(Map.of("", 17L), m.opsetImports());
        OnnxGraph g = m.graph();
        assertEquals("tiny", g.name());
        assertEquals(List.of("Constant", "MatMul", "Add"), g.nodes().stream().map(OnnxNode::opType).toList());
        OnnxNode matmul = g.nodes().get(1);
        assertEquals(List.of("x", "onnx::MatMul_7"), matmul.inputs());
        assertArrayEquals(new long[] {0, 2, 1}, matmul.attribute("perm").ints());
        assertEquals(0.25f, g.nodes().get(2).attribute("alpha").f());
        OnnxTensor eps = g.nodes().get(0).attribute("value").t();
        assertEquals(0, eps.rank());
        assertArrayEquals(new float[] {1e-12f}, eps.toFloatArray());

        OnnxTensor w = g.initializer("onnx::MatMul_7");
        assertArrayEquals(new long[] {2, 3}, w.dims());
        assertEquals(OnnxDataType.FLOAT, w.dataType());
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, w.toFloatArray());
        assertArrayEquals(new float[] {0.5f, -0.5f, 2}, g.initializer("lin.bias").toFloatArray(), "packed float_data");
        assertArrayEquals(new long[] {4, -1}, g.initializer("shape").toLongArray(), "packed int64_data");
        assertEquals(List.of("batch", "2"), g.inputs().get(0).dims());
        assertEquals(OnnxDataType.FLOAT, g.outputs().get(0).elementType());
    }

    @Test
    void aTruncatedFileNamesTheOffsetAndTheField() {
        byte[] valid = ProtoWriter.smallModel();
        for (int cut = 1; cut < valid.length; cut++) {
            byte[] shorter = Arrays.copyOf(valid, cut);
            try {
                OnnxModel.parse(FILE, shorter);
            } catch (OnnxFormatException e) {
                assertNamesFileAndOffset(e);
            }
        }
        OnnxFormatException e = refused(Arrays.copyOf(valid, valid.length - 3));
        assertNamesFileAndOffset(e, "at byte");
    }

    @Test
    void anEmptyOrForeignFileHasNoGraph() {
        assertNamesFileAndOffset(refused(new byte[0]), "holds no graph");
        assertNamesFileAndOffset(refused(new ProtoWriter().varintField(1, 3).toByteArray()), "holds no graph");
    }

    @Test
    void aVarintOfMoreThanTenBytesIsRefused() {
        byte[] b = new byte[12];
        Arrays.fill(b, (byte) 0xff);
        b[0] = 0x08;  // field 1, varint
        assertNamesFileAndOffset(refused(b), "at byte 1", "varint");
    }

    @Test
    void aLengthPastTheEndIsRefusedBeforeAnyAllocation() {
        ProtoWriter w = new ProtoWriter();
        w.tag(7, 2);
        w.varint(Long.MAX_VALUE);  // a graph of 2^63 bytes
        assertNamesFileAndOffset(refused(w.toByteArray()), "ModelProto.graph", "remain");
    }

    @Test
    void rawDataThatDisagreesWithTheDimsIsRefused() {
        byte[] model = modelWithInitializer(ProtoWriter.rawTensor("w", 1, ProtoWriter.floats(1, 2, 3), 2, 2));
        assertNamesFileAndOffset(refused(model), "\"w\"", "[2, 2]", "12 bytes", "expected 16");
    }

    @Test
    void hugeOrNegativeDimsAreRefusedWithoutAllocating() {
        byte[] huge = modelWithInitializer(ProtoWriter.rawTensor("w", 1, ProtoWriter.floats(1), 1L << 40, 1L << 40));
        assertNamesFileAndOffset(refused(huge), "\"w\"", "elements");
        byte[] negative = modelWithInitializer(ProtoWriter.rawTensor("w", 1, ProtoWriter.floats(1), -1));
        assertNamesFileAndOffset(refused(negative), "negative dimension");
        ProtoWriter many = new ProtoWriter();
        for (int i = 0; i < 70; i++) {
            many.varintField(1, 1);
        }
        many.varintField(2, 1).stringField(8, "w").bytesField(9, ProtoWriter.floats(1));
        assertNamesFileAndOffset(refused(modelWithInitializer(many)), "more than 64 dimensions");
    }

    @Test
    void externalAndSegmentedDataAreRefusedByName() {
        ProtoWriter ext = new ProtoWriter().varintField(1, 2).varintField(2, 1).stringField(8, "w").varintField(14, 1);
        assertNamesFileAndOffset(refused(modelWithInitializer(ext)), "EXTERNAL");
        ProtoWriter seg = new ProtoWriter().varintField(1, 2).varintField(2, 1).stringField(8, "w")
                .messageField(3, new ProtoWriter().varintField(1, 0));
        assertNamesFileAndOffset(refused(modelWithInitializer(seg)), "segment");
    }

    @Test
    void groupsInvalidWireTypesAndBadUtf8AreRefused() {
        ProtoWriter group = new ProtoWriter();
        group.tag(5, 3);
        assertNamesFileAndOffset(refused(group.toByteArray()), "group");
        ProtoWriter wire7 = new ProtoWriter();
        wire7.tag(5, 7);
        assertNamesFileAndOffset(refused(wire7.toByteArray()), "wire type 7");
        byte[] badName = modelWithInitializer(new ProtoWriter().varintField(1, 1).varintField(2, 1)
                .bytesField(8, new byte[] {(byte) 0xC3, (byte) 0x28}).bytesField(9, ProtoWriter.floats(1)));
        assertNamesFileAndOffset(refused(badName), "UTF-8");
        byte[] wrongWire = new ProtoWriter().fixed32Field(1, 1f).toByteArray();  // ir_version as fixed32
        assertNamesFileAndOffset(refused(wrongWire), "ir_version", "wire type 5");
    }

    @Test
    void duplicateInitializersAreRefused() {
        ProtoWriter t = ProtoWriter.rawTensor("w", 1, ProtoWriter.floats(1), 1);
        ProtoWriter graph = new ProtoWriter().messageField(5, t).messageField(5, t);
        assertNamesFileAndOffset(refused(new ProtoWriter().messageField(7, graph).toByteArray()), "two initializers");
    }

    @Test
    void unsupportedTypesAreReadButRefusedOnDecodeWithTheirName() {
        byte[] strings = modelWithInitializer(ProtoWriter.rawTensor("u8", 2, new byte[] {1, 2, 3}, 3));
        OnnxTensor t = OnnxModel.parse(FILE, strings).graph().initializer("u8");
        assertArrayEquals(new long[] {1, 2, 3}, t.toLongArray());
        OnnxFormatException e = assertThrows(OnnxFormatException.class, t::toFloatArray);
        assertTrue(e.getMessage().contains("UINT8") && e.getMessage().contains("u8"), e.getMessage());
    }

    @Test
    void aGraphThatIsNotBertIsRefusedByTheWeightReader() {
        OnnxModel m = OnnxModel.parse(FILE, ProtoWriter.smallModel());
        OnnxFormatException e = assertThrows(OnnxFormatException.class, () -> BertWeights.fromOnnx(m));
        assertTrue(e.getMessage().contains(FILE) && e.getMessage().contains("not a supported BERT encoder"), e.getMessage());
    }

    static byte[] modelWithInitializer(ProtoWriter tensor) {
        return new ProtoWriter().messageField(7, new ProtoWriter().messageField(5, tensor)).toByteArray();
    }
}
