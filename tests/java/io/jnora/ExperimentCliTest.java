package io.jnora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code jnora experiment} (issue 10, docs/RESULTS.md) on tiny configurations: each experiment prints
 * its settings and a markdown table with the expected rows; bad options are refused with exit status 2
 * and one line.
 */
class ExperimentCliTest {
    private static final String[] TINY = {"--backend", "cpu", "--synthetic", "48x40", "--rows", "400", "--held-out-rows",
        "100", "--steps", "20", "--seeds", "2", "--batch-rows", "64"};

    private static CliRun run(String experiment, String... extra) {
        List<String> args = new ArrayList<>(List.of("experiment", experiment));
        args.addAll(List.of(TINY));
        args.addAll(List.of(extra));
        return CliRun.of(args.toArray(String[]::new));
    }

    /** The body rows of the markdown table: cells trimmed, header and rule left out. */
    private static List<List<String>> tableRows(String out) {
        List<List<String>> rows = new ArrayList<>();
        int seen = 0;
        for (String line : out.split("\n")) {
            if (!line.startsWith("|")) {
                continue;
            }
            if (seen++ < 2) {
                continue;
            }
            List<String> cells = new ArrayList<>();
            for (String c : line.substring(1, line.length() - 1).split(" \\| ")) {
                cells.add(c.trim());
            }
            rows.add(cells);
        }
        return rows;
    }

    private static double mean(String cell) {
        return Double.parseDouble(cell.split(" ± ")[0]);
    }

    @Test
    void roraPrintsOneRowPerInnerRankWithBothRulesScales() {
        CliRun r = run("rora", "--inner-ranks", "2,8", "--outer-rank", "8", "--alpha", "4");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("RoRA's rank-scaling claim: outer rank r = 8, α = 4"), r.out());
        List<List<String>> rows = tableRows(r.out());
        assertEquals(2, rows.size(), r.out());
        assertEquals(List.of("2", "8"), rows.stream().map(c -> c.get(1)).toList());
        assertEquals(2.0, Double.parseDouble(rows.get(0).get(3)), 1e-9, "α/r_in at r_in = 2");
        assertEquals(4 / Math.sqrt(8), Double.parseDouble(rows.get(1).get(5)), 1e-4, "α/√r_in at r_in = 8");
        for (List<String> c : rows) {
            assertTrue(c.get(4).contains(" ± ") && c.get(6).contains(" ± "), "mean ± sd over 2 seeds: " + c);
            double before = Double.parseDouble(c.get(2));
            assertTrue(mean(c.get(4)) < before && mean(c.get(6)) < before, "training lowered the error: " + c);
            assertTrue(Double.parseDouble(c.get(7)) < before, "the optimum is below W_base: " + c);
        }
        assertTrue(r.err().contains("[8/8]"), "progress on stderr: " + r.err());
    }

    /**
     * Equal trainable parameters: k·(m + n) for the LoRA, 2·r·r_in for the nested adapter with
     * r = k·(m + n) / (2·r_in); 48×40 with r_in = 4: k = 2 gives r = 22, k = 4 gives r = 44 > 40 (refused),
     * k = 3 gives r = 33.
     */
    @Test
    void noraVsLoraComparesAdaptersWithEqualTrainableParameters() {
        CliRun r = run("nora-vs-lora", "--lora-ranks", "2,3", "--inner-rank", "4", "--eval-every", "5");
        assertEquals(0, r.status(), r.err());
        List<List<String>> rows = tableRows(r.out());
        assertEquals(4, rows.size(), r.out());
        assertEquals(List.of("LoRA k = 2", "NoRA r = 22, r_in = 4", "LoRA k = 3", "NoRA r = 33, r_in = 4"),
                rows.stream().map(c -> c.get(1)).toList());
        for (int i = 0; i < 4; i += 2) {
            long k = i == 0 ? 2 : 3;
            assertEquals(k * (48 + 40), Long.parseLong(rows.get(i).get(2)), "LoRA's k·(m + n)");
            assertEquals(rows.get(i).get(2), rows.get(i + 1).get(2), "the same count for NoRA: " + rows);
        }
        for (List<String> c : rows) {
            double steps = mean(c.get(6));
            assertTrue(steps >= 5 && steps <= 20, "steps to target within the run: " + c);
            assertTrue(mean(c.get(7)) > 0, "time per step: " + c);
        }
        CliRun tooBig = run("nora-vs-lora", "--lora-ranks", "4", "--inner-rank", "4");
        assertEquals(2, tooBig.status(), tooBig.err());
        assertTrue(tooBig.err().startsWith("jnora experiment: --lora-ranks:"), tooBig.err());
    }

    @Test
    void initComparesZeroPerSplitSigmaAndRandomOuter() {
        CliRun r = run("init", "--outer-rank", "8", "--inner-rank", "2");
        assertEquals(0, r.status(), r.err());
        List<List<String>> rows = tableRows(r.out());
        assertEquals(List.of("zero", "zero", "zero", "sigma", "random-outer"), rows.stream().map(c -> c.get(1)).toList(),
                r.out());
        double zeroAtInit = mean(rows.get(0).get(3));
        double sigmaAtInit = mean(rows.get(3).get(3));
        assertEquals(zeroAtInit, mean(rows.get(4).get(3)), 1e-12, "zero and random-outer start at W_base");
        assertTrue(sigmaAtInit < zeroAtInit, "sigma starts at the truncated difference: " + rows);
    }

    @ParameterizedTest
    @ValueSource(strings = {"rora --seeds 0", "rora --inner-ranks 2,x", "rora --outer-rank 4 --inner-ranks 8",
        "init --inits bogus", "init --splits nope", "nora-vs-lora --synthetic 48x40 --inner-rank 5",
        "rora --synthetic 5", "rora --lr -1", "init --layers 0.no.such.layer", "rora --prune magnitude:2", "rora --synthetic 8x8 --layers 0.attention.self.query",
        "rora --no-such-option"})
    void badOptionsAreRefusedWithOneLine(String command) {
        List<String> args = new ArrayList<>(List.of("experiment"));
        args.addAll(List.of(command.split(" ")));
        args.add("--backend");
        args.add("cpu");
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertEquals(2, r.status(), command + ": " + r.err());
        assertTrue(r.err().startsWith("jnora experiment: "), r.err());
        assertEquals(1, r.err().strip().split("\n").length, r.err());
        assertEquals("", r.out());
    }

    @Test
    void anExperimentIsRequired() {
        CliRun r = CliRun.of("experiment");
        assertEquals(2, r.status());
        assertTrue(r.err().startsWith("jnora experiment: an experiment is required"), r.err());
    }

    /** One real layer of the embedded model, end to end (the model is run over the calibration text: slow-ish). */
    @Test
    void roraRunsOnARealLayerOfTheEmbeddedModel() {
        io.jnora.model.TestModel.assumeModel();  // the GPU check's jar goes without the model
        CliRun r = CliRun.of("experiment", "rora", "--backend", "cpu", "--layers", "0.attention.self.query",
                "--inner-ranks", "2", "--outer-rank", "4", "--seeds", "1", "--steps", "10", "--rows", "128",
                "--held-out-rows", "64");
        assertEquals(0, r.status(), r.err());
        List<List<String>> rows = tableRows(r.out());
        assertEquals(1, rows.size(), r.out());
        assertEquals("encoder.layer.0.attention.self.query", rows.get(0).get(0));
        // a block past the model's 12 is found out once the model is loaded: the error is then the last line
        CliRun bad = CliRun.of("experiment", "init", "--backend", "cpu", "--layers", "12.attention.self.query");
        assertEquals(2, bad.status(), bad.err());
        String[] lines = bad.err().strip().split("\n");
        assertTrue(lines[lines.length - 1].startsWith("jnora experiment: --layers: no linear layer '12.attention.self.query'"),
                bad.err());
        assertEquals("", bad.out());
    }
}
