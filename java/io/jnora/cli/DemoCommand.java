package io.jnora.cli;

import io.jnora.Association;
import io.jnora.Gradients;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.reference.Float64Reference;
import io.jnora.synth.SyntheticLayer;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * The main job on the embedded default (issue 8, {@link ModelDemo}): every linear layer of BAAI
 * bge-small-en-v1.5 with a nested adapter, calibrated on the shipped text, ranks by AIRA under a budget,
 * AwSVD init, a per-layer table and totals. With {@code --synthetic}, the earlier demo on a synthetic
 * layer: forward (both associations) and backward on the chosen backend, each timed and compared with
 * the float64 reference.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Adapt every linear layer of the embedded encoder (BAAI bge-small-en-v1.5): calibration,"
                + " AIRA ranks under a budget, activation-aware SVD init; a per-layer table of outlier ratio, ranks and"
                + " held-out output error of plain SVD vs mean-abs vs whiten truncation, and totals.",
            "With --synthetic: forward and backward of a synthetic nested layer with outlier channels, checked"
                + " against float64 (--rows, --in, --out, --rank, --inner-rank, --seed)."})
final class DemoCommand implements Callable<Integer> {
    private static final int REPEATS = 5;

    @Mixin
    BackendOption backendOption;

    @Mixin
    LayerShapeOptions shape;

    @Mixin
    ModelDemo.Options model;

    @Option(names = "--synthetic", description = "Run the synthetic-layer demo instead of the model.")
    boolean synthetic;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (!synthetic) {
            ModelDemo.run(backendOption.backend, shape, model, out, err);
            out.flush();
            return 0;
        }
        SyntheticLayer layer = SyntheticLayer.random(shape.seed, shape.out, shape.in, shape.rank, shape.innerRank, 1f);
        float[] xHost = layer.inputs(shape.seed + 1, shape.rows);
        float[] dyHost = layer.upstream(shape.seed + 2, shape.rows);

        try (NoraContext ctx = NoraContext.create(backendOption.backend);
                NestedLinear linear = layer.build(ctx);
                Matrix x = ctx.matrix(shape.rows, layer.n, xHost);
                Matrix dy = ctx.matrix(shape.rows, layer.m, dyHost);
                Matrix y = ctx.zeros(shape.rows, layer.m);
                Gradients grads = linear.backward(x, dy)) {
            out.println("jnora demo: nested layer " + shape.describe() + ", s=" + layer.scale
                    + ", inputs with heavy-tailed outlier channels");
            out.println("backend: " + ctx.selection());

            err.println("computing the float64 reference...");
            Float64Reference.Layer ref = layer.toReference();
            double[] x64 = Float64Reference.toDouble(xHost);
            double[] yRef = Float64Reference.forward(ref, x64, shape.rows);
            Float64Reference.Gradients gRef = Float64Reference.backward(ref, x64, Float64Reference.toDouble(dyHost), shape.rows);

            Table table = new Table("operation", "output", "median ms", "rel. Frobenius err", "max rel. err");
            for (Association a : new Association[] {Association.EFFECTIVE, Association.OUTER_FIRST}) {
                Timing timing = new Timing(REPEATS);
                for (int i = 0; i < REPEATS; i++) {
                    timing.time(() -> {
                        linear.forward(x, y, a);
                        ctx.synchronize();
                    });
                }
                float[] yHost = y.toArray();
                table.row("forward " + a.name().toLowerCase(), "Y " + y.shape(), timing.median(),
                        Float64Reference.relativeFrobeniusError(yHost, yRef), Float64Reference.maxRelativeError(yHost, yRef));
            }
            Timing timing = new Timing(REPEATS);
            for (int i = 0; i < REPEATS; i++) {
                timing.time(() -> {
                    linear.backward(x, dy, grads);
                    ctx.synchronize();
                });
            }
            double ms = timing.median();
            addGradient(table, "backward", "dA' " + grads.innerA().shape(), ms, grads.innerA().toArray(), gRef.innerA());
            addGradient(table, "", "dB' " + grads.innerB().shape(), Double.NaN, grads.innerB().toArray(), gRef.innerB());
            addGradient(table, "", "dX " + grads.input().shape(), Double.NaN, grads.input().toArray(), gRef.input());
            table.print(out);
            out.println("errors are float32 results against float64 references; SPEC §4 accepts 1e-4 (GPU vs CPU)");
        }
        out.println();
        AwsvdComparison.run(layer, shape, out, err);
        out.flush();
        return 0;
    }

    private static void addGradient(Table table, String op, String output, double ms, float[] got, double[] want) {
        table.row(op, output, ms, Float64Reference.relativeFrobeniusError(got, want), Float64Reference.maxRelativeError(got, want));
    }
}
