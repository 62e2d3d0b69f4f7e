package io.jnora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.backend.NativeLibrary;
import io.jnora.binding.JnoraNative;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
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

    /**
     * The host half of the segment-grouped kernels (built with or without CUDA): the rows with an
     * adapter gathered by ascending adapter, tiles of at most JNORA_SEGMENT_ROWS rows over them in order,
     * within the capacity the kernels' grid is sized by; a smaller capacity is refused.
     */
    @Test
    void segmentLayoutGathersRowsByAdapterIntoBoundedTiles() {
        NativeLibrary.ensureLoaded();
        SplittableRandom rng = new SplittableRandom();
        int[][] shapes = {{200, 5}, {130, 300}, {64, 1}, {65, 1}, {1, 1}};
        for (int[] shape : shapes) {
            int rows = shape[0], adapters = shape[1];
            int[] which = new int[rows];
            for (int t = 0; t < rows; t++) {
                which[t] = rng.nextInt(4) == 0 ? rng.nextInt(adapters + 2) - 1 : (int) ((long) t * adapters / rows);
            }
            int capacity = JnoraNative.jnora_segment_tiles_capacity(rows, adapters);
            assertEquals((rows + 63) / 64 + Math.min(rows, adapters), capacity);
            List<Integer> want = new ArrayList<>();
            for (int a = 0; a < adapters; a++) {
                for (int t = 0; t < rows; t++) {
                    if (which[t] == a) {
                        want.add(t);
                    }
                }
            }
            try (IntPointer slots = new IntPointer(which); IntPointer order = new IntPointer(rows);
                    IntPointer tiles = new IntPointer(1 + 3L * capacity)) {
                NativeLibrary.check(JnoraNative.jnora_segment_layout(rows, slots, adapters, order, tiles, capacity),
                        "jnora_segment_layout");
                int covered = 0;
                for (int i = 0; i < tiles.get(0); i++) {
                    int a = tiles.get(1 + 3 * i), begin = tiles.get(2 + 3 * i), count = tiles.get(3 + 3 * i);
                    assertEquals(covered, begin, "tile " + i);
                    assertTrue(count >= 1 && count <= JnoraNative.JNORA_SEGMENT_ROWS, "tile " + i + ": " + count);
                    for (int p = begin; p < begin + count; p++) {
                        assertEquals(want.get(p), order.get(p), "position " + p);
                        assertEquals(a, which[order.get(p)], "position " + p);
                    }
                    covered += count;
                }
                assertEquals(want.size(), covered, rows + " rows, " + adapters + " adapters");
                assertEquals(JnoraNative.JNORA_STATUS_INVALID_VALUE,
                        JnoraNative.jnora_segment_layout(rows, slots, adapters, order, tiles, capacity - 1));
                assertTrue(NativeLibrary.lastError().contains("jnora_segment_layout"), NativeLibrary.lastError());
            }
        }
    }
}
