package io.jnora.cli;

import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.ShapeMismatchException;
import io.jnora.adapter.AdapterLayer;
import io.jnora.adapter.NestedAdapterFile;
import io.jnora.io.SafetensorsWriter;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Y for the rows of an input through a weight and one or several nested adapters (SPEC §6
 * {@code forward}); with several, {@code --row-adapter} gives each row's adapter index (−1: none).
 * Rows are grouped by adapter here and each group runs through its layer; one base GEMM per
 * group. (The grouped single-call kernel of SPEC §2.9 is the multi-adapter serving path.)
 */
@Command(name = "forward", mixinStandardHelpOptions = true,
        description = "Y = X W_baseᵀ + adapter term for the rows of an input; written as tensor y.")
final class ForwardCommand implements Callable<Integer> {
    @Option(names = "--weight", required = true, paramLabel = "FILE#TENSOR", description = "The original weight W (m×n).")
    String weight;

    @Option(names = "--adapter", required = true, description = "A nested adapter file; repeat for several.")
    List<Path> adapters;

    @Option(names = "--row-adapter", paramLabel = "FILE#TENSOR",
            description = "Per-row adapter index (int32/int64; -1 for none); required with several adapters.")
    String rowAdapter;

    @Option(names = "--layer", description = "The layer in each adapter file (needed when a file holds several).")
    String layer;

    @Option(names = "--input", required = true, paramLabel = "FILE#TENSOR",
            description = "Input rows X (T×n; leading dimensions are kept in y).")
    String input;

    @Option(names = "--out", required = true, description = "The safetensors file to write (tensor y).")
    Path out;

    @Mixin
    BackendOption backendOption;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        TensorInputs.Weight w = TensorInputs.weight("forward", "--weight", weight);
        List<AdapterLayer> layers = new ArrayList<>();
        for (Path p : adapters) {
            AdapterLayer a = NestedAdapterFile.readLayer(p, layer);
            if (a.outFeatures() != w.m() || a.inFeatures() != w.n()) {
                throw new ShapeMismatchException("forward: layer '" + a.name() + "' of " + p + " is " + a.outFeatures()
                        + "×" + a.inFeatures() + " but the weight " + weight + " is " + w.m() + "×" + w.n());
            }
            layers.add(a);
        }
        TensorInputs.Rows x = TensorInputs.rows("forward", "--input", input, w.n(),
                "the weight " + w.m() + "×" + w.n() + " takes " + w.n() + " inputs");
        int[] rowAdapters = rowAdapters(x.rows(), layers.size());
        float[] y = new float[x.rows() * w.m()];
        try (NoraContext ctx = NoraContext.create(backendOption.backend)) {
            err.println("forward: " + x.rows() + " rows on " + ctx.selection().chosen().name().toLowerCase());
            for (int index = -1; index < layers.size(); index++) {
                int[] group = rowsOf(rowAdapters, index);
                if (group.length > 0) {
                    runGroup(ctx, index < 0 ? null : layers.get(index), w, x, group, y);
                }
            }
        }
        long[] shape = x.shape().clone();
        shape[shape.length - 1] = w.m();
        new SafetensorsWriter().add("y", y, shape).write(out);
        stdout.printf("wrote %s#y %s from %d rows through %d adapter%s%n", out, Arrays.toString(shape), x.rows(),
                layers.size(), layers.size() == 1 ? "" : "s");
        stdout.flush();
        return 0;
    }

    private int[] rowAdapters(int rows, int count) {
        int[] out = new int[rows];
        if (rowAdapter == null) {
            if (count > 1) {
                throw new IllegalArgumentException("forward: " + count + " adapters need --row-adapter to say which row uses which");
            }
            return out;  // every row through the one adapter
        }
        long[] indices = TensorInputs.indices("forward", "--row-adapter", rowAdapter, rows);
        for (int t = 0; t < rows; t++) {
            if (indices[t] < -1 || indices[t] >= count) {
                throw new IllegalArgumentException("forward: --row-adapter index " + indices[t] + " at row " + t
                        + " is outside [-1, " + (count - 1) + "] for " + count + " adapter" + (count == 1 ? "" : "s"));
            }
            out[t] = (int) indices[t];
        }
        return out;
    }

    private static int[] rowsOf(int[] rowAdapters, int index) {
        return java.util.stream.IntStream.range(0, rowAdapters.length).filter(t -> rowAdapters[t] == index).toArray();
    }

    private static void runGroup(NoraContext ctx, AdapterLayer a, TensorInputs.Weight w, TensorInputs.Rows x, int[] rows,
            float[] y) {
        int n = w.n();
        int m = w.m();
        float[] xs = new float[rows.length * n];
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(x.values(), rows[i] * n, xs, i * n, n);
        }
        float[] ys;
        try (Matrix xm = ctx.matrix(rows.length, n, xs); Matrix ym = ctx.zeros(rows.length, m)) {
            if (a == null) {
                try (Matrix wm = ctx.matrix(m, n, w.values())) {
                    ctx.linear(xm, wm, ym);
                }
            } else {
                try (NestedLinear l = a.build(ctx, w.values())) {
                    l.forward(xm, ym, io.jnora.Association.AUTO);
                }
            }
            ys = ym.toArray();
        }
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(ys, i * m, y, rows[i] * m, m);
        }
    }
}
