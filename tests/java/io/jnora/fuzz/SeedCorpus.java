package io.jnora.fuzz;

import io.jnora.onnx.OnnxModel;
import io.jnora.onnx.ProtoWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Writes the committed seed corpus (valid files from the library's writers, and a few known-bad shapes of
 * each), once: {@code java -cp <test classpath> io.jnora.fuzz.SeedCorpus tests/resources}. Campaign
 * findings are added beside these seeds by hand (named {@code crash-…} after the bug they found).
 */
public final class SeedCorpus {
    private SeedCorpus() {}

    public static void main(String[] args) throws IOException {
        Path root = Path.of(args.length > 0 ? args[0] : "tests/resources").resolve("io/jnora/fuzz");
        byte[] st = Fixtures.safetensors();
        Path s = dir(root, "SafetensorsFileFuzzTest");
        put(s, "valid", st);
        put(s, "header-length-beyond-file", withLength(st, st.length));
        put(s, "truncated-data", Arrays.copyOf(st, st.length - 3));
        put(s, "overlapping-offsets", raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12));
        put(s, "reversed-offsets", raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4));
        put(s, "duplicate-name", raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8));
        put(s, "huge-shape", raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4));
        put(s, "int-tensor", raw("{\"i\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"u\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[8,10]}}", 10));
        put(s, "empty", new byte[0]);

        Path n = dir(root, "NestedAdapterFileFuzzTest");
        put(n, "valid-file", FuzzFiles.tagged(0, NestedAdapterFileFuzzTest.validFile()));
        byte[] meta = NestedAdapterFileFuzzTest.validMetadata();
        put(n, "valid-metadata", FuzzFiles.tagged(1, meta));
        String m = new String(meta, StandardCharsets.UTF_8);
        put(n, "rank-above-shape", FuzzFiles.tagged(1, utf8(m.replaceFirst("\"r\":2", "\"r\":3"))));
        put(n, "inner-rank-zero", FuzzFiles.tagged(1, utf8(m.replaceFirst("\"r_in\":1", "\"r_in\":0"))));
        put(n, "huge-m", FuzzFiles.tagged(1, utf8(m.replaceFirst("\"m\":4", "\"m\":2147483647"))));
        put(n, "zero-init", FuzzFiles.tagged(1, utf8(m.replaceAll("\"sigma\"", "\"zero\""))));
        put(n, "not-json", FuzzFiles.tagged(1, utf8("{\"layers\":")));

        Path t = dir(root, "TrainerStateFuzzTest");
        put(t, "valid-file", FuzzFiles.tagged(0, TrainerStateFuzzTest.validFile()));
        byte[] tm = TrainerStateFuzzTest.validMetadata();
        put(t, "valid-metadata", FuzzFiles.tagged(1, tm));
        String ts = new String(tm, StandardCharsets.UTF_8);
        put(t, "warmup-beyond-total", FuzzFiles.tagged(1, utf8(ts.replaceFirst("\"warmup_steps\":2", "\"warmup_steps\":20"))));
        put(t, "negative-step", FuzzFiles.tagged(1, utf8(ts.replaceFirst("\"step\":3", "\"step\":-3"))));
        put(t, "constant-schedule", FuzzFiles.tagged(1, utf8(ts.replaceFirst("\"total_steps\":10", "\"total_steps\":0"))));

        byte[][] peft = PeftAdapterFuzzTest.valid();
        Path p = dir(root, "PeftAdapterFuzzTest");
        put(p, "valid-config", FuzzFiles.tagged(0, peft[0]));
        put(p, "valid-model", FuzzFiles.tagged(1, peft[1]));
        String c = new String(peft[0], StandardCharsets.UTF_8);
        put(p, "dora", FuzzFiles.tagged(0, utf8(c.replace("\"use_dora\" : false", "\"use_dora\" : true"))));
        put(p, "rslora-fan-in", FuzzFiles.tagged(0, utf8(c.replace("\"use_rslora\" : false", "\"use_rslora\" : true")
                .replace("\"fan_in_fan_out\" : false", "\"fan_in_fan_out\" : true"))));
        put(p, "regex-pattern", FuzzFiles.tagged(0, utf8("{\"peft_type\":\"LORA\",\"r\":2,\"lora_alpha\":4,"
                + "\"rank_pattern\":{\"^model\\\\..*v_proj$\":1},\"alpha_pattern\":{\"v_proj\":1}}")));

        Path a = dir(root, "AllocationJsonFuzzTest");
        put(a, "valid", Fixtures.layersJson());
        put(a, "lora-only", utf8("{\"layers\":[{\"name\":\"a\",\"m\":8,\"n\":8,\"outlier_ratio\":0.5}]}"));
        put(a, "duplicate-name", utf8("{\"layers\":[{\"name\":\"a\",\"m\":8,\"n\":8,\"outlier_ratio\":0.5},"
                + "{\"name\":\"a\",\"m\":8,\"n\":8,\"outlier_ratio\":0.5}]}"));
        put(a, "ratio-out-of-range", utf8("{\"layers\":[{\"name\":\"a\",\"m\":8,\"n\":8,\"outlier_ratio\":1.5}]}"));

        onnxSeeds(root);
    }

    private static void onnxSeeds(Path root) throws IOException {
        Path o = dir(root, "OnnxModelFuzzTest");
        byte[] bert = Fixtures.onnxBert(Fixtures.onnxQueryWeight());
        put(o, "tiny-bert", FuzzFiles.tagged(0, bert));
        put(o, "query-weight", FuzzFiles.tagged(1, Fixtures.onnxQueryWeight()));
        put(o, "truncated", FuzzFiles.tagged(0, Arrays.copyOf(bert, bert.length / 2)));
        put(o, "query-weight-float16", FuzzFiles.tagged(1, ProtoWriter.rawTensor(Fixtures.ONNX_QUERY_WEIGHT, 10,
                new byte[32], 4, 4).toByteArray()));
        put(o, "query-weight-int64-data", FuzzFiles.tagged(1, new ProtoWriter().varintField(1, 2).varintField(1, 2)
                .varintField(2, 7).stringField(8, Fixtures.ONNX_QUERY_WEIGHT).packedVarints(7, 1, -2, 3, 1L << 40).toByteArray()));
        put(o, "query-weight-huge-dims", FuzzFiles.tagged(1, ProtoWriter.rawTensor(Fixtures.ONNX_QUERY_WEIGHT, 1,
                new byte[64], 1L << 32, 1L << 32).toByteArray()));

        // regressions (each was an exception other than OnnxFormatException, or an allocation beyond the file)
        put(o, "crash-string-tensor-count-beyond-data", FuzzFiles.tagged(1, ProtoWriter.rawTensor(Fixtures.ONNX_QUERY_WEIGHT,
                8, new byte[] {1}, OnnxModel.MAX_FILE_BYTES).toByteArray()));
        put(o, "crash-float8-tensor-count-beyond-data", FuzzFiles.tagged(1, ProtoWriter.rawTensor(Fixtures.ONNX_QUERY_WEIGHT,
                17, new byte[] {1}, 1 << 30).toByteArray()));
        byte[] q = Fixtures.onnxQueryWeight();
        put(o, "crash-matmul-named-slash-matmul", FuzzFiles.tagged(0, Fixtures.onnxBert(q, extraMatMul("/MatMul", "mm_x", true))));
        put(o, "crash-matmul-without-output", FuzzFiles.tagged(0, Fixtures.onnxBert(q, extraMatMul(
                "/encoder/layer.0/attention/self/query/MatMul", null, false))));
        put(o, "crash-layer-index-beyond-int", FuzzFiles.tagged(0, Fixtures.onnxBert(q, extraMatMul(
                "/encoder/layer.99999999999/attention/self/query/MatMul", "mm_x", true))));
        put(o, "crash-reshape-without-shape", FuzzFiles.tagged(0, Fixtures.onnxBert(q, new ProtoWriter().messageField(1,
                ProtoWriter.node("/encoder/layer.0/attention/self/Reshape_0", "Reshape", new String[] {"out0"},
                        new String[] {"r0"})))));

        Path t = dir(root, "TokenizerFuzzTest");
        String json = Fixtures.tokenizerJson();
        put(t, "valid", FuzzFiles.tagged(0, utf8(json)));
        put(t, "bert-processing", FuzzFiles.tagged(0, utf8(json.replaceFirst("\\{\"type\": \"TemplateProcessing\".*?\\}\\}\\},",
                "{\"type\": \"BertProcessing\", \"sep\": [\"[SEP]\", 3], \"cls\": [\"[CLS]\", 2]},"))));
        put(t, "cased-strip-accents", FuzzFiles.tagged(0, utf8(json.replace("\"strip_accents\": null, \"lowercase\": true",
                "\"strip_accents\": true, \"lowercase\": false"))));
        put(t, "duplicate-id", FuzzFiles.tagged(0, utf8(json.replace("\"##able\": 7", "\"##able\": 6"))));
        put(t, "bpe", FuzzFiles.tagged(0, utf8(json.replace("\"type\": \"WordPiece\", \"unk", "\"type\": \"BPE\", \"unk"))));
        put(t, "text", FuzzFiles.tagged(1, utf8("Héllo, wörld! Naïve café-goers don't [MASK] it. 中文 😀 a[CLS]b\u0000\u200b")));
        put(t, "text-long-word", FuzzFiles.tagged(1 | 4 << 2, utf8("aaaa".repeat(40) + " ab ##a unable")));
        put(t, "text-utf16-lone-surrogate", FuzzFiles.tagged(3, "unpaired \uD83D surrogate \uDE00 İ ǅ"
                .getBytes(StandardCharsets.UTF_16LE)));
    }

    /** A MatMul node of the given name on its own 4 × 4 weight, with (or without) its Add of the matching bias. */
    private static ProtoWriter extraMatMul(String name, String output, boolean bias) {
        String module = name.substring(1, Math.max(1, name.length() - "/MatMul".length())).replace('/', '.');
        ProtoWriter g = new ProtoWriter().messageField(1, ProtoWriter.node(name, "MatMul", new String[] {"embedded", "extra_w"},
                output == null ? new String[0] : new String[] {output}));
        if (bias) {
            g.messageField(1, ProtoWriter.node("/extra/Add", "Add", new String[] {module + ".bias", output}, new String[] {"extra"}));
            g.messageField(5, Fixtures.floatTensor(module + ".bias", Fixtures.ramp(4, 0f), 4));
        }
        return g.messageField(5, Fixtures.floatTensor("extra_w", Fixtures.ramp(16, 0f), 4, 4));
    }

    private static Path dir(Path root, String target) throws IOException {
        return Files.createDirectories(root.resolve(target + "Inputs/fuzz"));
    }

    private static void put(Path dir, String name, byte[] content) throws IOException {
        Files.write(dir.resolve(name), content);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] withLength(byte[] file, long length) {
        byte[] out = file.clone();
        ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(0, length);
        return out;
    }

    private static byte[] raw(String header, int dataBytes) {
        byte[] h = utf8(header);
        return ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h).array();
    }
}
