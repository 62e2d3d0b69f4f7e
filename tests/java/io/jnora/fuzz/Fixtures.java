package io.jnora.fuzz;

import io.jnora.adapter.AdapterLayer;
import io.jnora.adapter.NestedAdapterFile;
import io.jnora.io.Dtype;
import io.jnora.io.SafetensorsWriter;
import io.jnora.onnx.ProtoWriter;
import io.jnora.peft.LoraLayer;
import io.jnora.peft.PeftAdapter;
import io.jnora.train.AdamWConfig;
import io.jnora.train.LearningRateSchedule;
import io.jnora.train.TrainerState;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/**
 * Valid files, written by the library's own writers (ONNX by the tests' independent protobuf writer, the
 * tokenizer by hand): the starting points of the fuzz targets and their seeds.
 */
final class Fixtures {
    private Fixtures() {}

    static float[] ramp(int count, float start) {
        float[] v = new float[count];
        for (int i = 0; i < count; i++) {
            v[i] = start + 0.25f * i - 0.1f * (i % 3);
        }
        return v;
    }

    /** A SIGMA-init nested layer, 4×3, r = 2, r_in = 1 (every tensor kind the format has). */
    static AdapterLayer nestedLayer(String name) {
        return new AdapterLayer(name, 4, 3, 2, 1, 1.0, "lora", 1f, "mean-abs(0.5)", "sigma", "us", "exact",
                ramp(6, 0.5f), ramp(8, -1f), ramp(2, 0.3f), ramp(2, 0.7f), ramp(2, 0.2f), ramp(2, 0.1f));
    }

    static byte[] nestedAdapter() {
        Path file = FuzzFiles.DIR.resolve("fixture-nested.safetensors");
        NestedAdapterFile.write(file, List.of(nestedLayer("layer"), nestedLayer("q_proj")));
        return FuzzFiles.read(file);
    }

    static byte[] trainerState() {
        Path file = FuzzFiles.DIR.resolve("fixture-state.safetensors");
        AdamWConfig cfg = AdamWConfig.builder().maxGradNorm(1.0).schedule(LearningRateSchedule.warmupCosine(2, 10)).build();
        new TrainerState(3, cfg, 0.25, 42, List.of(new TrainerState.LayerMoments("layer", 2, 1, ramp(2, 0.1f), ramp(2, 0.2f),
                ramp(2, 0.3f), ramp(2, 0.4f)))).write(file);
        return FuzzFiles.read(file);
    }

    static final String PEFT_MODULE = "model.layers.0.self_attn.q_proj";

    static List<LoraLayer> loraLayers() {
        return List.of(new LoraLayer(PEFT_MODULE, 3, 4, 2, 4.0, false, 2f, false, ramp(6, 0.2f), ramp(8, -0.5f)),
                new LoraLayer("model.layers.0.self_attn.v_proj", 3, 4, 1, 1.0, false, 1f, false, ramp(3, 0.2f), ramp(4, 0.5f)));
    }

    /** A PEFT directory's two files: {config bytes, model bytes}. */
    static byte[][] peft() {
        Path dir = FuzzFiles.DIR.resolve("fixture-peft");
        PeftAdapter.write(dir, loraLayers());
        return new byte[][] {FuzzFiles.read(dir.resolve(PeftAdapter.CONFIG_FILE)), FuzzFiles.read(dir.resolve(PeftAdapter.MODEL_FILE))};
    }

    static byte[] safetensors() {
        Path file = FuzzFiles.DIR.resolve("fixture.safetensors");
        new SafetensorsWriter()
                .add("weight", ramp(12, -1f), 4, 3)
                .add("half", Dtype.F16, new float[] {0.5f, -1, 65504, 2}, 4, 1)
                .add("brain", Dtype.BF16, new float[] {1, 2}, 1, 2)
                .add("scalar", new float[] {7})
                .add("empty", new float[0], 0, 3)
                .metadata("format", "pt")
                .write(file);
        return FuzzFiles.read(file);
    }

    static byte[] layersJson() {
        return ("{\"layers\": [{\"name\": \"q\", \"m\": 64, \"n\": 32, \"outlier_ratio\": 0.02, \"outer_rank\": 16},"
                + " {\"name\": \"v\", \"m\": 64, \"n\": 64, \"outlier_ratio\": 0.0, \"outer_rank\": 8}]}")
                .getBytes(StandardCharsets.UTF_8);
    }

    // A BERT encoder as torch.onnx exports it, at the smallest size: hidden 4 (2 heads of 2), 1 layer,
    // intermediate 8, vocabulary 6, 4 positions, 2 token types. Every part BertWeights.fromOnnx looks for
    // is there, in both storages (raw_data and packed float_data / int64_data) and both kinds of constant.
    static final String ONNX_QUERY_WEIGHT = "onnx::MatMul_q";
    private static final String[][] ONNX_LINEARS = {  // module path, suffix, stored in × out
            {"attention/self/query", "attention.self.query", "4", "4"}, {"attention/self/key", "attention.self.key", "4", "4"},
            {"attention/self/value", "attention.self.value", "4", "4"}, {"attention/output/dense", "attention.output.dense", "4", "4"},
            {"intermediate/dense", "intermediate.dense", "4", "8"}, {"output/dense", "output.dense", "8", "4"}};

    static ProtoWriter floatTensor(String name, float[] values, long... dims) {
        return ProtoWriter.rawTensor(name, 1, ProtoWriter.floats(values), dims);
    }

    /** A FLOAT tensor kept in packed float_data (field 4) rather than raw_data. */
    private static ProtoWriter packedFloatTensor(String name, float[] values, long... dims) {
        ProtoWriter t = new ProtoWriter();
        for (long d : dims) {
            t.varintField(1, d);
        }
        return t.varintField(2, 1).stringField(8, name).bytesField(4, ProtoWriter.floats(values));
    }

    private static ProtoWriter tensorAttribute(String name, ProtoWriter tensor) {
        return new ProtoWriter().stringField(1, name).varintField(20, 4).messageField(5, tensor);
    }

    /** The first layer's query weight (4 × 4, in × out), the TensorProto the ONNX target's odd mode replaces. */
    static byte[] onnxQueryWeight() {
        return floatTensor(ONNX_QUERY_WEIGHT, ramp(16, -0.5f), 4, 4).toByteArray();
    }

    /** The tiny BERT's ONNX file, with {@code queryWeight} (a TensorProto's bytes) as the query weight initializer. */
    static byte[] onnxBert(byte[] queryWeight) {
        return onnxBert(queryWeight, new ProtoWriter());
    }

    /** The same with {@code before} (GraphProto fields: nodes, initializers) ahead of the graph's own. */
    static byte[] onnxBert(byte[] queryWeight, ProtoWriter before) {
        ProtoWriter g = new ProtoWriter().raw(before.toByteArray());
        String[] none = new String[0];
        g.messageField(1, ProtoWriter.node("/embeddings/LayerNorm/Constant", "Constant", none, new String[] {"eps"},
                tensorAttribute("value", floatTensor("", new float[] {1e-12f}))));
        g.messageField(1, ProtoWriter.node("/embeddings/LayerNorm/Add", "Add", new String[] {"variance", "eps"},
                new String[] {"variance_eps"}));
        String x = "embedded";
        for (int k = 0; k < ONNX_LINEARS.length; k++) {
            String[] l = ONNX_LINEARS[k];
            String weight = k == 0 ? ONNX_QUERY_WEIGHT : "onnx::MatMul_" + k;
            g.messageField(1, ProtoWriter.node("/encoder/layer.0/" + l[0] + "/MatMul", "MatMul", new String[] {x, weight},
                    new String[] {"mm" + k}));
            g.messageField(1, ProtoWriter.node("/encoder/layer.0/" + l[0] + "/Add", "Add",
                    new String[] {"encoder.layer.0." + l[1] + ".bias", "mm" + k}, new String[] {"out" + k}));
        }
        g.messageField(1, ProtoWriter.node("/encoder/layer.0/attention/self/Constant", "Constant", none,
                new String[] {"heads"}, tensorAttribute("value",
                        new ProtoWriter().varintField(1, 1).varintField(2, 7).packedVarints(7, 2))));
        g.messageField(1, ProtoWriter.node("/encoder/layer.0/attention/self/Concat", "Concat",
                new String[] {"batch", "seq", "heads", "head_dim"}, new String[] {"split_shape"},
                new ProtoWriter().stringField(1, "axis").varintField(20, 2).varintField(3, 0)));
        g.messageField(1, ProtoWriter.node("/encoder/layer.0/attention/self/Reshape", "Reshape",
                new String[] {"out0", "split_shape"}, new String[] {"q_heads"}));
        g.messageField(1, ProtoWriter.node("/encoder/layer.0/intermediate/intermediate_act_fn/Erf", "Erf",
                new String[] {"out4_scaled"}, new String[] {"erf"}));
        g.stringField(2, "tiny-bert");
        g.messageField(5, floatTensor("embeddings.word_embeddings.weight", ramp(24, -2f), 6, 4));
        g.messageField(5, floatTensor("embeddings.position_embeddings.weight", ramp(16, 0.1f), 4, 4));
        g.messageField(5, packedFloatTensor("embeddings.token_type_embeddings.weight", ramp(8, 0.3f), 2, 4));
        g.messageField(5, floatTensor("embeddings.LayerNorm.weight", ramp(4, 1f), 4));
        g.messageField(5, packedFloatTensor("embeddings.LayerNorm.bias", ramp(4, 0f), 4));
        g.bytesField(5, queryWeight);
        for (int k = 0; k < ONNX_LINEARS.length; k++) {
            String[] l = ONNX_LINEARS[k];
            int in = Integer.parseInt(l[2]);
            int out = Integer.parseInt(l[3]);
            if (k > 0) {
                g.messageField(5, floatTensor("onnx::MatMul_" + k, ramp(in * out, 0.05f * k), in, out));
            }
            String bias = "encoder.layer.0." + l[1] + ".bias";
            g.messageField(5, k % 2 == 0 ? packedFloatTensor(bias, ramp(out, 0.01f), out) : floatTensor(bias, ramp(out, -0.01f), out));
        }
        for (String norm : new String[] {"attention.output.LayerNorm", "output.LayerNorm"}) {
            g.messageField(5, floatTensor("encoder.layer.0." + norm + ".weight", ramp(4, 0.9f), 4));
            g.messageField(5, floatTensor("encoder.layer.0." + norm + ".bias", ramp(4, 0.02f), 4));
        }
        g.messageField(5, ProtoWriter.rawTensor("head_dim", 7, new byte[] {2, 0, 0, 0, 0, 0, 0, 0}, 1));
        g.messageField(11, ProtoWriter.valueInfo("input_ids", 7, "batch_size", "sequence_length"));
        g.messageField(12, ProtoWriter.valueInfo("last_hidden_state", 1, "batch_size", "sequence_length", 4));
        return new ProtoWriter().varintField(1, 8).stringField(2, "pytorch").stringField(3, "2.5.1")
                .messageField(8, new ProtoWriter().stringField(1, "").varintField(2, 17))
                .messageField(7, g).toByteArray();
    }

    /**
     * A small BERT uncased {@code tokenizer.json} in Hugging Face's layout: special tokens as added tokens,
     * BertNormalizer, BertPreTokenizer, WordPiece with {@code ##}, and [CLS] $A [SEP].
     */
    static String tokenizerJson() {
        String[] vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "un", "##able", "##s", ",", ".", "!",
            "\u4e2d", "cafe", "hello", "a", "##a", "##b", "world", "'", "t", "don"};
        StringBuilder v = new StringBuilder();
        for (int i = 0; i < vocab.length; i++) {
            v.append(i == 0 ? "" : ", ").append('"').append(vocab[i]).append("\": ").append(i);
        }
        StringBuilder added = new StringBuilder();
        for (int i = 0; i < 5; i++) {
            added.append(i == 0 ? "" : ", ").append("{\"id\": ").append(i).append(", \"content\": \"").append(vocab[i])
                    .append("\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false,"
                            + " \"special\": true}");
        }
        return "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null,\n"
                + " \"added_tokens\": [" + added + "],\n"
                + " \"normalizer\": {\"type\": \"BertNormalizer\", \"clean_text\": true, \"handle_chinese_chars\": true,"
                + " \"strip_accents\": null, \"lowercase\": true},\n"
                + " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},\n"
                + " \"post_processor\": {\"type\": \"TemplateProcessing\","
                + " \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}},"
                + " {\"SpecialToken\": {\"id\": \"[SEP]\", \"type_id\": 0}}],"
                + " \"special_tokens\": {\"[CLS]\": {\"id\": \"[CLS]\", \"ids\": [2], \"tokens\": [\"[CLS]\"]},"
                + " \"[SEP]\": {\"id\": \"[SEP]\", \"ids\": [3], \"tokens\": [\"[SEP]\"]}}},\n"
                + " \"decoder\": {\"type\": \"WordPiece\", \"prefix\": \"##\", \"cleanup\": true},\n"
                + " \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"continuing_subword_prefix\": \"##\","
                + " \"max_input_chars_per_word\": 100, \"vocab\": {" + v + "}}}\n";
    }
}
