package io.jnora.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jnora.NoraContext;
import io.jnora.Precision;
import io.jnora.ShapeMismatchException;
import io.jnora.adapter.AdapterLayer;
import io.jnora.adapter.NestedAdapterFile;
import io.jnora.init.InnerInit;
import io.jnora.init.NoraConfig;
import io.jnora.init.ScaleMode;
import io.jnora.io.SafetensorsWriter;
import io.jnora.train.AdamWConfig;
import io.jnora.train.InvalidHyperparameterException;
import io.jnora.train.LayerRecovery;
import io.jnora.train.LearningRateSchedule;
import io.jnora.train.Pruning;
import io.jnora.train.RecoveryReport;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Layer-wise recovery (SPEC §2.10, §6 {@code recover}): prune a weight, train a nested adapter on the
 * pruned base to reproduce the original outputs, and report the held-out output error before, after
 * and at the closed-form optimum.
 *
 * <p>Files: {@code --out} is the adapter (SPEC §5). Its base is the pruned weight, which an adapter
 * file cannot hold (its layers have no base tensor), so it is written beside it, to
 * {@code --base-out} (default {@code OUT.base.safetensors}, tensor {@code weight}, F32), and the adapter's
 * {@code __metadata__} records under {@code jnora_recover} which file and tensor that is, how it was
 * pruned, and from which weight. The optimiser state goes to {@code --state-out} (default
 * {@code OUT.optimizer.safetensors}). Nothing is written unless training finished with finite values.
 */
@Command(name = "recover", mixinStandardHelpOptions = true,
        description = "Layer-wise recovery: prune W, train a nested adapter on the pruned base with AdamW, and print the "
                + "held-out output error before, after and at the closed-form optimum.")
final class RecoverCommand implements Callable<Integer> {
    static final String METADATA_KEY = "jnora_recover";

    @Option(names = "--weight", required = true, paramLabel = "FILE#TENSOR", description = "The original weight W (m×n).")
    String weight;

    @Option(names = "--calib", required = true, paramLabel = "FILE#TENSOR",
            description = "Calibration rows (N×n; leading dimensions are flattened into rows).")
    String calib;

    @Option(names = "--test", paramLabel = "FILE#TENSOR",
            description = "Held-out rows (default: the last 10%% of the calibration rows, not trained on).")
    String test;

    @Option(names = "--prune", required = true, paramLabel = "magnitude:F|rank:R",
            description = "magnitude:F zeroes the fraction F ∈ [0, 1) of entries with the smallest |W_ij|; rank:R "
                    + "truncates W's SVD to rank R.")
    String prune;

    @Option(names = "--steps", defaultValue = "" + LayerRecovery.DEFAULT_STEPS,
            description = "AdamW steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--lr", defaultValue = "" + LayerRecovery.DEFAULT_LEARNING_RATE,
            description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--warmup", description = "Warm-up steps before the cosine decay (default: steps/20).")
    Integer warmup;

    @Option(names = "--weight-decay", defaultValue = "" + AdamWConfig.DEFAULT_WEIGHT_DECAY,
            description = "Decoupled weight decay (default: ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--max-grad-norm", defaultValue = "0",
            description = "Clip the gradient norm to this bound; 0 is off (default: ${DEFAULT-VALUE}).")
    double maxGradNorm;

    @Option(names = "--batch-rows", defaultValue = "" + LayerRecovery.DEFAULT_BATCH_ROWS,
            description = "Calibration rows per step (default: ${DEFAULT-VALUE}).")
    int batchRows;

    @Option(names = "--dropout", defaultValue = "0", description = "Dropout on the adapter input (default: ${DEFAULT-VALUE}).")
    double dropout;

    @Option(names = "--precision", defaultValue = "float32", paramLabel = "float32|bfloat16|float16",
            description = "Precision of the trained layer's base, outer factors and rows; the inner factors and the"
                    + " optimiser stay float32 (default: ${DEFAULT-VALUE}).")
    String precision;

    @Option(names = "--progress-every", defaultValue = "50", description = "Progress line every N steps (default: ${DEFAULT-VALUE}).")
    int progressEvery;

    @Option(names = "--init", defaultValue = "zero", paramLabel = "zero|random-outer",
            description = "Inner init; recovery starts at W_base, so not sigma (default: ${DEFAULT-VALUE}).")
    String init;

    @Option(names = "--layer", defaultValue = "layer", description = "The layer's name in the files (default: ${DEFAULT-VALUE}).")
    String layer;

    @Option(names = "--seed", defaultValue = "24301", description = "Seed of the SVD sketch, the init, the minibatches and dropout.")
    long seed;

    @Option(names = "--out", required = true, description = "The adapter file to write.")
    Path out;

    @Option(names = "--base-out", description = "Where the pruned weight goes (default: OUT.base.safetensors).")
    Path baseOut;

    @Option(names = "--state-out", description = "Where the optimiser state goes (default: OUT.optimizer.safetensors).")
    Path stateOut;

    @Mixin
    AdapterOptions adapterOptions = new AdapterOptions("whiten");

    @Mixin
    BackendOption backendOption;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        // Every setting is validated before the (possibly large) tensors are read.
        Pruning pruning = Pruning.parse(prune);
        if (steps < 1) {
            throw new InvalidHyperparameterException("--steps must be ≥ 1, got " + steps);
        }
        int warmupSteps = warmup == null ? steps / 20 : warmup;
        AdamWConfig optimizer = AdamWConfig.builder().learningRate(lr).weightDecay(weightDecay).maxGradNorm(maxGradNorm)
                .schedule(LearningRateSchedule.warmupCosine(warmupSteps, steps)).build();
        NoraConfig adapter = adapterOptions.config(init, seed);
        ScaleMode mode = adapter.scaleMode();
        if (adapter.init() == InnerInit.SIGMA) {
            throw new IllegalArgumentException("--init sigma does not apply: recovery starts from W_base with B' = 0 "
                    + "(use zero or random-outer)");
        }
        if (progressEvery < 1) {
            throw new IllegalArgumentException("--progress-every must be ≥ 1, got " + progressEvery);
        }
        Path base = baseOut != null ? baseOut : sibling(out, ".base.safetensors");
        Path state = stateOut != null ? stateOut : sibling(out, ".optimizer.safetensors");

        TensorInputs.Weight w = TensorInputs.weight("recover", "--weight", weight);
        int m = w.m();
        int n = w.n();
        if (adapter.outerRank() > Math.min(m, n)) {
            throw new io.jnora.InvalidRankException("--rank " + adapter.outerRank() + " exceeds min(m, n) = " + Math.min(m, n)
                    + " of the weight " + weight + " (" + m + "×" + n + ")");
        }
        if (pruning.kind() == Pruning.Kind.RANK && pruning.rank() > Math.min(m, n)) {
            throw new io.jnora.InvalidRankException("--prune " + prune + " keeps rank " + pruning.rank()
                    + ", above min(m, n) = " + Math.min(m, n) + " of the weight " + weight + " (" + m + "×" + n + ")");
        }
        String widthReason = "the weight " + m + "×" + n + " takes " + n + " inputs";
        TensorInputs.Rows calibIn = TensorInputs.rows("recover", "--calib", calib, n, widthReason);
        if (calibIn.rows() == 0) {
            throw new ShapeMismatchException("calibration " + calib + " holds no rows");
        }
        TensorInputs.Rows testIn = test == null ? null : TensorInputs.rows("recover", "--test", test, n, widthReason);
        if (testIn != null && testIn.rows() == 0) {
            throw new ShapeMismatchException("held-out rows " + test + " hold no rows");
        }

        try (NoraContext ctx = NoraContext.create(backendOption.backend)) {
            err.println("recover: backend " + ctx.selection());
            err.printf("recover: pruning %s, %s SVD of W − W_base (%d×%d) at r = %d (%s scaling)...%n", pruning,
                    adapter.svd().resolve(m, n, adapter.outerRank()).name().toLowerCase(Locale.ROOT), m, n, adapter.outerRank(), mode);
            err.flush();
            LayerRecovery.Builder job = LayerRecovery.builder(ctx).weight(w.values(), m, n).pruning(pruning)
                    .calibration(calibIn.values(), calibIn.rows()).adapter(adapter).optimizer(optimizer)
                    .batchRows(batchRows).dropout(dropout).seed(seed).layerName(layer)
                    .precision(OptionValues.parseEnum(Precision.class, precision, "--precision"))
                    .progress(progressEvery, r -> {
                        err.printf("recover: step %d/%d  loss %.4e  ‖g‖ %.3e%s  lr %.3e%n", r.step(), steps, r.loss(),
                                r.gradientNorm(), r.clipped() ? " (clipped)" : "", r.learningRate());
                        err.flush();
                    });
            if (testIn != null) {
                job.heldOut(testIn.values(), testIn.rows());
            }
            try (LayerRecovery recovery = job.build()) {
                RecoveryReport report = recovery.run();
                print(stdout, report, recovery, m, n, pruning, optimizer, base, state);
                write(recovery, report, pruning, base, state);
            }
        }
        stdout.flush();
        return 0;
    }

    private void print(PrintWriter out, RecoveryReport r, LayerRecovery recovery, int m, int n, Pruning pruning,
            AdamWConfig optimizer, Path base, Path state) {
        AdapterLayer a = recovery.adapterLayer(layer);
        String pruned = pruning.kind() == Pruning.Kind.MAGNITUDE
                ? pruning.prunedEntries(m, n) + " of " + (long) m * n + " entries zeroed"
                : "truncated to rank " + pruning.rank();
        out.printf("layer %s: W %d×%d, pruned %s (%s); adapter r = %d, r_in = %d (%d trainable), s = %s, %s scaling%n",
                layer, m, n, pruning, pruned, a.outerRank(), a.innerRank(), 2L * a.outerRank() * a.innerRank(), a.scale(),
                a.scaleMode());
        out.printf("training: %d AdamW steps of %d rows from %d calibration rows in %.2f s (lr %s, %s), final loss %.4e"
                + "%s%n", r.steps(), Math.min(batchRows, r.trainRows()), r.trainRows(), r.seconds(),
                optimizer.learningRate(), optimizer.schedule(), r.finalLoss(),
                "float32".equalsIgnoreCase(precision.trim()) ? "" : ", layer in " + precision.trim().toLowerCase(Locale.ROOT));
        out.printf("held-out output error ‖X_t (W_base + ΔW − W)ᵀ‖_F / ‖X_t Wᵀ‖_F on %d rows (%s):%n", r.testRows(),
                r.heldOutGiven() ? "--test" : "the last 10% of --calib");
        out.printf("  before   %.6g%n", r.errorBefore());
        out.printf("  after    %.6g%n", r.errorAfter());
        out.printf("  optimum  %.6g  (closed form: WHITEN truncation of W − W_base at r_in = %d, λ = %s)%n",
                r.errorOptimum(), a.innerRank(), LayerRecovery.OPTIMUM_RIDGE);
        out.printf("after / optimum = %.4f%n", r.afterOverOptimum());
        out.println("wrote " + this.out + " (adapter), " + base + " (pruned base, tensor weight), " + state
                + " (optimizer state)");
    }

    private void write(LayerRecovery recovery, RecoveryReport report, Pruning pruning, Path base, Path state) {
        ObjectMapper json = new ObjectMapper();
        ObjectNode record = json.createObjectNode();
        record.put("base_file", base.toString());
        record.put("base_tensor", "weight");
        record.put("pruning", pruning.toString());
        record.put("weight", weight);
        record.put("optimizer_state", state.toString());
        record.put("steps", report.steps());
        record.put("precision", precision.trim().toLowerCase(Locale.ROOT));
        record.put("error_before", report.errorBefore());
        record.put("error_after", report.errorAfter());
        record.put("error_optimum", report.errorOptimum());
        String text = record.toString();
        float[] prunedWeight = recovery.prunedWeight();
        AdapterLayer adapter = recovery.adapterLayer(layer);
        recovery.trainer().saveState(state);
        new SafetensorsWriter().add("weight", prunedWeight, adapter.outFeatures(), adapter.inFeatures())
                .metadata(METADATA_KEY, text).write(base);
        NestedAdapterFile.write(out, List.of(adapter), Map.of(METADATA_KEY, text));
    }

    /** "dir/name.safetensors" → "dir/name" + suffix. */
    private static Path sibling(Path file, String suffix) {
        String name = file.getFileName().toString();
        String stem = name.endsWith(".safetensors") ? name.substring(0, name.length() - ".safetensors".length()) : name;
        return file.resolveSibling(stem + suffix);
    }

}
