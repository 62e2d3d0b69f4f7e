package io.jnora.cli;

import io.jnora.Association;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.TensorOps;
import io.jnora.synth.SyntheticLayer;
import io.jnora.train.AdamWConfig;
import io.jnora.train.Trainer;
import io.jnora.train.TrainingBatch;
import java.io.PrintWriter;
import java.util.List;

/**
 * One training step per layer shape (SPEC §2.10) next to the base GEMM of the same shape: the step a
 * layer inside a model takes (forward, backward with dX, AdamW), the regression step of layer-wise
 * recovery (forward, loss, backward without dX, AdamW), and the AdamW update alone. Operations are
 * interleaved round by round, like the layer suite, with a synchronisation inside every timed call.
 */
final class TrainBenchmark {
    private TrainBenchmark() {}

    static void run(NoraContext ctx, int rows, List<int[]> shapes, int rank, int innerRank, long seed, int warmup,
            int iterations, PrintWriter out, PrintWriter err) {
        Table table = new Table("layer m×n", "operation", "median ms", "min ms", "max ms", "× base");
        for (int[] shape : shapes) {
            int m = shape[0];
            int n = shape[1];
            int r = Math.min(rank, Math.min(m, n));
            int rIn = Math.min(innerRank, r);
            SyntheticLayer synthetic = SyntheticLayer.random(seed, m, n, r, rIn, 1f);
            // A tiny learning rate and no decay: the factors barely move however many rounds run.
            AdamWConfig optimizer = AdamWConfig.builder().learningRate(1e-7).weightDecay(0).build();
            try (NestedLinear layer = synthetic.build(ctx);
                    Matrix x = ctx.matrix(rows, n, synthetic.inputs(seed + 1, rows));
                    Matrix dy = ctx.matrix(rows, m, synthetic.upstream(seed + 2, rows));
                    Matrix target = ctx.matrix(rows, m, synthetic.upstream(seed + 3, rows));
                    Matrix y = ctx.zeros(rows, m);
                    Matrix dx = ctx.zeros(rows, n);
                    Trainer trainer = Trainer.builder(ctx).layer("layer", layer).optimizer(optimizer).build();
                    Matrix pa = ctx.zeros(rIn, r); Matrix pb = ctx.zeros(r, rIn);
                    Matrix ga = ctx.matrix(rIn, r, synthetic.innerA); Matrix gb = ctx.matrix(r, rIn, synthetic.innerB);
                    Matrix ma = ctx.zeros(rIn, r); Matrix mb = ctx.zeros(r, rIn);
                    Matrix va = ctx.zeros(rIn, r); Matrix vb = ctx.zeros(r, rIn)) {
                TrainingBatch batch = TrainingBatch.upstream(layer, x, dy).withInputGradient(dx);
                int[] adamStep = {0};
                Runnable[] ops = {
                    () -> layer.forwardBase(x, y),
                    () -> {
                        layer.forward(x, y, Association.AUTO);
                        trainer.step(List.of(batch));
                    },
                    () -> trainer.regressionStep(x, target),
                    () -> TensorOps.adamwStep(List.of(pa, pb), List.of(ga, gb), List.of(ma, mb), List.of(va, vb), 1e-7f,
                            0.9f, 0.999f, 1e-8f, 0f, 1f, ++adamStep[0]),
                };
                String[] names = {"base GEMM alone", "train step: forward + backward (dX) + AdamW",
                    "regression step: forward + MSE + backward (no dX) + AdamW", "AdamW update alone (A', B')"};
                Timing[] timings = new Timing[ops.length];
                for (int i = 0; i < ops.length; i++) {
                    timings[i] = new Timing(iterations);
                }
                err.printf("bench train: %d×%d, T=%d r=%d r_in=%d, %d warm-up and %d timed rounds...%n", m, n, rows, r, rIn,
                        warmup, iterations);
                err.flush();
                for (int round = 0; round < warmup + iterations; round++) {
                    for (int i = 0; i < ops.length; i++) {
                        Runnable op = ops[i];
                        Runnable synced = () -> {
                            op.run();
                            ctx.synchronize();
                        };
                        if (round < warmup) {
                            synced.run();
                        } else {
                            timings[i].time(synced);
                        }
                    }
                }
                double base = timings[0].median();
                for (int i = 0; i < ops.length; i++) {
                    table.row(m + "×" + n, names[i], timings[i].median(), timings[i].min(), timings[i].max(),
                            timings[i].median() / base);
                }
            }
        }
        out.println("jnora bench --suite train: T=" + rows + " r=" + rank + " r_in=" + innerRank + " (capped by the shape) on "
                + ctx.selection());
        table.print(out);
    }
}
