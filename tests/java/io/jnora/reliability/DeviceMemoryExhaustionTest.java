package io.jnora.reliability;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.Backend;
import io.jnora.GpuTests;
import io.jnora.JnoraException;
import io.jnora.Matrix;
import io.jnora.NoraContext;
import org.junit.jupiter.api.Test;

/**
 * GPU (issue 11): asking for more device memory than the device has is the library's typed exception,
 * naming the operation and the size, and the context stays usable afterwards. Skipped without a CUDA
 * device (never run on the build machine; see docs/RELIABILITY.md).
 */
class DeviceMemoryExhaustionTest {
    @Test
    void anAllocationBeyondDeviceMemoryIsATypedExceptionAndTheContextStaysUsable() {
        GpuTests.requireCuda("DeviceMemoryExhaustionTest");
        try (NoraContext ctx = NoraContext.create(Backend.CUDA)) {
            // 200 000 × 200 000 float32 = 160 GB: beyond an H100's 80 GB and an H200's 141 GB
            JnoraException e = assertThrows(JnoraException.class, () -> ctx.zeros(200_000, 200_000));
            assertTrue(e.getMessage() != null && !e.getMessage().isBlank());
            try (Matrix small = ctx.matrix(2, 2, new float[] {1, 2, 3, 4})) {
                assertArrayEquals(new float[] {1, 2, 3, 4}, small.toArray());
            }
        }
    }
}
