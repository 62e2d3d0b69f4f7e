package io.jnora.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.jnora.Backend;
import io.jnora.NoraContext;
import io.jnora.init.NoraConfig;
import io.jnora.init.ScaleMode;
import io.jnora.init.SvdMethod;
import io.jnora.init.TruncationComparison;
import io.jnora.stats.LayerStatistics;
import io.jnora.synth.SyntheticLayer;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;

/** A row of the demo's per-layer table (issue 8) on a small set: ranks from the set, counts, ratio, errors. */
class LayerReportTest {
    private static final long SEED = ThreadLocalRandom.current().nextLong();
    private static final List<ScaleMode> MODES = List.of(ScaleMode.none(), ScaleMode.meanAbs(), ScaleMode.whiten());

    /** The outlier ratio by its definition (SPEC §2.8), in float64: |W_ij|·‖X[:, j]‖ above τ × the mean. */
    private static double referenceOutlierRatio(float[] w, int m, int n, float[] x, int rows, double tau) {
        double[] colNorm = new double[n];
        for (int t = 0; t < rows; t++) {
            for (int j = 0; j < n; j++) {
                colNorm[j] += (double) x[t * n + j] * x[t * n + j];
            }
        }
        double[] score = new double[m * n];
        double mean = 0;
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                score[i * n + j] = Math.abs(w[i * n + j]) * Math.sqrt(colNorm[j]);
                mean += score[i * n + j] / (m * n);
            }
        }
        long above = 0;
        for (double s : score) {
            above += s > tau * mean ? 1 : 0;
        }
        return (double) above / (m * n);
    }

    @Test
    void aRowCarriesTheSetsRanksTheCountsTheRatioAndTheErrors() {
        int[][] shapes = {{24, 16}, {16, 24}, {30, 16}};
        LayerStatistics stats = new LayerStatistics();
        SyntheticLayer[] layers = new SyntheticLayer[shapes.length];
        float[][] calib = new float[shapes.length][];
        float[][] test = new float[shapes.length][];
        NoraConfig cfg = NoraConfig.builder().outerRank(6).innerRank(2).svd(SvdMethod.EXACT).seed(SEED).build();
        try (NoraContext ctx = NoraContext.create(Backend.CPU)) {
            AdapterSet.Builder b = AdapterSet.builder(ctx).config(cfg).budget(100).innerRankRange(1, 6);
            for (int k = 0; k < shapes.length; k++) {
                layers[k] = SyntheticLayer.random(SEED + k, shapes[k][0], shapes[k][1], 6, 2, 1f);
                calib[k] = layers[k].inputs(SEED + 10 + k, 200);
                test[k] = layers[k].inputs(SEED + 20 + k, 40);
                stats.forLayer("l" + k, shapes[k][1], true).accumulate(calib[k], 200);
                b.layer("l" + k, layers[k].baseWeight, shapes[k][0], shapes[k][1]);
            }
            try (AdapterSet set = b.statistics(stats).build()) {
                for (int k = 0; k < shapes.length; k++) {
                    String name = "l" + k;
                    int m = shapes[k][0];
                    int n = shapes[k][1];
                    LayerReport r = LayerReport.of(ctx, set, name, layers[k].baseWeight, stats.get(name), test[k], 40, cfg,
                            MODES, 5);
                    assertEquals(name, r.name());
                    assertEquals(m, r.outFeatures());
                    assertEquals(n, r.inFeatures());
                    assertEquals(6, r.outerRank());
                    assertEquals(set.allocation().byLayer().get(name), r.innerRank());
                    assertEquals(2L * 6 * r.innerRank(), r.trainableParameters());
                    assertEquals((long) r.innerRank() * (m + n), r.loraParameters());
                    assertEquals(6L * (m + n), r.loraParametersAtOuterRank());
                    assertEquals(referenceOutlierRatio(layers[k].baseWeight, m, n, calib[k], 200, 5), r.outlierRatio(),
                            1.0 / (m * n) + 1e-12, name + " (seed " + SEED + ")");  // at most one score at the threshold
                    List<TruncationComparison.Entry> want = TruncationComparison.compare(ctx, layers[k].baseWeight, m, n,
                            stats.get(name), test[k], 40, cfg, MODES);
                    for (ScaleMode mode : MODES) {
                        double expected = want.stream().filter(e -> e.mode().equals(mode)).findFirst().orElseThrow()
                                .heldOutError();
                        assertEquals(expected, r.error(mode.kind()), 0.0, name + " " + mode);
                    }
                    assertEquals(Double.NaN, r.error(ScaleMode.Kind.RMS));
                }
                assertEquals(set.trainableParameters(), shapesTotal(ctx, set, layers, stats, test, cfg));
            }
        }
    }

    private static long shapesTotal(NoraContext ctx, AdapterSet set, SyntheticLayer[] layers, LayerStatistics stats,
            float[][] test, NoraConfig cfg) {
        long total = 0;
        for (int k = 0; k < layers.length; k++) {
            total += LayerReport.of(ctx, set, "l" + k, layers[k].baseWeight, stats.get("l" + k), test[k], 40, cfg,
                    List.of(ScaleMode.none()), 5).trainableParameters();
        }
        return total;
    }
}
