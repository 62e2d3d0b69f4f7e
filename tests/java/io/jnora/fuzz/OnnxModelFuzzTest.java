package io.jnora.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jnora.OnnxFormatException;
import io.jnora.model.BertConfig;
import io.jnora.model.BertWeights;
import io.jnora.onnx.OnnxAttribute;
import io.jnora.onnx.OnnxModel;
import io.jnora.onnx.OnnxNode;
import io.jnora.onnx.OnnxTensor;
import io.jnora.onnx.ProtoWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Fuzz target: the real model's reader, {@link OnnxModel#read} (the protobuf wire format, graph, nodes,
 * attributes, initializers), then decoding every initializer and attribute tensor as floats and as
 * integers, then {@link BertWeights#fromOnnx} on the parsed graph. First byte even: the rest is a whole
 * ONNX file; odd: the rest is the {@code TensorProto} of the first query weight of a tiny valid BERT
 * export (so the fuzzer works on dims, data types and storages where the encoder reader decodes them).
 * Each step either succeeds or refuses with a {@link io.jnora.JnoraException} naming the file.
 */
public class OnnxModelFuzzTest {
    public static void fuzzerTestOneInput(byte[] data) {
        if (data.length == 0) {
            return;
        }
        byte[] rest = Arrays.copyOfRange(data, 1, data.length);
        Path file = FuzzFiles.write("model.onnx", (data[0] & 1) == 0 ? rest : Fixtures.onnxBert(rest));
        OnnxModel[] model = new OnnxModel[1];
        FuzzFiles.loadsOrRefuses(() -> model[0] = OnnxModel.read(file));
        if (model[0] == null) {
            return;
        }
        for (OnnxTensor t : tensors(model[0])) {
            FuzzFiles.loadsOrRefuses(t::toFloatArray);
            FuzzFiles.loadsOrRefuses(t::toLongArray);
        }
        FuzzFiles.loadsOrRefuses(() -> BertWeights.fromOnnx(model[0]));
    }

    private static List<OnnxTensor> tensors(OnnxModel model) {
        List<OnnxTensor> all = new ArrayList<>(model.graph().initializers().values());
        for (OnnxNode n : model.graph().nodes()) {
            for (OnnxAttribute a : n.attributes().values()) {
                if (a.t() != null) {
                    all.add(a.t());
                }
            }
        }
        return all;
    }

    /** The seeds reach the end of the target: the tiny export is read as the BERT it describes. */
    @Test
    void theTinyBertSeedIsReadAsABertEncoder() {
        Path file = FuzzFiles.write("tiny-bert.onnx", Fixtures.onnxBert(Fixtures.onnxQueryWeight()));
        BertWeights w = BertWeights.fromOnnx(OnnxModel.read(file));
        assertEquals(new BertConfig(1, 4, 2, 8, 6, 4, 2, 1e-12f), w.config());
        assertEquals(24, w.linearLayers().size() * 4);
    }

    /** One weight named by many MatMul nodes would be decoded once per node: far more memory than the file holds. */
    @Test
    void aWeightSharedByTwoMatMulNodesIsRefused() {
        ProtoWriter second = new ProtoWriter().messageField(1, ProtoWriter.node("/encoder/layer.1/attention/self/query/MatMul",
                "MatMul", new String[] {"embedded", Fixtures.ONNX_QUERY_WEIGHT}, new String[] {"mm_1"}))
                .messageField(1, ProtoWriter.node("/encoder/layer.1/attention/self/query/Add", "Add",
                        new String[] {"encoder.layer.1.attention.self.query.bias", "mm_1"}, new String[] {"q_1"}))
                .messageField(5, Fixtures.floatTensor("encoder.layer.1.attention.self.query.bias", Fixtures.ramp(4, 0f), 4));
        Path file = FuzzFiles.write("shared-weight.onnx", Fixtures.onnxBert(Fixtures.onnxQueryWeight(), second));
        OnnxFormatException e = assertThrows(OnnxFormatException.class, () -> BertWeights.fromOnnx(OnnxModel.read(file)));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("share the weight "
                + Fixtures.ONNX_QUERY_WEIGHT), e.getMessage());
    }

    /** heads × head_dim = hidden must hold in integers, not modulo 2^64 ((2^62 + 1) × 4 = 2^64 + 4). */
    @Test
    void anAttentionSplitThatOnlyMatchesByOverflowIsRefused() {
        ProtoWriter split = new ProtoWriter()
                .messageField(1, ProtoWriter.node("/c/heads", "Constant", new String[0], new String[] {"h2"},
                        new ProtoWriter().stringField(1, "value").varintField(20, 4).messageField(5,
                                new ProtoWriter().varintField(2, 7).packedVarints(7, (1L << 62) + 1))))
                .messageField(1, ProtoWriter.node("/c/Concat", "Concat", new String[] {"b", "s", "h2", "d2"},
                        new String[] {"shape2"}))
                .messageField(1, ProtoWriter.node("/encoder/layer.0/attention/self/Reshape_0", "Reshape",
                        new String[] {"out0", "shape2"}, new String[] {"r0"}))
                .messageField(5, ProtoWriter.rawTensor("d2", 7, new byte[] {4, 0, 0, 0, 0, 0, 0, 0}));
        Path file = FuzzFiles.write("overflow-heads.onnx", Fixtures.onnxBert(Fixtures.onnxQueryWeight(), split));
        OnnxFormatException e = assertThrows(OnnxFormatException.class, () -> BertWeights.fromOnnx(OnnxModel.read(file)));
        assertTrue(e.getMessage().contains("splits hidden 4 into " + ((1L << 62) + 1) + " × 4"), e.getMessage());
    }

    @FuzzTest(maxDuration = "5m")
    void fuzz(byte[] data) {
        fuzzerTestOneInput(data);
    }
}
