package io.jnora.fuzz;

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
