package io.jnora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jnora.io.SafetensorsFile;
import io.jnora.io.TensorInfo;
import java.nio.file.Path;

/**
 * Fuzz target: {@link SafetensorsFile} (the 8-byte length, the JSON header: names, dtypes, shapes,
 * offsets, {@code __metadata__}; then every tensor read). Regression: the corpus in
 * {@code tests/resources/io/jnora/fuzz/SafetensorsFileFuzzTestInputs/fuzz}; a campaign: docs/RELIABILITY.md.
 */
public class SafetensorsFileFuzzTest {
    public static void fuzzerTestOneInput(byte[] data) {
        Path file = FuzzFiles.write("input.safetensors", data);
        FuzzFiles.loadsOrRefuses(() -> {
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                f.metadata().size();
                for (TensorInfo t : f.tensors()) {
                    if (t.dtype().isFloat()) {
                        f.readFloats(t.name());
                    } else if (t.dtype().isInteger()) {
                        f.readLongs(t.name());
                    }
                }
            }
        });
    }

    @FuzzTest(maxDuration = "5m")
    void fuzz(byte[] data) {
        fuzzerTestOneInput(data);
    }
}
