package io.jnora.stats;

import static io.jnora.stats.Calibration.assertCovarianceClose;
import static io.jnora.stats.Calibration.assertRelativelyClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.Backend;
import io.jnora.Matrix;
import io.jnora.NonFiniteInputException;
import io.jnora.NoraContext;
import io.jnora.ShapeMismatchException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Activation statistics on the CPU (SPEC §2.1) against an independent float64 computation.
 *
 * <p>Tolerances: the library and the reference both sum in float64, in different orders (row by
 * row per batch, then batch totals; against column by column), so they differ by at most about
 * rows · 1.1e-16 relative, under 1e-12 for every case here; 1e-12 is therefore the bound for sums,
 * means and covariance entries, and maxima, a max of the same floats, must be equal.
 */
class ActivationStatsTest {
    /** float64 sums of the same values in different orders: ≤ rows · 2⁻⁵³ ≈ 1e-13 here. */
    private static final double FLOAT64_SUMS = 1e-12;

    static Stream<Arguments> oddShapes() {
        // SPEC §4: T in {1, 3, 17, 128, 1000}, n not a multiple of 8 (and one channel).
        return Stream.of(Arguments.of(1, 37), Arguments.of(3, 130), Arguments.of(17, 257), Arguments.of(128, 75),
                Arguments.of(1000, 61), Arguments.of(1000, 1));
    }

    @ParameterizedTest(name = "T={0} n={1}")
    @MethodSource("oddShapes")
    void statisticsMatchTheFloat64Definition(int rows, int n) {
        Calibration c = Calibration.random(rows, n);
        ActivationStats stats = ActivationStats.create(n, true).accumulate(c.data, rows);
        Calibration.Reference want = Calibration.Reference.of(c, true);
        assertEquals(rows, stats.count());
        assertEquals(n, stats.channels());
        assertTrue(stats.hasCovariance());
        assertRelativelyClose("mean|x| " + c, stats.meanAbs(), want.meanAbs(), FLOAT64_SUMS);
        assertRelativelyClose("mean x² " + c, stats.meanSquare(), want.meanSquare(), FLOAT64_SUMS);
        assertRelativelyClose("rms " + c, stats.rms(), sqrt(want.meanSquare()), FLOAT64_SUMS);
        assertArrayEquals(want.maxAbs(), stats.maxAbs(), "max|x| " + c);
        assertCovarianceClose("covariance " + c, stats.covariance(), want.covariance(), n, FLOAT64_SUMS);
    }

    @Test
    void streamingInUnevenBatchesEqualsOnePass() {
        Calibration c = Calibration.random(1000, 67);
        ActivationStats onePass = ActivationStats.create(67, true).accumulate(c.data, c.rows);
        ActivationStats streamed = ActivationStats.create(67, true);
        for (int[] batch : unevenBatches(c.rows, new Random(c.seed))) {
            streamed.accumulate(c.rows(batch[0], batch[1]), batch[1]);
        }
        assertSameStatistics("streamed vs one pass " + c, streamed, onePass);
    }

    @Test
    void mergingTwoAccumulatorsEqualsOnePassOverTheUnion() {
        Calibration c = Calibration.random(777, 45);
        int split = 301;
        ActivationStats first = ActivationStats.create(45, true).accumulate(c.rows(0, split), split);
        ActivationStats second = ActivationStats.create(45, true).accumulate(c.rows(split, c.rows - split), c.rows - split);
        ActivationStats union = ActivationStats.create(45, true).accumulate(c.data, c.rows);
        first.merge(second);
        assertSameStatistics("merged vs one pass " + c, first, union);
        assertEquals(c.rows - split, second.count(), "merge leaves its argument unchanged");
    }

    @Test
    void batchOrderDoesNotChangeTheStatistics() {
        Calibration c = Calibration.random(900, 29);
        List<int[]> batches = unevenBatches(c.rows, new Random(c.seed));
        ActivationStats forward = ActivationStats.create(29, true);
        for (int[] b : batches) {
            forward.accumulate(c.rows(b[0], b[1]), b[1]);
        }
        Collections.shuffle(batches, new Random(c.seed + 1));
        ActivationStats shuffled = ActivationStats.create(29, true);
        for (int[] b : batches) {
            shuffled.accumulate(c.rows(b[0], b[1]), b[1]);
        }
        assertSameStatistics("shuffled batches " + c, shuffled, forward);
    }

    @Test
    void covarianceOfALargeBatchMatchesTheDirectComputation() {
        // n = 520 converts 2016 rows per dsyrk block: 4500 rows take three blocks, the last partial.
        Calibration c = Calibration.random(4500, 520);
        double[] got = ActivationStats.create(520, true).accumulate(c.data, c.rows).covariance();
        assertCovarianceClose("covariance " + c, got, Calibration.Reference.of(c, true).covariance(), 520, FLOAT64_SUMS);
    }

    @Test
    void accumulatingAMatrixOnTheCpuBackendEqualsHostRows() {
        Calibration c = Calibration.random(333, 91);
        try (NoraContext cpu = NoraContext.create(Backend.CPU); Matrix x = cpu.matrix(c.rows, c.channels, c.data)) {
            ActivationStats fromMatrix = ActivationStats.create(91, true).accumulate(x);
            ActivationStats fromRows = ActivationStats.create(91, true).accumulate(c.data, c.rows);
            assertSameStatistics("CPU matrix vs host rows " + c, fromMatrix, fromRows);
        }
    }

    @Test
    void aBatchOfNoRowsChangesNothing() {
        Calibration c = Calibration.random(10, 13);
        ActivationStats stats = ActivationStats.create(13, true).accumulate(c.data, c.rows);
        double[] before = stats.meanAbs();
        stats.accumulate(new float[0], 0);
        try (NoraContext cpu = NoraContext.create(Backend.CPU); Matrix empty = cpu.zeros(0, 13)) {
            stats.accumulate(empty);
        }
        assertEquals(10, stats.count());
        assertArrayEquals(before, stats.meanAbs());
    }

    // Errors: typed, naming the operation, and leaving the statistics as they were.

    @Test
    void aWrongLengthIsAShapeMismatch() {
        ActivationStats stats = ActivationStats.create(7, false);
        ShapeMismatchException e = assertThrows(ShapeMismatchException.class, () -> stats.accumulate(new float[20], 3));
        assertTrue(e.getMessage().contains("3×7"), e.getMessage());
        assertThrows(ShapeMismatchException.class, () -> stats.accumulate(new float[0], -1));
        assertEquals(0, stats.count());
    }

    @Test
    void aMatrixWithOtherColumnsIsAShapeMismatch() {
        ActivationStats stats = ActivationStats.create(7, false);
        try (NoraContext cpu = NoraContext.create(Backend.CPU); Matrix x = cpu.zeros(4, 8)) {
            ShapeMismatchException e = assertThrows(ShapeMismatchException.class, () -> stats.accumulate(x));
            assertTrue(e.getMessage().contains("4×8") && e.getMessage().contains("7 columns"), e.getMessage());
        }
    }

    @Test
    void aClosedMatrixIsRefused() {
        ActivationStats stats = ActivationStats.create(3, false);
        try (NoraContext cpu = NoraContext.create(Backend.CPU)) {
            Matrix x = cpu.zeros(2, 3);
            x.close();
            assertThrows(IllegalStateException.class, () -> stats.accumulate(x));
        }
    }

    @Test
    void aNonFiniteInputNamesTheElementAndAddsNothing() {
        Calibration c = Calibration.random(20, 11);
        ActivationStats stats = ActivationStats.create(11, true).accumulate(c.data, c.rows);
        double[] meanAbs = stats.meanAbs();
        double[] covariance = stats.covariance();
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            float[] batch = c.rows(0, 5);
            batch[3 * 11 + 4] = bad;
            NonFiniteInputException e = assertThrows(NonFiniteInputException.class, () -> stats.accumulate(batch, 5));
            assertTrue(e.getMessage().contains("[3, 4]") && e.getMessage().contains("ActivationStats.accumulate"),
                    e.getMessage());
        }
        assertEquals(20, stats.count());
        assertArrayEquals(meanAbs, stats.meanAbs());
        assertArrayEquals(covariance, stats.covariance());
    }

    @Test
    void aNonFiniteMatrixIsRefusedAndAddsNothing() {
        ActivationStats stats = ActivationStats.create(6, true);
        try (NoraContext cpu = NoraContext.create(Backend.CPU); Matrix x = cpu.filled(4, 6, Float.NaN)) {
            NonFiniteInputException e = assertThrows(NonFiniteInputException.class, () -> stats.accumulate(x));
            assertTrue(e.getMessage().contains("[0, 0]"), e.getMessage());
        }
        assertEquals(0, stats.count());
        stats.accumulate(new float[] {1, 2, 3, 4, 5, 6}, 1);
        assertArrayEquals(new double[] {1, 2, 3, 4, 5, 6}, stats.maxAbs());
    }

    @Test
    void covarianceWithoutItIsAClearError() {
        ActivationStats stats = ActivationStats.create(4, false).accumulate(new float[] {1, -2, 3, -4}, 1);
        assertFalse(stats.hasCovariance());
        IllegalStateException e = assertThrows(IllegalStateException.class, stats::covariance);
        assertTrue(e.getMessage().contains("without the covariance"), e.getMessage());
    }

    @Test
    void emptyStatisticsHaveNoMeans() {
        ActivationStats stats = ActivationStats.create(5, true);
        assertEquals(0, stats.count());
        for (Runnable read : new Runnable[] {stats::meanAbs, stats::meanSquare, stats::rms, stats::maxAbs, stats::covariance}) {
            IllegalStateException e = assertThrows(IllegalStateException.class, read::run);
            assertTrue(e.getMessage().contains("count is 0"), e.getMessage());
        }
    }

    @Test
    void mergingDifferentShapesIsAShapeMismatch() {
        ActivationStats stats = ActivationStats.create(5, true);
        assertThrows(ShapeMismatchException.class, () -> stats.merge(ActivationStats.create(6, true)));
        assertThrows(ShapeMismatchException.class, () -> stats.merge(ActivationStats.create(5, false)));
        assertThrows(ShapeMismatchException.class, () -> ActivationStats.create(5, false).merge(stats));
    }

    @Test
    void creatingWithoutChannelsIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> ActivationStats.create(0, false));
        assertThrows(IllegalArgumentException.class, () -> ActivationStats.create(50_000, true));
    }

    // Helpers.

    /** Sums equal to float64 rounding (means, covariance), maxima and counts exactly. */
    static void assertSameStatistics(String what, ActivationStats got, ActivationStats want) {
        assertEquals(want.count(), got.count(), what + ": count");
        assertRelativelyClose(what + ": mean|x|", got.meanAbs(), want.meanAbs(), FLOAT64_SUMS);
        assertRelativelyClose(what + ": mean x²", got.meanSquare(), want.meanSquare(), FLOAT64_SUMS);
        assertArrayEquals(want.maxAbs(), got.maxAbs(), what + ": max|x|");
        if (want.hasCovariance()) {
            assertCovarianceClose(what + ": covariance", got.covariance(), want.covariance(), want.channels(),
                    FLOAT64_SUMS);
        }
    }

    /** Batches {start, rows} of uneven sizes covering [0, total): a 1-row batch first, then random sizes. */
    static List<int[]> unevenBatches(int total, Random rng) {
        List<int[]> batches = new ArrayList<>();
        batches.add(new int[] {0, 1});
        int start = 1;
        while (start < total) {
            int size = Math.min(total - start, 1 + rng.nextInt(Math.max(1, total / 4)));
            batches.add(new int[] {start, size});
            start += size;
        }
        return batches;
    }

    private static double[] sqrt(double[] v) {
        double[] out = v.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] = Math.sqrt(out[i]);
        }
        return out;
    }
}
