package io.jnora.stats;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.jnora.backend.NativeLibrary;
import io.jnora.binding.JnoraNative;
import org.bytedeco.javacpp.SizeTPointer;
import org.junit.jupiter.api.Test;

/**
 * The C entry points of the activation-statistics kernel through the JavaCPP binding, on the paths
 * that need no GPU: the workspace query (host arithmetic) and argument refusal. A CPU-only library
 * answers CUDA_NOT_BUILT for both, as every CUDA entry point does.
 */
class ActivationStatsBindingTest {
    @Test
    void workspaceQueryGivesTheChunkPartialsSize() {
        NativeLibrary.ensureLoaded();
        try (SizeTPointer bytes = new SizeTPointer(1)) {
            bytes.put(0, 123);
            int status = JnoraNative.jnora_activation_stats_workspace_size(4096, 4096, bytes);
            if (!NativeLibrary.cudaCompiled()) {
                assertEquals(JnoraNative.JNORA_STATUS_CUDA_NOT_BUILT, status);
                assertEquals(0, bytes.get(0));
                return;
            }
            assertEquals(JnoraNative.JNORA_STATUS_SUCCESS, status, NativeLibrary.lastError());
            // 128 column tiles want 16 row chunks (of 256 rows): 16 × 4096 × (8 + 8 + 4) bytes.
            assertEquals(16L * 4096 * 20, bytes.get(0));
            // A narrow, tall batch: 1563 chunks of 64 rows, capped by the minimum chunk length.
            JnoraNative.jnora_activation_stats_workspace_size(100_003, 3, bytes);
            assertEquals(1563L * 3 * 20, bytes.get(0));
            JnoraNative.jnora_activation_stats_workspace_size(0, 5, bytes);
            assertEquals(0, bytes.get(0));
            assertEquals(JnoraNative.JNORA_STATUS_INVALID_VALUE,
                    JnoraNative.jnora_activation_stats_workspace_size(-1, 5, bytes));
        }
    }

    @Test
    void theKernelRefusesANullHandleBeforeTouchingTheDevice() {
        NativeLibrary.ensureLoaded();
        int status = JnoraNative.jnora_activation_stats(null, 10, 3, null, 3, null, null, null, null, 0);
        int expected = NativeLibrary.cudaCompiled() ? JnoraNative.JNORA_STATUS_INVALID_VALUE
                : JnoraNative.JNORA_STATUS_CUDA_NOT_BUILT;
        assertEquals(expected, status, NativeLibrary.lastError());
    }
}
