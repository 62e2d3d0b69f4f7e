package io.jnora.peft;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes PEFT-format LoRA adapter directories for tests, byte by byte and independently of the
 * library's own writers: {@code adapter_config.json} from a map, {@code adapter_model.safetensors}
 * with a hand-built header (F32, or I32 to test refusals). Valid or deliberately broken.
 */
final class PeftFixture {
    private static final ObjectMapper JSON = new ObjectMapper();

    private record Tensor(String name, String dtype, long[] shape, byte[] data) {}

    final Map<String, Object> config = new LinkedHashMap<>();
    private final List<Tensor> tensors = new ArrayList<>();
    private String rawConfig;

    /** A LoRA config with rank r and lora_alpha, everything else absent (PEFT's defaults). */
    static PeftFixture lora(int r, double alpha) {
        PeftFixture f = new PeftFixture();
        f.config.put("peft_type", "LORA");
        f.config.put("r", r);
        f.config.put("lora_alpha", alpha);
        return f;
    }

    PeftFixture set(String key, Object value) {
        config.put(key, value);
        return this;
    }

    /** Replaces the config file's text (to write something that is not JSON). */
    PeftFixture rawConfig(String text) {
        this.rawConfig = text;
        return this;
    }

    /** Both factors of a module: lora_A (rank×in) and lora_B (out×rank), F32. */
    PeftFixture module(String module, float[] a, int rank, int in, float[] b, int out) {
        tensor("base_model.model." + module + ".lora_A.weight", a, rank, in);
        return tensor("base_model.model." + module + ".lora_B.weight", b, out, rank);
    }

    PeftFixture tensor(String name, float[] values, long... shape) {
        ByteBuffer buf = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            buf.putFloat(v);
        }
        tensors.add(new Tensor(name, "F32", shape, buf.array()));
        return this;
    }

    PeftFixture intTensor(String name, int[] values, long... shape) {
        ByteBuffer buf = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : values) {
            buf.putInt(v);
        }
        tensors.add(new Tensor(name, "I32", shape, buf.array()));
        return this;
    }

    PeftFixture remove(String tensorName) {
        tensors.removeIf(t -> t.name().equals(tensorName));
        return this;
    }

    /** Creates {@code dir} and writes both files into it. */
    Path write(Path dir) {
        try {
            Files.createDirectories(dir);
            String configText = rawConfig != null ? rawConfig : JSON.writeValueAsString(config);
            Files.writeString(dir.resolve("adapter_config.json"), configText);
            StringBuilder header = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
            long offset = 0;
            for (Tensor t : tensors) {
                header.append(",\"").append(t.name()).append("\":{\"dtype\":\"").append(t.dtype()).append("\",\"shape\":")
                        .append(Arrays.toString(t.shape()).replace(" ", "")).append(",\"data_offsets\":[").append(offset)
                        .append(',').append(offset + t.data().length).append("]}");
                offset += t.data().length;
            }
            header.append('}');
            byte[] h = header.toString().getBytes(StandardCharsets.UTF_8);
            ByteBuffer file = ByteBuffer.allocate(8 + h.length + (int) offset).order(ByteOrder.LITTLE_ENDIAN);
            file.putLong(h.length).put(h);
            tensors.forEach(t -> file.put(t.data()));
            Files.write(dir.resolve("adapter_model.safetensors"), file.array());
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Deterministic small values (multiples of 1/8 in [−1, 1]): exact in float, never all zero. */
    static float[] values(int count, int salt) {
        float[] v = new float[count];
        for (int i = 0; i < count; i++) {
            v[i] = (((i * 7 + salt * 13) % 17) - 8) / 8f;
        }
        return v;
    }
}
