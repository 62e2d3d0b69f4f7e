package io.jnora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jnora.adapter.NestedAdapterFile;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Fuzz target: {@link NestedAdapterFile#read}. First byte even: the rest is a whole adapter file; odd: the
 * rest is the {@code __metadata__.jnora} JSON, spliced into a valid two-layer adapter (so the fuzzer works
 * on the metadata's fields, ranks and shapes rather than on re-discovering the safetensors layout).
 */
public class NestedAdapterFileFuzzTest {
    private static final byte[] VALID = Fixtures.nestedAdapter();

    public static void fuzzerTestOneInput(byte[] data) {
        if (data.length == 0) {
            return;
        }
        byte[] rest = Arrays.copyOfRange(data, 1, data.length);
        byte[] content = (data[0] & 1) == 0 ? rest
                : FuzzFiles.withMetadata(VALID, NestedAdapterFile.METADATA_KEY, new String(rest, StandardCharsets.UTF_8));
        var file = FuzzFiles.write("adapter.safetensors", content);
        FuzzFiles.loadsOrRefuses(() -> NestedAdapterFile.read(file));
        FuzzFiles.loadsOrRefuses(() -> NestedAdapterFile.readLayer(file, "layer"));
    }

    static byte[] validMetadata() {
        return FuzzFiles.metadata(VALID, NestedAdapterFile.METADATA_KEY).getBytes(StandardCharsets.UTF_8);
    }

    static byte[] validFile() {
        return VALID.clone();
    }

    @FuzzTest(maxDuration = "5m")
    void fuzz(byte[] data) {
        fuzzerTestOneInput(data);
    }
}
