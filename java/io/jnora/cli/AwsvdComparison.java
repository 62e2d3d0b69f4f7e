package io.jnora.cli;

import io.jnora.init.NestedAdapterWeights;
import io.jnora.init.NestedInitializer;
import io.jnora.init.NoraConfig;
import io.jnora.init.OutputError;
import io.jnora.init.ScaleMode;
import io.jnora.stats.ActivationStats;
import io.jnora.synth.SyntheticLayer;
import java.io.PrintWriter;

/**
 * The demo's second table: the outer pair's held-out output error ‖X_test (W − BA)ᵀ‖ / ‖X_test Wᵀ‖
 * for each input scaling of the activation-aware SVD (SPEC §2.2), on calibration rows with
 * outlier channels and held-out rows from the same distribution.
 */
final class AwsvdComparison {
    private AwsvdComparison() {}

    static void run(SyntheticLayer layer, LayerShapeOptions shape, PrintWriter out, PrintWriter err) {
        int calibRows = 4 * layer.n;
        int testRows = Math.min(256, Math.max(16, layer.n / 4));
        float[] calib = layer.inputs(shape.seed + 3, calibRows);
        float[] test = layer.inputs(shape.seed + 4, testRows);
        err.println("gathering activation statistics over " + calibRows + " calibration rows...");
        ActivationStats stats = ActivationStats.create(layer.n, true).accumulate(calib, calibRows);

        Table table = new Table("scale mode", "svd", "init s", "held-out output error", "vs none");
        double none = Double.NaN;
        for (ScaleMode mode : new ScaleMode[] {ScaleMode.none(), ScaleMode.meanAbs(), ScaleMode.rms(), ScaleMode.whiten()}) {
            NoraConfig cfg = NoraConfig.builder().outerRank(layer.r).innerRank(layer.rIn).scaleMode(mode).build();
            err.println("activation-aware SVD with " + mode + " scaling...");
            long start = System.nanoTime();
            NestedAdapterWeights w = NestedInitializer.initialize(layer.baseWeight, layer.m, layer.n, stats, cfg);
            double seconds = (System.nanoTime() - start) / 1e9;
            double error = OutputError.relative(test, testRows, layer.baseWeight, w.outerProduct(), layer.m, layer.n);
            if (Double.isNaN(none)) {
                none = error;
            }
            table.row(mode.toString(), w.svdUsed().name().toLowerCase(), seconds, error, error / none);
        }
        out.println("activation-aware SVD of W (" + layer.m + "×" + layer.n + ") at r = " + layer.r + ", statistics from "
                + calibRows + " rows with outlier channels, error on " + testRows + " held-out rows:");
        table.print(out);
    }
}
