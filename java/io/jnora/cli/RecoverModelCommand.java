package io.jnora.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jnora.NoraContext;
import io.jnora.adapter.AdapterLayer;
import io.jnora.adapter.NestedAdapterFile;
import io.jnora.aira.AllocationStrategy;
import io.jnora.init.NoraConfig;
import io.jnora.init.ScaleMode;
import io.jnora.io.SafetensorsWriter;
import io.jnora.model.BertEncoder;
import io.jnora.model.BertWeights;
import io.jnora.model.EmbeddedModel;
import io.jnora.text.Encoding;
import io.jnora.text.WordPieceTokenizer;
import io.jnora.train.InvalidHyperparameterException;
import io.jnora.train.LayerRecovery;
import io.jnora.train.ModelRecovery;
import io.jnora.train.ModelRecoveryReport;
import io.jnora.train.Pruning;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.bytedeco.openblas.presets.openblas_nolapack;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Layer-wise recovery of the whole embedded encoder (issue 10, {@link ModelRecovery}): every linear layer
 * of BAAI bge-small-en-v1.5 pruned and recovered from its own calibration rows, inner ranks uniform or by
 * AIRA under one budget, then the embedding cosine to the unpruned model on the held-out sentences
 * before and after. {@code --compare-allocations} runs uniform and AIRA on the same settings and prints
 * them side by side (docs/RESULTS.md, experiment 4).
 *
 * <p>{@code --out} writes the adapters (SPEC §5) and, beside them, the pruned weights they run on
 * ({@code OUT.base.safetensors}, one F32 tensor per layer under its module path), recorded in the
 * adapter file's metadata under {@code jnora_recover_model}.
 */
@Command(name = "recover-model", mixinStandardHelpOptions = true,
        description = {"Prune every linear layer of the embedded encoder (BAAI bge-small-en-v1.5), recover each from its"
                + " own calibration activations with a nested adapter (layer-wise recovery), and print the embedding"
                + " cosine to the unpruned model on held-out sentences before and after, with a per-layer table.",
            "Inner ranks are uniform or AIRA's under one budget; --compare-allocations runs both."})
final class RecoverModelCommand implements Callable<Integer> {
    static final String METADATA_KEY = "jnora_recover_model";

    @Option(names = "--prune", required = true, paramLabel = "magnitude:F|rank:R",
            description = "How every linear layer is degraded: magnitude:F zeroes the fraction F of its entries with the"
                    + " smallest |W_ij|; rank:R truncates its SVD to rank R.")
    String prune;

    @Option(names = "--rank", defaultValue = "64", description = "Outer rank r (at most min(m, n) per layer; default: ${DEFAULT-VALUE}).")
    int rank;

    @Option(names = "--inner-rank", defaultValue = "16",
            description = "Inner rank r_in of the uniform allocation, which sets the default budget (default: ${DEFAULT-VALUE}).")
    int innerRank;

    @Option(names = "--allocation", defaultValue = "aira", paramLabel = "uniform|aira",
            description = "Inner ranks: one for every layer, or AIRA's outlier-driven allocation (default: ${DEFAULT-VALUE}).")
    String allocation;

    @Option(names = "--compare-allocations", description = "Run uniform and AIRA on the same settings and compare them.")
    boolean compare;

    @Option(names = "--budget", paramLabel = "P", description = "Trainable parameters Σ 2·r·r_in over the 72 layers, e.g."
            + " 0.6M (default: the cost of a uniform --inner-rank).")
    String budget;

    @Option(names = "--steps", defaultValue = "" + ModelRecovery.DEFAULT_STEPS,
            description = "AdamW steps per layer (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--lr", defaultValue = "" + LayerRecovery.DEFAULT_LEARNING_RATE,
            description = "Peak learning rate, warm-up over 5%% of the steps then cosine decay (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--batch-rows", defaultValue = "" + ModelRecovery.DEFAULT_BATCH_ROWS,
            description = "Rows per step (default: ${DEFAULT-VALUE}).")
    int batchRows;

    @Option(names = "--sentences", defaultValue = "64",
            description = "Calibration sentences whose tokens are the training rows (of 314; default: ${DEFAULT-VALUE}).")
    int sentences;

    @Option(names = "--held-out-sentences", description = "Held-out sentences the cosine is measured on (default: all 78).")
    Integer heldOutSentences;

    @Option(names = "--calibration-rows", defaultValue = "" + ModelRecovery.DEFAULT_CALIBRATION_ROWS,
            description = "At most this many training rows per layer (default: ${DEFAULT-VALUE}).")
    int calibrationRows;

    @Option(names = "--held-out-rows", defaultValue = "" + ModelRecovery.DEFAULT_HELD_OUT_ROWS,
            description = "At most this many held-out rows per layer for its output error (default: ${DEFAULT-VALUE}).")
    int heldOutRows;

    @Option(names = "--scale-mode", defaultValue = "whiten", paramLabel = "none|mean-abs|rms|whiten",
            description = "Input scaling of the SVD of W − W_base; whiten puts the optimum in reach (default: ${DEFAULT-VALUE}).")
    String scaleMode;

    @Option(names = "--seed", defaultValue = "24301", description = "Seed of the SVD sketch and the minibatches (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--blas-threads", defaultValue = "1", description = "OpenBLAS threads for the run (default: ${DEFAULT-VALUE},"
            + " as demo: its busy-waiting threads lose to one thread on small shared machines).")
    int blasThreads;

    @Option(names = "--out", paramLabel = "F", description = "Write the recovered adapters here (with --allocation's"
            + " ranks; not with --compare-allocations) and the pruned weights to F.base.safetensors.")
    Path out;

    @Mixin
    BackendOption backendOption;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        // every setting is checked before the model is read
        Pruning pruning = Pruning.parse(prune);
        AllocationStrategy strategy = parseAllocation(allocation);
        NoraConfig adapter = NoraConfig.builder().outerRank(rank).innerRank(innerRank)
                .scaleMode(ScaleMode.parse(scaleMode, null)).seed(seed).build();
        Long parameters = budget == null ? null : RanksCommand.parseBudget(budget);
        if (steps < 1) {
            throw new InvalidHyperparameterException("--steps must be ≥ 1, got " + steps);
        }
        if (!(lr > 0) || !Double.isFinite(lr)) {
            throw new InvalidHyperparameterException("--lr must be finite and > 0, got " + lr);
        }
        if (batchRows < 1) {
            throw new InvalidHyperparameterException("--batch-rows must be ≥ 1, got " + batchRows);
        }
        if (sentences < 1) {
            throw new IllegalArgumentException("--sentences must be ≥ 1, got " + sentences);
        }
        if (heldOutSentences != null && heldOutSentences < 1) {
            throw new IllegalArgumentException("--held-out-sentences must be ≥ 1, got " + heldOutSentences);
        }
        if (calibrationRows < 1 || heldOutRows < 1) {
            throw new IllegalArgumentException((calibrationRows < 1 ? "--calibration-rows" : "--held-out-rows")
                    + " must be ≥ 1, got " + Math.min(calibrationRows, heldOutRows));
        }
        if (blasThreads < 1) {
            throw new IllegalArgumentException("--blas-threads must be ≥ 1, got " + blasThreads);
        }
        if (compare && out != null) {
            throw new IllegalArgumentException("--out writes one allocation's adapters; drop it or --compare-allocations");
        }
        BlasThreads.with(blasThreads, () -> run(pruning, strategy, adapter, parameters, stdout, err));
        stdout.flush();
        return 0;
    }

    private void run(Pruning pruning, AllocationStrategy strategy, NoraConfig adapter, Long parameters, PrintWriter stdout,
            PrintWriter err) {
        long start = System.nanoTime();
        err.println("recover-model: loading the embedded model " + EmbeddedModel.NAME + "...");
        BertWeights weights = EmbeddedModel.weights();
        WordPieceTokenizer tokenizer = EmbeddedModel.tokenizer();
        List<String> calibText = EmbeddedModel.calibrationSentences();
        List<String> heldText = EmbeddedModel.heldOutSentences();
        calibText = calibText.subList(0, Math.min(calibText.size(), sentences));
        if (heldOutSentences != null) {
            heldText = heldText.subList(0, Math.min(heldText.size(), heldOutSentences));
        }
        List<Encoding> calib = encode(tokenizer, calibText);
        List<Encoding> held = encode(tokenizer, heldText);
        List<AllocationStrategy> runs = compare ? List.of(AllocationStrategy.UNIFORM, AllocationStrategy.OUTLIER_DRIVEN)
                : List.of(strategy);

        try (NoraContext ctx = NoraContext.create(backendOption.backend); BertEncoder encoder = BertEncoder.create(ctx, weights)) {
            stdout.println("jnora recover-model: " + EmbeddedModel.NAME + ", every linear layer pruned " + pruning
                    + " and recovered from its own calibration activations");
            stdout.printf(Locale.ROOT, "backend: %s; OpenBLAS threads: %d%n", ctx.selection(), blasThreads);
            List<ModelRecoveryReport> reports = new ArrayList<>();
            for (AllocationStrategy s : runs) {
                err.println("recover-model: " + name(s) + " inner ranks...");
                ModelRecovery.Builder job = ModelRecovery.builder(encoder).pruning(pruning).adapter(adapter).allocation(s)
                        .calibration(calib).heldOut(held).calibrationRows(calibrationRows).heldOutRows(heldOutRows)
                        .steps(steps).learningRate(lr).batchRows(batchRows).seed(seed).progress(line -> {
                            err.println("recover-model: " + line);
                            err.flush();
                        });
                if (parameters != null) {
                    job.budget(parameters);
                }
                try (ModelRecovery recovery = job.build()) {
                    ModelRecoveryReport r = recovery.run();
                    reports.add(r);
                    if (out != null) {
                        write(recovery, r);
                    }
                }
            }
            ModelRecoveryReport first = reports.get(0);
            stdout.printf(Locale.ROOT, "adapters: outer rank r = %d (at most min(m, n)), %s scaling, inner ranks under a"
                    + " budget of %,d trainable parameters; %d AdamW steps per layer of %d rows, lr %s%n", rank,
                    adapter.scaleMode(), first.budget(), steps, batchRows, lr);
            var rows = first.layers().get(0).recovery();
            stdout.printf(Locale.ROOT, "rows: each layer's inputs in the unpruned model, %d from %d calibration sentences"
                    + " (at most %d per layer); held out: %d from %d sentences (at most %d per layer)%n", rows.trainRows(),
                    first.calibrationSentences(), calibrationRows, rows.testRows(), first.heldOutSentences(), heldOutRows);
            stdout.println();
            stdout.println("per layer: held-out output error ‖X_t (W_base + ΔW − W)ᵀ‖/‖X_t Wᵀ‖ before, after training, and"
                    + " at the closed-form optimum of its r_in");
            if (reports.size() == 1) {
                layerTable(first).print(stdout);
            } else {
                comparisonLayerTable(reports.get(0), reports.get(1)).print(stdout);
            }
            stdout.println();
            stdout.printf("embedding cosine to the unpruned model ([CLS]-pooled, normalised) on %d held-out sentences:%n",
                    first.heldOutSentences());
            Table summary = new Table("allocation", "trainable", "mean cos before", "min before", "mean cos after",
                    "min after", "mean layer error after", "seconds");
            for (ModelRecoveryReport r : reports) {
                summary.row(name(r.allocation()), String.format(Locale.ROOT, "%,d", r.trainableParameters()),
                        fixed(r.meanCosineBefore()), fixed(r.minCosineBefore()), fixed(r.meanCosineAfter()),
                        fixed(r.minCosineAfter()), fixed(r.meanErrorAfter()), String.format(Locale.ROOT, "%.1f", r.seconds()));
            }
            summary.print(stdout);
            if (out != null) {
                stdout.println("wrote " + out + " (adapters) and " + baseFile() + " (pruned weights, one tensor per layer)");
            }
            stdout.printf(Locale.ROOT, "wall time: %.1f s%n", (System.nanoTime() - start) / 1e9);
        }
    }

    private static Table layerTable(ModelRecoveryReport r) {
        Table t = new Table("layer", "shape", "outliers", "r", "r_in", "before", "after", "optimum", "after/optimum");
        for (ModelRecoveryReport.Layer l : r.layers()) {
            var e = l.recovery();
            t.row(l.name(), l.outFeatures() + "×" + l.inFeatures(), percent(l.outlierRatio()), l.outerRank(), l.innerRank(),
                    fixed(e.errorBefore()), fixed(e.errorAfter()), fixed(e.errorOptimum()), fixed(e.afterOverOptimum()));
        }
        t.row("mean", "", "", "", "", fixed(r.meanErrorBefore()), fixed(r.meanErrorAfter()), fixed(r.meanErrorOptimum()), "");
        return t;
    }

    private static Table comparisonLayerTable(ModelRecoveryReport uniform, ModelRecoveryReport aira) {
        Table t = new Table("layer", "shape", "outliers", "before", "r_in uniform", "after", "optimum", "r_in aira", "after",
                "optimum");
        for (int i = 0; i < uniform.layers().size(); i++) {
            ModelRecoveryReport.Layer u = uniform.layers().get(i);
            ModelRecoveryReport.Layer a = aira.layers().get(i);
            t.row(u.name(), u.outFeatures() + "×" + u.inFeatures(), percent(u.outlierRatio()), fixed(u.recovery().errorBefore()),
                    u.innerRank(), fixed(u.recovery().errorAfter()), fixed(u.recovery().errorOptimum()), a.innerRank(),
                    fixed(a.recovery().errorAfter()), fixed(a.recovery().errorOptimum()));
        }
        t.row("mean", "", "", fixed(uniform.meanErrorBefore()), "", fixed(uniform.meanErrorAfter()),
                fixed(uniform.meanErrorOptimum()), "", fixed(aira.meanErrorAfter()), fixed(aira.meanErrorOptimum()));
        return t;
    }

    private void write(ModelRecovery recovery, ModelRecoveryReport r) {
        ObjectNode record = new ObjectMapper().createObjectNode();
        record.put("base_file", baseFile().toString());
        record.put("pruning", r.pruning());
        record.put("allocation", name(r.allocation()));
        record.put("budget", r.budget());
        record.put("steps", r.steps());
        record.put("mean_cosine_before", r.meanCosineBefore());
        record.put("mean_cosine_after", r.meanCosineAfter());
        String text = record.toString();
        SafetensorsWriter bases = new SafetensorsWriter();
        for (AdapterLayer a : recovery.adapterLayers()) {
            bases.add(a.name(), recovery.prunedWeights().get(a.name()), a.outFeatures(), a.inFeatures());
        }
        bases.metadata(METADATA_KEY, text).write(baseFile());
        NestedAdapterFile.write(out, recovery.adapterLayers(), Map.of(METADATA_KEY, text));
    }

    private Path baseFile() {
        String name = out.getFileName().toString();
        String stem = name.endsWith(".safetensors") ? name.substring(0, name.length() - ".safetensors".length()) : name;
        return out.resolveSibling(stem + ".base.safetensors");
    }

    private static AllocationStrategy parseAllocation(String value) {
        return switch (value.trim().toLowerCase(Locale.ROOT)) {
            case "uniform" -> AllocationStrategy.UNIFORM;
            case "aira" -> AllocationStrategy.OUTLIER_DRIVEN;
            default -> throw new IllegalArgumentException("--allocation: expected uniform or aira, got '" + value + "'");
        };
    }

    private static String name(AllocationStrategy s) {
        return s == AllocationStrategy.OUTLIER_DRIVEN ? "aira" : s.label();
    }

    private static List<Encoding> encode(WordPieceTokenizer tokenizer, List<String> texts) {
        List<Encoding> encoded = new ArrayList<>(texts.size());
        for (String s : texts) {
            encoded.add(tokenizer.encode(s));
        }
        return encoded;
    }

    private static String percent(double v) {
        return String.format(Locale.ROOT, "%.2f%%", 100 * v);
    }

    private static String fixed(double v) {
        return String.format(Locale.ROOT, "%.4f", v);
    }
}
