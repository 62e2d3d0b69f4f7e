package io.jnora.cli;

import io.jnora.NoraContext;
import io.jnora.init.ScaleMode;
import io.jnora.train.AdamWConfig;
import io.jnora.train.InvalidHyperparameterException;
import io.jnora.train.LearningRateSchedule;
import io.jnora.train.Pruning;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;
import org.bytedeco.openblas.presets.openblas_nolapack;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The options every {@code jnora experiment} shares: which layers, how they are degraded, how long
 * and how fast training runs, how many seeds. Validated by {@link #validate()} before any work.
 */
final class ExperimentOptions {
    @Mixin
    BackendOption backend;

    @Option(names = "--layers", split = ",", paramLabel = "NAME[,NAME...]",
            description = "Linear layers of the embedded model (encoder.layer.3.attention.self.query, or 3.attention.self.query;"
                    + " default: the experiment's).")
    List<String> layers;

    @Option(names = "--synthetic", paramLabel = "MxN",
            description = "Run on one synthetic m×n layer instead of the model (quick checks).")
    String synthetic;

    @Option(names = "--seeds", defaultValue = "3", description = "Seeds per setting (default: ${DEFAULT-VALUE}).")
    int seeds;

    @Option(names = "--steps", defaultValue = "300", description = "AdamW steps per run (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--lr", defaultValue = "1e-2", description = "Peak learning rate, warm-up over 5% of the steps then "
            + "cosine decay to 0 (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--batch-rows", defaultValue = "256", description = "Rows per minibatch (default: ${DEFAULT-VALUE}).")
    int batchRows;

    @Option(names = "--prune", defaultValue = "magnitude:0.5", paramLabel = "magnitude:F|rank:R",
            description = "How W is degraded into W_base (default: ${DEFAULT-VALUE}).")
    String prune;

    @Option(names = "--scale-mode", defaultValue = "whiten", paramLabel = "none|mean-abs|rms|whiten",
            description = "The outer factors' input scaling (default: ${DEFAULT-VALUE}: exact for this loss, SPEC §2.2).")
    String scaleMode;

    @Option(names = "--rows", defaultValue = "2048", description = "Training rows per layer, at most (default: ${DEFAULT-VALUE}).")
    int rows;

    @Option(names = "--held-out-rows", defaultValue = "512",
            description = "Held-out rows per layer, at most (default: ${DEFAULT-VALUE}).")
    int heldOutRows;

    @Option(names = "--blas-threads", defaultValue = "1",
            description = "OpenBLAS threads (default: ${DEFAULT-VALUE}; busy-waiting threads lose on small shared machines).")
    int blasThreads;

    Pruning pruning;
    ScaleMode mode;

    /** Checks the options (IllegalArgumentException or a typed one: exit status 2) and parses the compound ones. */
    void validate() {
        if (seeds < 1) {
            throw new IllegalArgumentException("--seeds must be ≥ 1, got " + seeds);
        }
        if (steps < 1) {
            throw new InvalidHyperparameterException("--steps must be ≥ 1, got " + steps);
        }
        if (!(lr > 0) || Double.isInfinite(lr)) {
            throw new InvalidHyperparameterException("--lr must be finite and > 0, got " + lr);
        }
        if (batchRows < 1 || rows < 2 || heldOutRows < 1) {
            throw new IllegalArgumentException("--batch-rows (" + batchRows + ") and --held-out-rows (" + heldOutRows
                    + ") must be ≥ 1, --rows (" + rows + ") ≥ 2");
        }
        if (blasThreads < 1) {
            throw new IllegalArgumentException("--blas-threads must be ≥ 1, got " + blasThreads);
        }
        if (synthetic != null && layers != null) {
            throw new IllegalArgumentException("--synthetic and --layers exclude each other");
        }
        pruning = Pruning.parse(prune);
        mode = ScaleMode.parse(scaleMode, null);
    }

    /** AdamW as the experiments train: the peak rate, 5% warm-up, cosine decay to 0 over the steps. */
    AdamWConfig optimizer() {
        return AdamWConfig.builder().learningRate(lr).schedule(LearningRateSchedule.warmupCosine(steps / 20, steps)).build();
    }

    /** The layers: --synthetic, --layers, or the experiment's defaults. */
    List<ExperimentLayers.Layer> layers(NoraContext context, List<String> defaults, PrintWriter err) {
        if (synthetic != null) {
            return List.of(ExperimentLayers.synthetic(synthetic, rows, heldOutRows));
        }
        List<String> names = new ArrayList<>();
        for (String l : layers != null ? layers : defaults) {
            if (!l.isBlank()) {
                names.add(l.trim());
            }
        }
        if (names.isEmpty()) {
            throw new IllegalArgumentException("--layers: no layer named");
        }
        return ExperimentLayers.load(context, names, rows, heldOutRows, err);
    }

    /** Runs {@code work} with the OpenBLAS thread count set (process-wide, so restored afterwards). */
    <T> T withBlasThreads(Supplier<T> work) {
        return BlasThreads.with(blasThreads, work);
    }

    /** Parses a comma-separated list of positive integers, naming the option in the error. */
    static int[] positiveInts(String text, String option) {
        try {
            int[] v = Arrays.stream(text.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
            for (int x : v) {
                if (x < 1) {
                    throw new NumberFormatException();
                }
            }
            if (v.length == 0) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + ": expected a comma-separated list of positive integers, got '"
                    + text + "'");
        }
    }
}
