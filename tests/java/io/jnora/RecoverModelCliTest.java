package io.jnora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.adapter.AdapterLayer;
import io.jnora.adapter.NestedAdapterFile;
import io.jnora.io.SafetensorsFile;
import io.jnora.model.TestModel;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jnora recover-model} (issue 10): a scaled-down run on the embedded model, and bad input refused with exit 2. */
class RecoverModelCliTest {
    @TempDir
    Path dir;

    /**
     * Eight sentences, r = 8, r_in = 2, 40 steps: every layer in the table, the summary, both files. Small as it is,
     * the recovered model is closer to the unpruned one than the pruned model (about 0.83 → 0.84 here).
     */
    @Test
    void aSmallRunPrintsEveryLayerTheCosinesAndWritesTheAdapters() throws Exception {
        TestModel.assumeModel();
        Path out = dir.resolve("recovered.safetensors");
        CliRun r = CliRun.of("recover-model", "--backend", "cpu", "--prune", "magnitude:0.5", "--rank", "8", "--inner-rank",
                "2", "--allocation", "uniform", "--steps", "40", "--sentences", "8", "--held-out-sentences", "8",
                "--calibration-rows", "256", "--held-out-rows", "64", "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        String text = r.out();
        assertEquals(72, text.lines().filter(l -> l.startsWith("encoder.layer.")).count(), text);
        Matcher m = Pattern.compile("(?m)^uniform\\s+(\\S+)\\s+(\\S+)\\s+(\\S+)\\s+(\\S+)\\s+(\\S+)").matcher(text);
        assertTrue(m.find(), text);
        assertEquals("2,304", m.group(1), "72 layers × 2 · 8 · 2");
        double before = Double.parseDouble(m.group(2));
        double after = Double.parseDouble(m.group(4));
        assertTrue(before < 0.95 && after > before, before + " -> " + after);
        assertTrue(r.err().contains("layer 72/72 encoder.layer.11.output.dense"), "progress per layer: " + r.err());

        Map<String, AdapterLayer> adapters = NestedAdapterFile.read(out);
        assertEquals(72, adapters.size());
        AdapterLayer q = adapters.get("encoder.layer.0.attention.self.query");
        assertEquals(8, q.outerRank());
        assertEquals(2, q.innerRank());
        try (SafetensorsFile bases = SafetensorsFile.open(dir.resolve("recovered.base.safetensors"))) {
            assertEquals(72, bases.tensors().size());
            float[] w = bases.readFloats("encoder.layer.0.attention.self.query");
            long zeros = 0;
            for (float v : w) {
                zeros += v == 0 ? 1 : 0;
            }
            assertEquals(384 * 384 / 2, zeros, "magnitude:0.5 zeroes half of the entries");
        }
    }

    @Test
    void badOptionsAreRefusedWithStatusTwoAndOneLineNamingThem() {
        String[][] cases = {
            {"--allocation", "outlier-ish", "--allocation"},
            {"--steps", "0", "--steps"},
            {"--lr", "-1", "--lr"},
            {"--sentences", "0", "--sentences"},
            {"--calibration-rows", "0", "--calibration-rows"},
            {"--held-out-rows", "0", "--held-out-rows"},
            {"--budget", "lots", "--budget"},
            {"--inner-rank", "65", "inner rank"},
            {"--scale-mode", "cubic", "cubic"},
            {"--blas-threads", "0", "--blas-threads"},
        };
        for (String[] c : cases) {
            CliRun r = CliRun.of("recover-model", "--backend", "cpu", "--prune", "magnitude:0.5", c[0], c[1]);
            assertEquals(2, r.status(), c[0] + " " + c[1] + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().startsWith("jnora recover-model: ") && r.err().contains(c[2]), r.err());
        }
        CliRun prune = CliRun.of("recover-model", "--backend", "cpu", "--prune", "magnitude:1.5");
        assertEquals(2, prune.status(), prune.err());
        assertTrue(prune.err().contains("magnitude") && prune.err().strip().lines().count() == 1, prune.err());
        CliRun missing = CliRun.of("recover-model", "--backend", "cpu");
        assertEquals(2, missing.status(), missing.err());
        assertTrue(missing.err().contains("--prune"), missing.err());
        CliRun both = CliRun.of("recover-model", "--prune", "rank:8", "--compare-allocations", "--out", "x.safetensors");
        assertEquals(2, both.status(), both.err());
        assertTrue(both.err().contains("--out"), both.err());
    }

    /** Refusals that need the model's shapes: a budget below r_in = 1 everywhere, a rank above a layer's. */
    @Test
    void settingsTheModelCannotTakeAreRefusedBeforeAnyTraining() {
        TestModel.assumeModel();
        CliRun budget = CliRun.of("recover-model", "--backend", "cpu", "--prune", "magnitude:0.5", "--budget", "1000");
        assertEquals(2, budget.status(), budget.err());
        assertTrue(errorLine(budget).contains("9216"), budget.err());
        assertTrue(!budget.err().contains("layer 1/72"), "refused before the first layer: " + budget.err());
        CliRun rank = CliRun.of("recover-model", "--backend", "cpu", "--prune", "rank:400");
        assertEquals(2, rank.status(), rank.err());
        assertTrue(errorLine(rank).contains("rank:400") && errorLine(rank).contains("384"), rank.err());
    }

    /** The one error line, after the progress lines of loading the model. */
    private static String errorLine(CliRun r) {
        var lines = r.err().strip().lines().filter(l -> l.startsWith("jnora recover-model: ")).toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(r.err().strip().endsWith(lines.get(0)), "the error comes last: " + r.err());
        return lines.get(0);
    }
}
