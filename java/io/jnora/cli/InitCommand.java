package io.jnora.cli;

import io.jnora.Matrix;
import io.jnora.NoraContext;
import io.jnora.ShapeMismatchException;
import io.jnora.adapter.AdapterLayer;
import io.jnora.adapter.NestedAdapterFile;
import io.jnora.init.NestedAdapterWeights;
import io.jnora.init.NestedInitializer;
import io.jnora.init.NoraConfig;
import io.jnora.init.OutputError;
import io.jnora.init.ScaleMode;
import io.jnora.stats.ActivationStats;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** One layer's nested adapter from a weight and calibration activations (SPEC §6 {@code init}). */
@Command(name = "init", mixinStandardHelpOptions = true,
        description = "Initialise one layer's nested adapter by activation-aware SVD and write it (safetensors).")
final class InitCommand implements Callable<Integer> {
    private static final int BATCH_ROWS = 4096;

    @Option(names = "--weight", required = true, paramLabel = "FILE#TENSOR", description = "The frozen weight W (m×n).")
    String weight;

    @Option(names = "--calib", required = true, paramLabel = "FILE#TENSOR",
            description = "Calibration activations (N×n; leading dimensions are flattened into rows).")
    String calib;

    @Option(names = "--init", defaultValue = "zero", paramLabel = "zero|sigma|random-outer",
            description = "Inner init (default: ${DEFAULT-VALUE}).")
    String init;

    @Option(names = "--layer", defaultValue = "layer", description = "The layer's name in the file (default: ${DEFAULT-VALUE}).")
    String layer;

    @Option(names = "--seed", defaultValue = "24301", description = "Seed of the randomized SVD and the Kaiming init.")
    long seed;

    @Option(names = "--out", required = true, description = "The adapter file to write.")
    Path out;

    @Mixin
    AdapterOptions adapterOptions = new AdapterOptions("mean-abs");

    @Mixin
    BackendOption backendOption;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        NoraConfig cfg = adapterOptions.config(init, seed);
        ScaleMode mode = cfg.scaleMode();

        TensorInputs.Weight weightIn = TensorInputs.weight("init", "--weight", weight);
        float[] w = weightIn.values();
        int m = weightIn.m();
        int n = weightIn.n();
        try (NoraContext ctx = NoraContext.create(backendOption.backend)) {
            err.println("init: backend " + ctx.selection());
            return run(ctx, cfg, mode, w, m, n, stdout, err);
        }
    }

    private int run(NoraContext ctx, NoraConfig cfg, ScaleMode mode, float[] w, int m, int n, PrintWriter stdout,
            PrintWriter err) {
        ActivationStats stats = ActivationStats.create(n, mode.needsCovariance());
        TensorInputs.Rows calibIn = TensorInputs.rows("init", "--calib", calib, n,
                "the weight " + m + "×" + n + " takes " + n + " inputs");
        float[] x = calibIn.values();
        int rows = calibIn.rows();
        if (rows == 0) {
            throw new ShapeMismatchException("calibration " + calib + " holds no rows");
        }
        for (int start = 0; start < rows; start += BATCH_ROWS) {
            int count = Math.min(BATCH_ROWS, rows - start);
            try (Matrix batch = ctx.matrix(count, n, Arrays.copyOfRange(x, start * n, (start + count) * n))) {
                stats.accumulate(batch);  // on the device when the context is CUDA
            }
            err.printf("init: statistics %d/%d rows%n", start + count, rows);
            err.flush();
        }
        int sampleRows = Math.min(rows, 1024);
        float[] sample = Arrays.copyOf(x, sampleRows * n);
        err.printf("init: %s SVD of a %d×%d weight at r = %d (%s scaling)...%n",
                cfg.svd().resolve(m, n, cfg.outerRank()).name().toLowerCase(Locale.ROOT), m, n, cfg.outerRank(), mode);
        err.flush();
        long start = System.nanoTime();
        NestedAdapterWeights weights = NestedInitializer.initialize(ctx, w, m, n, stats, cfg);
        double seconds = (System.nanoTime() - start) / 1e9;
        NestedAdapterFile.write(out, List.of(AdapterLayer.of(layer, weights)));

        stdout.printf("layer %s: W %d×%d, r = %d, r_in = %d (%d trainable), s = %s (%s, α = %s)%n", layer, m, n, cfg.outerRank(),
                cfg.innerRank(), 2L * cfg.outerRank() * cfg.innerRank(), weights.scale(), cfg.rule().metadataName(), cfg.alpha());
        stdout.printf("init %s, scale mode %s, svd %s, %.3f s%n", cfg.init().metadataName(), mode,
                weights.svdUsed() == null ? "none" : weights.svdUsed().name().toLowerCase(Locale.ROOT), seconds);
        if (weights.singularValues() != null) {
            float[] sv = weights.singularValues();
            stdout.printf("σ_1..σ_%d of W S: %s%s%n", Math.min(5, sv.length),
                    Arrays.toString(Arrays.copyOf(sv, Math.min(5, sv.length))), sv.length > 5 ? " ... σ_r = " + sv[sv.length - 1] : "");
        }
        stdout.printf("output error of the rank-%d outer product on %d calibration rows: %.4e%n", cfg.outerRank(), sampleRows,
                OutputError.relative(sample, sampleRows, w, weights.outerProduct(), m, n));
        stdout.println("wrote " + out);
        stdout.flush();
        return 0;
    }

}
