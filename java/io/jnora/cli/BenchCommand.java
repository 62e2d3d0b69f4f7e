package io.jnora.cli;

import io.jnora.Association;
import io.jnora.Gradients;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.Precision;
import io.jnora.synth.SyntheticLayer;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The forward and backward of one nested layer against the base GEMM alone. The operations are
 * interleaved round by round (base, effective, outer-first, backward, base, ...) so that drift in
 * the machine's speed hits them alike; medians are reported, with the min–max spread.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmark the nested forward and backward against the base GEMM alone; a table last.")
final class BenchCommand implements Callable<Integer> {
    @Mixin
    BackendOption backendOption;

    @Mixin
    LayerShapeOptions shape;

    @Option(names = "--suite", defaultValue = "layer", paramLabel = "layer|init|set|train|serve",
            description = "layer: forward/backward against the base GEMM; init: AwSVD init time; set: a whole"
                    + " model's adapter set (AIRA ranks + init); train: one training step per layer shape against"
                    + " the base GEMM; serve: many adapters in one batch against one adapter and the base GEMM"
                    + " (default: ${DEFAULT-VALUE}).")
    String suite;

    @Option(names = "--serve-width", defaultValue = "4096", description = "--suite serve: n = m (default: ${DEFAULT-VALUE}).")
    int serveWidth;

    @Option(names = "--serve-rows", defaultValue = "1,16,256,4096", split = ",",
            description = "--suite serve: batch sizes T (default: ${DEFAULT-VALUE}).")
    int[] serveRows;

    @Option(names = "--serve-adapters", defaultValue = "1,8,32,128", split = ",",
            description = "--suite serve: distinct adapters per batch (default: ${DEFAULT-VALUE}).")
    int[] serveAdapters;

    @Option(names = "--set-scale", defaultValue = "8",
            description = "--suite set: the LLaMA-7B shapes divided by this (default: ${DEFAULT-VALUE}).")
    int setScale;

    @Option(names = "--set-blocks", defaultValue = "4", description = "--suite set: transformer blocks (default: ${DEFAULT-VALUE}).")
    int setBlocks;

    @Option(names = "--train-shapes", defaultValue = "1024x1024,4096x1024,4096x4096", split = ",",
            description = "Layer shapes m×n (as MxN) for --suite train (default: ${DEFAULT-VALUE}).")
    String[] trainShapes;

    @Option(names = "--init-sizes", defaultValue = "1024,4096", split = ",",
            description = "Square weight sizes for --suite init (default: ${DEFAULT-VALUE}).")
    int[] initSizes;

    @Option(names = "--init-ranks", defaultValue = "64,256", split = ",",
            description = "Outer ranks for --suite init (default: ${DEFAULT-VALUE}).")
    int[] initRanks;

    @Option(names = "--warmup", defaultValue = "20", description = "Untimed rounds first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--iterations", defaultValue = "50", description = "Timed rounds (default: ${DEFAULT-VALUE}).")
    int iterations;

    @Option(names = "--precision", defaultValue = "float32", paramLabel = "float32|bfloat16|float16",
            description = "--suite layer and serve: precision of X, Y, W and the outer (serve: all) factors"
                    + " (default: ${DEFAULT-VALUE}).")
    String precision;

    @Option(names = "--tf32", description = "Let float32 GEMMs use TF32 tensor cores (CUDA; SPEC §4 allows 3e-4).")
    boolean tf32;

    @Spec
    CommandSpec spec;

    private NoraContext open() {
        NoraContext ctx = NoraContext.create(backendOption.backend);
        if (tf32 && !ctx.allowTf32(true)) {
            spec.commandLine().getErr().println("jnora bench: --tf32 has no effect on " + ctx.selection().chosen());
        }
        return ctx;
    }

    @Override
    public Integer call() {
        if (warmup < 0 || iterations < 1) {
            throw new IllegalArgumentException("--warmup must be >= 0 and --iterations >= 1");
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if ("init".equals(suite)) {
            try (NoraContext ctx = open()) {
                InitBenchmark.run(ctx, initSizes, initRanks, Math.min(iterations, 3), out, err);
            }
            out.flush();
            return 0;
        }
        if ("set".equals(suite)) {
            if (setScale < 1 || setBlocks < 1) {
                throw new IllegalArgumentException("--set-scale and --set-blocks must be ≥ 1");
            }
            try (NoraContext ctx = open()) {
                SetBenchmark.run(ctx, setScale, setBlocks, Math.min(shape.rank, 4096 / setScale), out, err);
            }
            out.flush();
            return 0;
        }
        if ("train".equals(suite)) {
            List<int[]> shapes = new ArrayList<>();
            for (String spec : trainShapes) {
                String[] parts = spec.trim().toLowerCase(java.util.Locale.ROOT).split("[x×]");
                try {
                    shapes.add(new int[] {Integer.parseInt(parts[0].trim()), Integer.parseInt(parts[1].trim())});
                } catch (RuntimeException e) {
                    throw new IllegalArgumentException("--train-shapes: '" + spec + "' is not MxN");
                }
                if (parts.length != 2 || shapes.get(shapes.size() - 1)[0] < 1 || shapes.get(shapes.size() - 1)[1] < 1) {
                    throw new IllegalArgumentException("--train-shapes: '" + spec + "' is not MxN with M, N ≥ 1");
                }
            }
            try (NoraContext ctx = open()) {
                TrainBenchmark.run(ctx, shape.rows, shapes, shape.rank, shape.innerRank, shape.seed, warmup, iterations,
                        out, err);
            }
            out.flush();
            return 0;
        }
        if ("serve".equals(suite)) {
            if (serveWidth < 1 || java.util.Arrays.stream(serveRows).anyMatch(t -> t < 1)
                    || java.util.Arrays.stream(serveAdapters).anyMatch(a -> a < 1) || shape.innerRank < 1
                    || shape.innerRank > serveWidth) {
                throw new IllegalArgumentException("--suite serve: --serve-width, --serve-rows and --serve-adapters must"
                        + " be ≥ 1 and --inner-rank within 1.." + serveWidth);
            }
            try (NoraContext ctx = open()) {
                ServeBenchmark.run(ctx, OptionValues.parseEnum(Precision.class, precision, "--precision"), serveWidth,
                        shape.innerRank, serveRows, serveAdapters, warmup, iterations, shape.seed, out, err);
            }
            out.flush();
            return 0;
        }
        if (!"layer".equals(suite)) {
            throw new IllegalArgumentException("--suite must be layer, init, set, train or serve, got '" + suite + "'");
        }
        SyntheticLayer layer = SyntheticLayer.random(shape.seed, shape.out, shape.in, shape.rank, shape.innerRank, 1f);
        Precision p = OptionValues.parseEnum(Precision.class, precision, "--precision");
        try (NoraContext ctx = open();
                NestedLinear linear = layer.build(ctx, p);
                Matrix x = ctx.matrix(shape.rows, layer.n, layer.inputs(shape.seed + 1, shape.rows), p);
                Matrix dy = ctx.matrix(shape.rows, layer.m, layer.upstream(shape.seed + 2, shape.rows), p);
                Matrix y = ctx.zeros(shape.rows, layer.m, p);
                Gradients grads = new Gradients(ctx.zeros(layer.rIn, layer.r), ctx.zeros(layer.r, layer.rIn),
                        ctx.zeros(shape.rows, layer.n, p))) {
            linear.backward(x, dy, grads);
            var backend = ctx.computeBackend();
            Runnable[] ops = {
                () -> linear.forwardBase(x, y),
                () -> linear.forward(x, y, Association.EFFECTIVE),
                () -> {
                    backend.useFusedDecode(false);  // the GEMMs alone, for comparison where a fused path exists
                    linear.forward(x, y, Association.EFFECTIVE);
                    backend.useFusedDecode(true);
                },
                () -> linear.forward(x, y, Association.OUTER_FIRST),
                () -> linear.backward(x, dy, grads),
            };
            String[] names = {"base GEMM alone", "forward, effective (cached)", "forward, effective, unfused",
                "forward, outer-first", "backward"};
            double t = shape.rows;
            double baseFlop = 2 * t * layer.n * layer.m;
            double[] flop = {
                baseFlop,
                baseFlop + 2 * t * layer.rIn * (layer.n + layer.m),
                baseFlop + 2 * t * layer.rIn * (layer.n + layer.m),
                baseFlop + 2 * t * layer.r * (layer.n + layer.m) + 4 * t * layer.r * layer.rIn,
                baseFlop + 2 * t * layer.r * (layer.n + layer.m) + 2 * t * layer.rIn * layer.n + 8 * t * layer.r * layer.rIn,
            };
            Timing[] timings = new Timing[ops.length];
            for (int i = 0; i < ops.length; i++) {
                timings[i] = new Timing(iterations);
            }
            err.println("bench: " + ctx.selection().chosen().name().toLowerCase() + ", " + shape.describe() + ", "
                    + warmup + " warm-up and " + iterations + " timed rounds...");
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
            // Bytes of an ideal (fused) pass: every operand read once, every output written once.
            double f = p.bytes();
            double factors = (double) layer.r * (layer.n + layer.m) + 2.0 * layer.r * layer.rIn;
            double baseBytes = f * (t * layer.n + (double) layer.m * layer.n + t * layer.m);
            double[] bytes = {
                baseBytes,
                baseBytes + f * layer.rIn * (layer.n + layer.m),
                baseBytes + f * layer.rIn * (layer.n + layer.m),
                baseBytes + f * factors,
                f * (2 * t * layer.n + (double) layer.m * layer.n + t * layer.m + factors + 2.0 * layer.r * layer.rIn),
            };
            boolean cuda = ctx.selection().chosen() == io.jnora.Backend.CUDA;
            HardwareFloors floors = HardwareFloors.measure(ctx, cuda ? 8192 : 1024, cuda ? 1L << 30 : 256L << 20, 3, p);
            out.println("jnora bench: " + shape.describe() + ", " + p + " on " + ctx.selection());
            out.println("floors: " + floors.describe());
            Table table = new Table("operation", "median ms", "min ms", "max ms", "GFLOP/s", "× base", "floor ms",
                    "× floor");
            double base = timings[0].median();
            for (int i = 0; i < ops.length; i++) {
                double med = timings[i].median();
                double floor = floors.floorMillis(flop[i], bytes[i]);
                table.row(names[i], med, timings[i].min(), timings[i].max(), flop[i] / med / 1e6, med / base, floor,
                        med / floor);
            }
            table.print(out);
        }
        out.flush();
        return 0;
    }
}
