package io.jnora.cli;

import io.jnora.Backend;
import io.jnora.NoraContext;
import io.jnora.adapter.AdapterSet;
import io.jnora.adapter.LayerReport;
import io.jnora.aira.OutlierRatio;
import io.jnora.init.InnerInit;
import io.jnora.init.NoraConfig;
import io.jnora.init.ScaleMode;
import io.jnora.model.BertConfig;
import io.jnora.model.BertEncoder;
import io.jnora.model.BertWeights;
import io.jnora.model.Calibration;
import io.jnora.model.EmbeddedModel;
import io.jnora.stats.LayerStatistics;
import io.jnora.text.Encoding;
import io.jnora.text.WordPieceTokenizer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.bytedeco.openblas.presets.openblas_nolapack;
import picocli.CommandLine.Option;

/**
 * {@code jnora demo} on the embedded default (issue 8): BAAI bge-small-en-v1.5 read from its ONNX file,
 * calibrated on the shipped text, every linear layer given a nested adapter (AIRA inner ranks under a
 * budget, AwSVD init on the chosen backend), then a table per layer (shape, outlier ratio, ranks,
 * held-out output error of the rank-r truncation under plain SVD, mean-abs and whiten scaling) and
 * totals (trainable parameters against LoRA, init time, forward time with and without adapters, and
 * the check that the outputs at init are the base model's).
 */
final class ModelDemo {
    private static final int BATCH = 32;
    private static final int FORWARD_REPEATS = 5;
    private static final List<ScaleMode> COMPARED = List.of(ScaleMode.none(), ScaleMode.meanAbs(), ScaleMode.whiten());

    /** The model demo's options (the outer and inner rank are --rank and --inner-rank). */
    static final class Options {
        @Option(names = "--budget", description = "Trainable parameters Σ 2·r·r_in for all layers (default: layers × 2"
                + " × rank × inner-rank, the cost of a uniform inner rank; AIRA redistributes it by outlier ratio).")
        Long budget;

        @Option(names = "--scale-mode", defaultValue = "mean-abs", paramLabel = "none|mean-abs|rms|whiten",
                description = "Scaling of the adapters' activation-aware SVD (default: ${DEFAULT-VALUE}).")
        String scaleMode;

        @Option(names = "--init", defaultValue = "zero", paramLabel = "zero|sigma",
                description = "Inner init of the adapters (default: ${DEFAULT-VALUE}).")
        String init;

        @Option(names = "--held-out-rows", defaultValue = "128",
                description = "Held-out input rows per layer for the output error (default: ${DEFAULT-VALUE}).")
        int heldOutRows;

        @Option(names = "--sentences", description = "Use only the first N calibration sentences (and N/4 held-out).")
        Integer sentences;

        @Option(names = "--peft-out", paramLabel = "DIR", description = "Also export the adapters as a PEFT LoRA adapter.")
        Path peftOut;

        @Option(names = "--blas-threads", defaultValue = "1", description = "OpenBLAS threads for the run (default:"
                + " ${DEFAULT-VALUE}: its busy-waiting threads lose to one thread on small shared machines, 5× under load here).")
        int blasThreads;
    }

    private ModelDemo() {}

    static void run(Backend backend, LayerShapeOptions shape, Options o, PrintWriter out, PrintWriter err) {
        if (o.blasThreads < 1) {
            throw new IllegalArgumentException("--blas-threads must be at least 1, got " + o.blasThreads);
        }
        BlasThreads.with(o.blasThreads, () -> runModel(backend, shape, o, out, err));
    }

    private static void runModel(Backend backend, LayerShapeOptions shape, Options o, PrintWriter out, PrintWriter err) {
        long start = System.nanoTime();
        InnerInit init = switch (o.init.trim().toLowerCase(Locale.ROOT)) {
            case "zero" -> InnerInit.ZERO;
            case "sigma" -> InnerInit.SIGMA;
            default -> throw new IllegalArgumentException("--init: expected zero or sigma, got '" + o.init + "'");
        };
        ScaleMode mode = ScaleMode.parse(o.scaleMode, null);
        if (o.heldOutRows < 1) {
            throw new IllegalArgumentException("--held-out-rows must be at least 1, got " + o.heldOutRows);
        }
        // validates the ranks before the model is loaded
        NoraConfig config = NoraConfig.builder().outerRank(shape.rank).innerRank(shape.innerRank).scaleMode(mode)
                .init(init).build();

        err.println("loading the embedded model " + EmbeddedModel.NAME + "...");
        long t = System.nanoTime();
        BertWeights weights = EmbeddedModel.weights();
        WordPieceTokenizer tokenizer = EmbeddedModel.tokenizer();
        double loadSeconds = seconds(t);
        BertConfig bert = weights.config();
        List<String> calibText = EmbeddedModel.calibrationSentences();
        List<String> heldText = EmbeddedModel.heldOutSentences();
        if (o.sentences != null) {
            if (o.sentences < 4) {
                throw new IllegalArgumentException("--sentences must be at least 4, got " + o.sentences);
            }
            calibText = calibText.subList(0, Math.min(calibText.size(), o.sentences));
            heldText = heldText.subList(0, Math.min(heldText.size(), Math.max(1, o.sentences / 4)));
        }
        List<Encoding> calib = encode(tokenizer, calibText);
        List<Encoding> held = encode(tokenizer, heldText);
        List<BertWeights.Linear> linears = weights.linearLayers();
        long budget = o.budget != null ? o.budget : (long) linears.size() * 2 * shape.rank * shape.innerRank;

        try (NoraContext ctx = NoraContext.create(backend); BertEncoder encoder = BertEncoder.create(ctx, weights)) {
            out.println("jnora demo: " + EmbeddedModel.NAME + ", every linear layer with a nested adapter");
            out.println("backend: " + ctx.selection() + "; OpenBLAS threads: " + o.blasThreads);
            out.printf(Locale.ROOT, "model: %s; %d linear layers (%s of %s parameters); read from its ONNX file in %.1f s%n",
                    bert, linears.size(), count(linearParameters(linears)), count(totalParameters(weights)), loadSeconds);

            err.println("calibration: statistics of every linear layer's inputs over " + calib.size() + " sentences...");
            t = System.nanoTime();
            LayerStatistics stats = Calibration.statistics(encoder, calib, true, BATCH, err::println);
            double calibSeconds = seconds(t);
            var heldRows = Calibration.rows(encoder, held, o.heldOutRows, BATCH);
            out.printf(Locale.ROOT, "calibration: %d sentences, %d tokens (%.1f s, covariance included); held out: %d"
                    + " sentences, %d tokens, up to %d input rows per layer%n", calib.size(), tokens(calib), calibSeconds,
                    held.size(), tokens(held), o.heldOutRows);

            err.println("allocating inner ranks (AIRA, outlier-driven) and initialising " + linears.size() + " adapters...");
            AdapterSet.Builder builder = AdapterSet.builder(ctx).statistics(stats).config(config).budget(budget)
                    .innerRankRange(1, shape.rank);
            for (BertWeights.Linear l : linears) {
                builder.layer(l.name(), l.weight(), l.outFeatures(), l.inFeatures());
            }
            t = System.nanoTime();
            try (AdapterSet set = builder.build()) {
                double initSeconds = seconds(t);

                err.println("held-out output error of each layer's rank-r truncation (svd, mean-abs, whiten)...");
                t = System.nanoTime();
                List<LayerReport> reports = new ArrayList<>();
                for (BertWeights.Linear l : linears) {
                    Calibration.Rows rows = heldRows.get(l.name());
                    reports.add(LayerReport.of(ctx, set, l.name(), l.weight(), stats.get(l.name()), rows.values(),
                            rows.count(), config, COMPARED, OutlierRatio.DEFAULT_THRESHOLD));
                }

                double reportSeconds = seconds(t);
                err.println("forward passes with and without the adapters...");
                encoder.useBaseWeights();
                float[] baseOut = encoder.forward(held);
                encoder.useAdapters(set::linear);
                float[] adaptedOut = encoder.forward(held);
                List<Encoding> timed = held.subList(0, Math.min(held.size(), BATCH));
                double[] ms = forwardMillis(encoder, set, timed);
                double baseMs = ms[0];
                double adaptedMs = ms[1];
                encoder.useBaseWeights();
                float[][] baseEmb = BertEncoder.clsPooledNormalized(baseOut, held, bert.hidden());
                float[][] adaptedEmb = BertEncoder.clsPooledNormalized(adaptedOut, held, bert.hidden());

                out.println();
                out.printf(Locale.ROOT, "per layer: outer rank r = %d, inner ranks r_in by AIRA (outlier-driven, τ = %.0f)"
                        + " under a budget of %s trainable parameters; adapters %s-scaled, init %s;%n", shape.rank,
                        OutlierRatio.DEFAULT_THRESHOLD, count(budget), mode, init.metadataName());
                out.println("held-out output error ‖X (W − W_r)ᵀ‖/‖X Wᵀ‖ of the rank-r truncation under each scaling"
                        + " (svd: plain SVD, PiSSA's; whiten: optimal for the calibration rows):");
                printTable(out, reports);

                out.println();
                out.println("totals:");
                long nora = reports.stream().mapToLong(LayerReport::trainableParameters).sum();
                long lora = reports.stream().mapToLong(LayerReport::loraParameters).sum();
                long loraOuter = reports.stream().mapToLong(LayerReport::loraParametersAtOuterRank).sum();
                out.printf(Locale.ROOT, "  trainable parameters: %s nested (Σ 2·r·r_in; budget %s) vs %s for a LoRA of the"
                        + " same ranks r_in (Σ r_in·(m+n), %.1f×) and %s for a LoRA of rank r = %d%n", count(nora),
                        count(budget), count(lora), (double) lora / nora, count(loraOuter), shape.rank);
                double[] mean = new double[COMPARED.size()];
                for (LayerReport r : reports) {
                    for (int i = 0; i < COMPARED.size(); i++) {
                        mean[i] += r.error(COMPARED.get(i).kind()) / reports.size();
                    }
                }
                out.printf(Locale.ROOT, "  held-out output error, mean over layers: svd %.4f, mean-abs %.4f (%+.1f%%),"
                        + " whiten %.4f (%+.1f%%)%n", mean[0], mean[1], 100 * (mean[1] / mean[0] - 1), mean[2],
                        100 * (mean[2] / mean[0] - 1));
                out.printf(Locale.ROOT, "  init: %.2f s for AIRA and %d activation-aware SVDs on %s (the table's %d"
                        + " truncations and their errors: %.1f s)%n", initSeconds, linears.size(),
                        ctx.selection().chosen().name().toLowerCase(Locale.ROOT), COMPARED.size() * linears.size(),
                        reportSeconds);
                out.printf(Locale.ROOT, "  forward of %d held-out sentences (%d tokens): %.1f ms with the adapters,"
                        + " %.1f ms without (%.2f×; median of %d, interleaved)%n", timed.size(), tokens(timed), adaptedMs,
                        baseMs, adaptedMs / baseMs, FORWARD_REPEATS);
                double hiddenDiff = maxAbsDiff(baseOut, adaptedOut);
                double embDiff = 0;
                for (int b = 0; b < held.size(); b++) {
                    embDiff = Math.max(embDiff, maxAbsDiff(baseEmb[b], adaptedEmb[b]));
                }
                out.printf(Locale.ROOT, "  outputs at init (%s): max |Δ| %s in the last hidden state, %s in the"
                        + " normalised [CLS] embeddings, against the model without adapters%s%n", init.metadataName(),
                        scientific(hiddenDiff), scientific(embDiff), init == InnerInit.ZERO ? (hiddenDiff == 0 ? " (identical, as ZERO promises)"
                                : " (ZERO should be identical!)") : " (SIGMA: float rounding)");
                if (o.peftOut != null) {
                    set.exportPeft(o.peftOut);
                    out.println("  exported as a PEFT LoRA adapter to " + o.peftOut + " (module paths as in transformers'"
                            + " BertModel)");
                }
                out.printf(Locale.ROOT, "  wall time: %.1f s%n", seconds(start));
            }
        }
    }

    private static void printTable(PrintWriter out, List<LayerReport> reports) {
        Table table = new Table("layer", "shape", "outliers", "r", "r_in", "trainable", "svd", "mean-abs", "whiten",
                "whiten/svd");
        for (LayerReport r : reports) {
            double none = r.error(ScaleMode.Kind.NONE);
            double whiten = r.error(ScaleMode.Kind.WHITEN);
            table.row(r.name(), r.outFeatures() + "×" + r.inFeatures(),
                    String.format(Locale.ROOT, "%.2f%%", 100 * r.outlierRatio()), r.outerRank(), r.innerRank(),
                    r.trainableParameters(), fixed(none), fixed(r.error(ScaleMode.Kind.MEAN_ABS)), fixed(whiten),
                    fixed(whiten / none));
        }
        table.print(out);
    }

    private static String fixed(double v) {
        return String.format(Locale.ROOT, "%.4f", v);
    }

    /** Median forward milliseconds {without, with} the adapters, runs interleaved so that drift hits both alike. */
    private static double[] forwardMillis(BertEncoder encoder, AdapterSet set, List<Encoding> batch) {
        Timing base = new Timing(FORWARD_REPEATS);
        Timing adapted = new Timing(FORWARD_REPEATS);
        for (int i = 0; i < FORWARD_REPEATS; i++) {
            encoder.useBaseWeights();
            base.time(() -> {
                encoder.forward(batch);
                encoder.context().synchronize();
            });
            encoder.useAdapters(set::linear);
            adapted.time(() -> {
                encoder.forward(batch);
                encoder.context().synchronize();
            });
        }
        return new double[] {base.median(), adapted.median()};
    }

    private static String scientific(double v) {
        return v == 0 ? "0" : String.format(Locale.ROOT, "%.2e", v);
    }

    private static List<Encoding> encode(WordPieceTokenizer tokenizer, List<String> texts) {
        List<Encoding> out = new ArrayList<>(texts.size());
        for (String s : texts) {
            out.add(tokenizer.encode(s));
        }
        return out;
    }

    private static long tokens(List<Encoding> batch) {
        return batch.stream().mapToLong(Encoding::length).sum();
    }

    private static long linearParameters(List<BertWeights.Linear> linears) {
        return linears.stream().mapToLong(l -> (long) l.outFeatures() * l.inFeatures() + l.outFeatures()).sum();
    }

    private static long totalParameters(BertWeights w) {
        BertConfig c = w.config();
        long embeddings = (long) (c.vocabularySize() + c.maxPositions() + c.tokenTypes()) * c.hidden() + 2L * c.hidden();
        return embeddings + linearParameters(w.linearLayers()) + c.layers() * 4L * c.hidden();
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs((double) a[i] - b[i]));
        }
        return max;
    }

    private static String count(long n) {
        return String.format(Locale.ROOT, "%,d", n);
    }

    private static double seconds(long since) {
        return (System.nanoTime() - since) / 1e9;
    }
}
