package io.jnora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jnora.train.TrainerState;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Fuzz target: {@link TrainerState#read}, the optimiser state file. First byte even: the rest is a
 * whole file; odd: the rest is the {@code __metadata__.jnora_optimizer} JSON spliced into a valid state.
 */
public class TrainerStateFuzzTest {
    private static final byte[] VALID = Fixtures.trainerState();

    public static void fuzzerTestOneInput(byte[] data) {
        if (data.length == 0) {
            return;
        }
        byte[] rest = Arrays.copyOfRange(data, 1, data.length);
        byte[] content = (data[0] & 1) == 0 ? rest
                : FuzzFiles.withMetadata(VALID, TrainerState.METADATA_KEY, new String(rest, StandardCharsets.UTF_8));
        var file = FuzzFiles.write("state.safetensors", content);
        FuzzFiles.loadsOrRefuses(() -> TrainerState.read(file));
    }

    static byte[] validMetadata() {
        return FuzzFiles.metadata(VALID, TrainerState.METADATA_KEY).getBytes(StandardCharsets.UTF_8);
    }

    static byte[] validFile() {
        return VALID.clone();
    }

    @FuzzTest(maxDuration = "5m")
    void fuzz(byte[] data) {
        fuzzerTestOneInput(data);
    }
}
