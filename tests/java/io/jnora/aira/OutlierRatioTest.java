package io.jnora.aira;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.jnora.NonFiniteInputException;
import io.jnora.ShapeMismatchException;
import io.jnora.stats.ActivationStats;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The outlier ratio O_l (SPEC §2.8): the fraction of |W_ij| · ‖X[:, j]‖₂ above τ times their mean. */
class OutlierRatioTest {
    @Test
    void oneLoudChannelMakesItsColumnTheOutliers() {
        // W all ones (4×10); channel 3 has mean x² = 10⁴ (norm 100), the others 1. Scores: 1 except
        // column 3 (100); mean (36 + 400)/40 = 10.9, cut 5 · 10.9 = 54.5: the 4 scores of column 3.
        float[] w = new float[40];
        Arrays.fill(w, 1f);
        double[] meanSquare = new double[10];
        Arrays.fill(meanSquare, 1);
        meanSquare[3] = 1e4;
        assertEquals(4 / 40.0, OutlierRatio.withDefaultThreshold().of(w, 4, 10, meanSquare), 0.0);
        // A threshold above 100/10.9 ≈ 9.17 leaves none.
        assertEquals(0.0, OutlierRatio.withThreshold(9.2).of(w, 4, 10, meanSquare), 0.0);
    }

    @Test
    void aLargeWeightIsAnOutlierOnQuietInputsToo() {
        float[] w = new float[6 * 8];
        Arrays.fill(w, 0.01f);
        w[2 * 8 + 5] = 5f;
        w[4 * 8 + 1] = -5f;
        double[] meanSquare = new double[8];
        Arrays.fill(meanSquare, 4);
        assertEquals(2 / 48.0, OutlierRatio.withDefaultThreshold().of(w, 6, 8, meanSquare), 0.0);
    }

    @Test
    void itMatchesADirectComputationWithTheColumnNormsOfTheCalibrationRows() {
        long seed = RandomProblems.freshSeed();
        SplittableRandom random = new SplittableRandom(seed);
        int m = 23;
        int n = 37;
        int rows = 150;
        float[] w = new float[m * n];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (random.nextGaussian() * (random.nextInt(50) == 0 ? 8 : 1));
        }
        float[] x = new float[rows * n];
        for (int i = 0; i < x.length; i++) {
            int j = i % n;
            x[i] = (float) (random.nextGaussian() * (j % 9 == 0 ? 30 : 1)); // heavy-tailed channels
        }
        // Direct: a_ij = |W_ij| · ‖X[:, j]‖₂ with the true column norm (the √N the class leaves out).
        double[] norm = new double[n];
        for (int t = 0; t < rows; t++) {
            for (int j = 0; j < n; j++) {
                norm[j] += (double) x[t * n + j] * x[t * n + j];
            }
        }
        double sum = 0;
        double[] score = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                score[i * n + j] = Math.abs(w[i * n + j]) * Math.sqrt(norm[j]);
                sum += score[i * n + j];
            }
        }
        double cut = 5 * sum / (m * n);
        long above = Arrays.stream(score).filter(s -> s > cut).count();
        ActivationStats stats = ActivationStats.create(n, false).accumulate(x, rows);
        double o = OutlierRatio.withDefaultThreshold().of(w, m, n, stats);
        assertEquals(above / (double) (m * n), o, 0.0, RandomProblems.replay(seed));
        assertEquals(true, above > 0, RandomProblems.replay(seed) + ": the case should have outliers");
    }

    @Test
    void allZeroScoresHaveNoOutliers() {
        assertEquals(0.0, OutlierRatio.withDefaultThreshold().of(new float[12], 3, 4, new double[] {1, 2, 3, 4}));
        float[] w = new float[12];
        Arrays.fill(w, 1f);
        assertEquals(0.0, OutlierRatio.withDefaultThreshold().of(w, 3, 4, new double[4]));
    }

    @Test
    void badShapesAndValuesAreRefused() {
        OutlierRatio ratio = OutlierRatio.withDefaultThreshold();
        assertThrows(ShapeMismatchException.class, () -> ratio.of(new float[11], 3, 4, new double[4]));
        assertThrows(ShapeMismatchException.class, () -> ratio.of(new float[12], 3, 4, new double[5]));
        assertThrows(ShapeMismatchException.class, () -> ratio.of(new float[12], 3, 4, ActivationStats.create(5, false)));
        float[] nan = new float[12];
        nan[7] = Float.NaN;
        NonFiniteInputException e = assertThrows(NonFiniteInputException.class, () -> ratio.of(nan, 3, 4, new double[4]));
        assertEquals(true, e.getMessage().contains("[1, 3]"), e.getMessage());
        assertThrows(NonFiniteInputException.class, () -> ratio.of(new float[12], 3, 4, new double[] {1, -1, 1, 1}));
        assertThrows(IllegalArgumentException.class, () -> OutlierRatio.withThreshold(0));
        assertThrows(IllegalArgumentException.class, () -> OutlierRatio.withThreshold(Double.NaN));
    }
}
