package io.jnora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jnora.aira.AllocationJson;
import io.jnora.aira.CostModel;

/** Fuzz target: {@link AllocationJson#readLayers}, the {@code ranks} command's layer file, for both cost models. */
public class AllocationJsonFuzzTest {
    public static void fuzzerTestOneInput(byte[] data) {
        var file = FuzzFiles.write("layers.json", data);
        for (CostModel cost : CostModel.values()) {
            FuzzFiles.loadsOrRefuses(() -> AllocationJson.readLayers(file, cost));
        }
    }

    @FuzzTest(maxDuration = "5m")
    void fuzz(byte[] data) {
        fuzzerTestOneInput(data);
    }
}
