package io.jnora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.backend.NativeLibrary;
import io.jnora.binding.JnoraNative;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;
import org.junit.jupiter.api.Test;

/**
 * The C entry points of adamw.cu through the JavaCPP binding, on the paths that need no GPU: the
 * workspace query (host arithmetic) and argument refusal. A CPU-only library answers CUDA_NOT_BUILT.
 */
class TrainingBindingTest {
    private static int expectedRefusal() {
        return NativeLibrary.cudaCompiled() ? JnoraNative.JNORA_STATUS_INVALID_VALUE : JnoraNative.JNORA_STATUS_CUDA_NOT_BUILT;
    }

    @Test
    void workspaceQueryGivesTheTableAndThePartials() {
        NativeLibrary.ensureLoaded();
        try (SizeTPointer bytes = new SizeTPointer(1)) {
            int status = JnoraNative.jnora_multi_tensor_workspace_size(3, bytes);
            if (!NativeLibrary.cudaCompiled()) {
                assertEquals(JnoraNative.JNORA_STATUS_CUDA_NOT_BUILT, status);
                return;
            }
            assertEquals(JnoraNative.JNORA_STATUS_SUCCESS, status, NativeLibrary.lastError());
            // 4 pointer columns + sizes + (count + 1) chunk starts, then 1024 double partials, 8 bytes each.
            assertEquals((6L * 3 + 1 + 1024) * 8, bytes.get(0));
            assertEquals(JnoraNative.JNORA_STATUS_INVALID_VALUE, JnoraNative.jnora_multi_tensor_workspace_size(-1, bytes));
        }
    }

    @Test
    void theTrainingKernelsRefuseANullHandleBeforeTouchingTheDevice() {
        NativeLibrary.ensureLoaded();
        try (FloatPointer f = new FloatPointer(4); PointerPointer<FloatPointer> list = new PointerPointer<>(f);
                LongPointer sizes = new LongPointer(new long[] {4}); DoublePointer result = new DoublePointer(1)) {
            assertEquals(expectedRefusal(), JnoraNative.jnora_adamw_step(null, 1, list, list, list, list, sizes, 1e-3f, 0.9f,
                    0.999f, 1e-8f, 0f, 1f, 1, null, 0), NativeLibrary.lastError());
            assertEquals(expectedRefusal(), JnoraNative.jnora_sum_of_squares(null, 1, list, sizes, result, null, 0));
            assertEquals(expectedRefusal(), JnoraNative.jnora_multiply_add(null, 4, 1f, f, null, 0f, f));
            assertTrue(NativeLibrary.lastError().contains(NativeLibrary.cudaCompiled() ? "handle is NULL" : "without nvcc"),
                    NativeLibrary.lastError());
        }
    }
}
