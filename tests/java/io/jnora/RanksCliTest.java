package io.jnora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jnora ranks} (SPEC §6): a table on standard output, the JSON file with --out, exit 2 on bad input. */
class RanksCliTest {
    @TempDir
    Path dir;



    private Path layers(String json) throws IOException {
        Path file = dir.resolve("layers.json");
        Files.writeString(file, json);
        return file;
    }

    private static final String THREE_LAYERS = """
            {"layers": [
              {"name": "blocks.0.q", "m": 768, "n": 768, "outlier_ratio": 0.004, "outer_rank": 64},
              {"name": "blocks.0.v", "m": 768, "n": 768, "outlier_ratio": 0.012, "outer_rank": 64},
              {"name": "blocks.1.up", "m": 3072, "n": 768, "outlier_ratio": 0.0, "outer_rank": 128}
            ]}""";

    @Test
    void printsATableAndWritesTheRanks() throws IOException {
        Path in = layers(THREE_LAYERS);
        Path out = dir.resolve("ranks.json");
        CliRun r = CliRun.of("ranks", "--layers", in.toString(), "--budget", "60k", "--min", "2", "--max", "32", "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("layer") && r.out().contains("cost/rank") && r.out().contains("rank"), r.out());
        assertTrue(r.out().contains("blocks.1.up") && r.out().contains("3840"), r.out());
        assertTrue(r.out().contains("of 60000 parameters"), r.out());
        assertTrue(r.out().contains("strategy outlier, integer method dp"), r.out());

        JsonNode json = new ObjectMapper().readTree(out.toFile());
        assertEquals(List.of("ranks", "objective", "cost"), List.copyOf(iterable(json.fieldNames())));
        JsonNode ranks = json.get("ranks");
        assertEquals(List.of("blocks.0.q", "blocks.0.v", "blocks.1.up"), List.copyOf(iterable(ranks.fieldNames())));
        assertEquals(2, ranks.get("blocks.1.up").asInt()); // no outliers: r_min
        assertTrue(ranks.get("blocks.0.v").asInt() > ranks.get("blocks.0.q").asInt(), json.toString());
        long cost = 1536L * (ranks.get("blocks.0.q").asInt() + ranks.get("blocks.0.v").asInt()) + 3840L * 2;
        assertEquals(cost, json.get("cost").asLong());
        assertTrue(cost <= 60_000);
        double objective = 0.004 * Math.log1p(ranks.get("blocks.0.q").asInt()) + 0.012 * Math.log1p(ranks.get("blocks.0.v").asInt())
                + 0.0 * Math.log1p(2);
        assertEquals(objective, json.get("objective").asDouble(), 1e-15);
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(2, files.count(), "no temporary file is left beside the output");
        }
    }

    @Test
    void theNestedCostUsesTheOuterRanks() throws IOException {
        Path in = layers(THREE_LAYERS);
        CliRun r = CliRun.of("ranks", "--layers", in.toString(), "--budget", "100000", "--cost", "nested", "--strategy", "uniform");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("r_out"), r.out());
        // cost/rank 128, 128, 256 (Σ 512): uniform r = ⌊100000 / 512⌋ = 195, capped by the outer ranks 64, 64, 128
        assertTrue(r.out().contains("total: " + (128L * 64 * 2 + 256L * 128) + " of 100000"), r.out());
    }

    @Test
    void everyStrategyRuns() throws IOException {
        Path in = layers(THREE_LAYERS);
        for (String s : List.of("uniform", "random", "decay", "growth", "outlier")) {
            CliRun r = CliRun.of("ranks", "--layers", in.toString(), "--budget", "50000", "--strategy", s, "--seed", "3");
            assertEquals(0, r.status(), s + ": " + r.err());
            assertTrue(r.out().contains("strategy " + s), r.out());
        }
    }

    @Test
    void malformedJsonIsBadInputNamingTheFile() throws IOException {
        Path in = layers("{\"layers\": [ {\"name\": \"q\", ");
        CliRun r = CliRun.of("ranks", "--layers", in.toString(), "--budget", "1000");
        assertBadInput(r, in.toString(), "not valid JSON");
    }

    @Test
    void aMissingFieldIsBadInputNamingTheField() throws IOException {
        Path in = layers("{\"layers\": [{\"name\": \"q\", \"m\": 8, \"outlier_ratio\": 0.1}]}");
        assertBadInput(CliRun.of("ranks", "--layers", in.toString(), "--budget", "1000"), in.toString(), "layers[0] (\"q\").n: missing");
    }

    @Test
    void aWrongTypeIsBadInputNamingTheField() throws IOException {
        Path in = layers("{\"layers\": [{\"name\": \"q\", \"m\": 8, \"n\": \"eight\", \"outlier_ratio\": 0.1}]}");
        assertBadInput(CliRun.of("ranks", "--layers", in.toString(), "--budget", "1000"), in.toString(), ".n: expected a positive integer");
    }

    @Test
    void aDuplicateNameIsBadInputNamingBothEntries() throws IOException {
        Path in = layers("{\"layers\": [{\"name\": \"q\", \"m\": 8, \"n\": 8, \"outlier_ratio\": 0.1},"
                + " {\"name\": \"q\", \"m\": 8, \"n\": 8, \"outlier_ratio\": 0.2}]}");
        assertBadInput(CliRun.of("ranks", "--layers", in.toString(), "--budget", "1000"), in.toString(),
                "layers[1].name: duplicate name \"q\" (also layers[0])");
    }

    @Test
    void aMissingOuterRankWithNestedCostNamesTheLayer() throws IOException {
        Path in = layers("{\"layers\": [{\"name\": \"q\", \"m\": 8, \"n\": 8, \"outlier_ratio\": 0.1, \"outer_rank\": 4},"
                + " {\"name\": \"k\", \"m\": 8, \"n\": 8, \"outlier_ratio\": 0.2}]}");
        assertBadInput(CliRun.of("ranks", "--layers", in.toString(), "--budget", "1000", "--cost", "nested"), in.toString(),
                "layers[1] (\"k\").outer_rank: missing");
    }

    @Test
    void aBudgetBelowTheMinimumIsBadInputNamingTheMinimum() throws IOException {
        Path in = layers(THREE_LAYERS);
        CliRun r = CliRun.of("ranks", "--layers", in.toString(), "--budget", "10000", "--min", "2");
        assertEquals(2, r.status(), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("minimum " + 2L * (1536 + 1536 + 3840)), r.err());
    }

    @Test
    void badOptionValuesAreBadInput() throws IOException {
        Path in = layers(THREE_LAYERS);
        assertEquals(2, CliRun.of("ranks", "--layers", in.toString(), "--budget", "lots").status());
        assertEquals(2, CliRun.of("ranks", "--layers", in.toString(), "--budget", "1000000", "--strategy", "best").status());
        assertEquals(2, CliRun.of("ranks", "--layers", in.toString(), "--budget", "1000000", "--min", "0").status());
        assertEquals(2, CliRun.of("ranks", "--layers", dir.resolve("missing.json").toString(), "--budget", "1000").status());
        CliRun noOut = CliRun.of("ranks", "--layers", in.toString(), "--budget", "1000000", "--out", dir.resolve("no/such/dir.json").toString());
        assertFalse(noOut.status() == 0, noOut.out());
    }

    private static void assertBadInput(CliRun r, String file, String field) {
        assertEquals(2, r.status(), r.out() + r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains(file), r.err());
        assertTrue(r.err().contains(field), r.err());
    }

    private static <T> List<T> iterable(java.util.Iterator<T> it) {
        List<T> list = new java.util.ArrayList<>();
        it.forEachRemaining(list::add);
        return list;
    }
}
