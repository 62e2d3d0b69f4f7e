package io.jnora.cli;

import io.jnora.NoraContext;
import io.jnora.adapter.AdapterSet;
import io.jnora.init.NoraConfig;
import io.jnora.init.ScaleMode;
import io.jnora.stats.LayerStatistics;
import io.jnora.synth.SyntheticLayer;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/**
 * Whole-set init time (issue 6) for the linear layers of a LLaMA-7B-like model scaled down by a
 * factor: per block q, k, v, o (d×d), gate and up (f×d), down (d×f) with d = 4096/scale and
 * f = 11008/scale; outlier ratios, the AIRA allocation of inner ranks under a budget, then the
 * activation-aware SVD of every layer. Statistics are gathered before the clock starts.
 */
final class SetBenchmark {
    private SetBenchmark() {}

    static void run(NoraContext ctx, int scale, int blocks, int outerRank, PrintWriter out, PrintWriter err) {
        int d = 4096 / scale;
        int f = 11008 / scale;
        int[][] shapes = {{d, d}, {d, d}, {d, d}, {d, d}, {f, d}, {f, d}, {d, f}};
        String[] kinds = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
        LayerStatistics stats = new LayerStatistics();
        List<Object[]> layers = new ArrayList<>();
        long seed = 1;
        err.printf("bench set: %d blocks × 7 layers (d = %d, f = %d), gathering statistics...%n", blocks, d, f);
        err.flush();
        for (int b = 0; b < blocks; b++) {
            for (int k = 0; k < kinds.length; k++) {
                String name = "model.layers." + b + "." + kinds[k];
                SyntheticLayer l = SyntheticLayer.random(seed++, shapes[k][0], shapes[k][1], 1, 1, 1f);
                int rows = 256;
                stats.forLayer(name, l.n, false).accumulate(l.inputs(seed++, rows), rows);
                layers.add(new Object[] {name, l.baseWeight, l.m, l.n});
            }
        }
        int innerAverage = 8;
        long budget = (long) layers.size() * 2L * outerRank * innerAverage;
        AdapterSet.Builder builder = AdapterSet.builder(ctx).statistics(stats).budget(budget).innerRankRange(1, outerRank / 2)
                .config(NoraConfig.builder().outerRank(outerRank).innerRank(innerAverage).scaleMode(ScaleMode.meanAbs())
                        .build())
                .progress(line -> {
                    err.println("bench set: " + line);
                    err.flush();
                });
        for (Object[] l : layers) {
            builder.layer((String) l[0], (float[]) l[1], (int) l[2], (int) l[3]);
        }
        long start = System.nanoTime();
        try (AdapterSet set = builder.build()) {
            double seconds = (System.nanoTime() - start) / 1e9;
            out.printf("jnora bench --suite set on %s: %d layers of a LLaMA-7B-like model scaled down %d× (d = %d, f = %d)%n",
                    ctx.selection(), layers.size(), scale, d, f);
            Table table = new Table("layers", "outer r", "budget", "trainable", "min r_in", "max r_in", "init s",
                    "s per layer");
            int min = Integer.MAX_VALUE;
            int max = 0;
            for (String name : set.names()) {
                min = Math.min(min, set.layer(name).innerRank());
                max = Math.max(max, set.layer(name).innerRank());
            }
            table.row(layers.size(), outerRank, budget, set.trainableParameters(), min, max, seconds, seconds / layers.size());
            table.print(out);
        }
    }
}
