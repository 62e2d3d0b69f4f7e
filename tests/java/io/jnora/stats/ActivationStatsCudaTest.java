package io.jnora.stats;

import static io.jnora.stats.Calibration.assertFrobeniusClose;
import static io.jnora.stats.Calibration.assertRelativelyClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.jnora.Backend;
import io.jnora.Matrix;
import io.jnora.NonFiniteInputException;
import io.jnora.NoraContext;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Activation statistics gathered on the GPU ({@code jnora_activation_stats} plus cuBLAS for XᵀX)
 * against the CPU's float64 host path. Without a GPU these are skipped with the reason; with
 * JNORA_REQUIRE_GPU=1 a missing GPU fails them instead.
 *
 * <p>Tolerances: the kernel sums in float64 too, only in another order (chunks of rows, then the
 * chunk partials), so sums agree to ~rows · 1.1e-16; 1e-10 leaves room for 10⁵-row batches and
 * still fails on any float32 accumulation (~1e-7) or a lost element (~1/rows). Maxima are maxima of
 * the same floats: equal. The device's XᵀX is a float64 DSYRK on the widened batch: summed in double
 * like the CPU's dsyrk, so it too agrees to 1e-10.
 */
class ActivationStatsCudaTest {
    private static final double DEVICE_FLOAT64_SUMS = 1e-10;
    private static NoraContext cuda;

    @BeforeAll
    static void open() {
        io.jnora.GpuTests.requireCuda("ActivationStatsCudaTest");
        cuda = NoraContext.create(Backend.CUDA);
        System.out.println("ActivationStatsCudaTest on " + cuda.selection().device());
    }

    @AfterAll
    static void close() {
        if (cuda != null) {
            cuda.close();
        }
    }

    static Stream<Arguments> shapes() {
        // SPEC §4's T with odd n; one channel; a wide batch; a narrow, tall one (1563 row chunks).
        return Stream.of(Arguments.of(1, 37), Arguments.of(3, 130), Arguments.of(17, 257), Arguments.of(128, 75),
                Arguments.of(1000, 61), Arguments.of(1000, 1), Arguments.of(300, 1031), Arguments.of(100_003, 3));
    }

    @ParameterizedTest(name = "T={0} n={1}")
    @MethodSource("shapes")
    void deviceStatisticsMatchTheCpu(int rows, int n) {
        Calibration c = Calibration.random(rows, n);
        boolean withCovariance = n <= 1031;
        ActivationStats cpu = ActivationStats.create(n, withCovariance).accumulate(c.data, rows);
        ActivationStats gpu = ActivationStats.create(n, withCovariance);
        try (Matrix x = cuda.matrix(rows, n, c.data)) {
            gpu.accumulate(x);
        }
        assertDeviceMatches("T=" + rows + " " + c, gpu, cpu);
    }

    @Test
    void streamingDeviceBatchesOfUnevenSizesEqualsOnePassOnTheCpu() {
        Calibration c = Calibration.random(2000, 203);
        ActivationStats gpu = ActivationStats.create(203, true);
        for (int[] b : ActivationStatsTest.unevenBatches(c.rows, new Random(c.seed))) {
            try (Matrix x = cuda.matrix(b[1], c.channels, c.rows(b[0], b[1]))) {
                gpu.accumulate(x);
            }
        }
        assertDeviceMatches("streamed on the device " + c, gpu, ActivationStats.create(203, true).accumulate(c.data, c.rows));
    }

    @Test
    void deviceAndHostAccumulatorsMergeIntoOnePass() {
        Calibration c = Calibration.random(640, 77);
        ActivationStats gpu = ActivationStats.create(77, true);
        try (Matrix x = cuda.matrix(400, 77, c.rows(0, 400))) {
            gpu.accumulate(x);
        }
        ActivationStats cpu = ActivationStats.create(77, true).accumulate(c.rows(400, 240), 240);
        assertDeviceMatches("GPU ∪ CPU " + c, gpu.merge(cpu), ActivationStats.create(77, true).accumulate(c.data, c.rows));
    }

    @Test
    void deviceBuffersAreReusedAcrossBatchShapes() {
        // One backend serves accumulators of different widths; its device buffers are reused.
        int[][] shapes = {{5, 40}, {3000, 1500}, {7, 3}, {65, 1500}, {1, 2}};
        for (int[] s : shapes) {
            Calibration c = Calibration.random(s[0], s[1]);
            ActivationStats gpu = ActivationStats.create(s[1], false);
            try (Matrix x = cuda.matrix(s[0], s[1], c.data)) {
                gpu.accumulate(x);
            }
            assertDeviceMatches("reused buffers " + c, gpu, ActivationStats.create(s[1], false).accumulate(c.data, c.rows));
        }
    }

    @Test
    void aNonFiniteDeviceBatchNamesItsColumnAddsNothingAndLeavesNoTrace() {
        Calibration c = Calibration.random(50, 33);
        ActivationStats gpu = ActivationStats.create(33, true);
        try (Matrix poisoned = cuda.filled(50, 33, Float.NaN)) {
            NonFiniteInputException e = assertThrows(NonFiniteInputException.class, () -> gpu.accumulate(poisoned));
            assertTrue(e.getMessage().contains("column"), e.getMessage());
        }
        assertEquals(0, gpu.count());
        // The device outputs now hold NaN from the poisoned batch: every one must be overwritten.
        try (Matrix x = cuda.matrix(50, 33, c.data)) {
            gpu.accumulate(x);
        }
        assertDeviceMatches("after a refused batch " + c, gpu, ActivationStats.create(33, true).accumulate(c.data, c.rows));
    }

    private static void assertDeviceMatches(String what, ActivationStats gpu, ActivationStats cpu) {
        assertEquals(cpu.count(), gpu.count(), what + ": count");
        assertRelativelyClose(what + ": mean|x|", gpu.meanAbs(), cpu.meanAbs(), DEVICE_FLOAT64_SUMS);
        assertRelativelyClose(what + ": mean x²", gpu.meanSquare(), cpu.meanSquare(), DEVICE_FLOAT64_SUMS);
        assertArrayEquals(cpu.maxAbs(), gpu.maxAbs(), what + ": max|x|");
        if (cpu.hasCovariance()) {
            assertFrobeniusClose(what + ": covariance", gpu.covariance(), cpu.covariance(), DEVICE_FLOAT64_SUMS);
        }
    }
}
