package io.jnora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jnora.peft.PeftAdapter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * Fuzz target: {@link PeftAdapter#read}, a PEFT directory. First byte even: the rest is
 * {@code adapter_config.json} beside a valid {@code adapter_model.safetensors}; odd: the rest is the
 * model file beside a valid config. Each input is read without and with the base model's shapes.
 */
public class PeftAdapterFuzzTest {
    private static final byte[][] VALID = Fixtures.peft();
    private static final Path DIR = directory();
    private static final Map<String, long[]> BASE = Map.of(Fixtures.PEFT_MODULE, new long[] {4, 3},
            "model.layers.0.self_attn.v_proj", new long[] {4, 3});

    private static Path directory() {
        try {
            return Files.createDirectories(FuzzFiles.DIR.resolve("peft"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void fuzzerTestOneInput(byte[] data) {
        if (data.length == 0) {
            return;
        }
        byte[] rest = Arrays.copyOfRange(data, 1, data.length);
        boolean config = (data[0] & 1) == 0;
        FuzzFiles.write("peft/" + PeftAdapter.CONFIG_FILE, config ? rest : VALID[0]);
        FuzzFiles.write("peft/" + PeftAdapter.MODEL_FILE, config ? VALID[1] : rest);
        FuzzFiles.loadsOrRefuses(() -> PeftAdapter.read(DIR));
        FuzzFiles.loadsOrRefuses(() -> PeftAdapter.read(DIR, BASE));
    }

    static byte[][] valid() {
        return new byte[][] {VALID[0].clone(), VALID[1].clone()};
    }

    @FuzzTest(maxDuration = "5m")
    void fuzz(byte[] data) {
        fuzzerTestOneInput(data);
    }
}
