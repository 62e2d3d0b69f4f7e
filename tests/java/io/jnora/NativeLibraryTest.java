package io.jnora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.backend.NativeLibrary;
import io.jnora.binding.JnoraNative;
import org.bytedeco.javacpp.IntPointer;
import org.junit.jupiter.api.Test;

/** libjnora loads from the jar's platform folder and its C API answers without a GPU. */
class NativeLibraryTest {
    @Test
    void nativeVersionMatchesTheJavaVersion() {
        assertEquals(Jnora.VERSION, NativeLibrary.version());
    }

    @Test
    void deviceCountNeverCrashesAndExplainsAFailure() {
        NativeLibrary.ensureLoaded();
        try (IntPointer count = new IntPointer(1)) {
            count.put(-1);
            int status = JnoraNative.jnora_cuda_device_count(count);
            if (status == JnoraNative.JNORA_STATUS_SUCCESS) {
                assertTrue(count.get() >= 1);
            } else {
                assertEquals(0, count.get(), "count is reset on failure");
                assertTrue(status == JnoraNative.JNORA_STATUS_NO_DEVICE || status == JnoraNative.JNORA_STATUS_CUDA_NOT_BUILT);
                assertTrue(NativeLibrary.lastError().contains(status == JnoraNative.JNORA_STATUS_NO_DEVICE
                        ? "cudaGetDeviceCount" : "without nvcc"), NativeLibrary.lastError());
            }
        }
    }

    @Test
    void aFailedStatusBecomesANativeFailureWithItsMessage() {
        NativeLibrary.ensureLoaded();
        int status = JnoraNative.jnora_set_stream(null, null);  // NULL handle
        NativeFailureException e = assertThrows(NativeFailureException.class, () -> NativeLibrary.check(status, "test"));
        assertTrue(e.getMessage().startsWith("test: "), e.getMessage());
        assertTrue(e.getMessage().contains(NativeLibrary.cudaCompiled() ? "handle is NULL" : "without nvcc"), e.getMessage());
    }
}
