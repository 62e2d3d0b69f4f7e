package io.jnora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jnora.adapter.AdapterLayer;
import io.jnora.adapter.NestedAdapterFile;
import io.jnora.io.SafetensorsFile;
import io.jnora.io.SafetensorsWriter;
import io.jnora.synth.SyntheticLayer;
import io.jnora.train.Pruning;
import io.jnora.train.TrainerState;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jnora recover} end to end (SPEC §6): the report, the three files, and bad input refused with exit 2. */
class RecoverCliTest {
    @TempDir
    Path dir;



    private final SyntheticLayer layer = SyntheticLayer.random(21, 48, 40, 8, 2, 1f);

    private Path inputs() {
        Path file = dir.resolve("layer.safetensors");
        new SafetensorsWriter().add("weight", layer.baseWeight, layer.m, layer.n)
                .add("calib", layer.inputs(22, 600), 2, 300, layer.n).write(file);
        return file;
    }

    /** The command line of a small run; {@code extra} option/value pairs replace the defaults of the same option. */
    private String[] args(Path in, Path out, String... extra) {
        Map<String, String> options = new LinkedHashMap<>();
        options.put("--backend", "cpu");
        options.put("--weight", in + "#weight");
        options.put("--calib", in + "#calib");
        options.put("--prune", "magnitude:0.5");
        options.put("--rank", "8");
        options.put("--inner-rank", "2");
        options.put("--steps", "150");
        options.put("--batch-rows", "256");
        options.put("--out", out.toString());
        for (int i = 0; i < extra.length; i += 2) {
            options.put(extra[i], extra[i + 1]);
        }
        List<String> a = new ArrayList<>(List.of("recover"));
        options.forEach((k, v) -> {
            a.add(k);
            a.add(v);
        });
        return a.toArray(String[]::new);
    }

    private static double figure(String out, String label) {
        Matcher m = Pattern.compile("^\\s*" + label + "\\s+([0-9.eE+-]+)", Pattern.MULTILINE).matcher(out);
        assertTrue(m.find(), label + " in:\n" + out);
        return Double.parseDouble(m.group(1));
    }

    private List<Path> files() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> !p.getFileName().toString().equals("layer.safetensors")).toList();
        }
    }

    @Test
    void recoverTrainsReportsAndWritesAdapterBaseAndState() throws Exception {
        Path in = inputs();
        Path out = dir.resolve("recovered.safetensors");
        CliRun r = CliRun.of(args(in, out, "--progress-every", "50", "--layer", "mlp.down"));
        assertEquals(0, r.status(), r.err());
        double before = figure(r.out(), "before");
        double after = figure(r.out(), "after");
        double optimum = figure(r.out(), "optimum");
        assertTrue(after < before / 2 && optimum <= after * 1.001, r.out());
        assertTrue(r.out().contains("on 60 rows (the last 10% of --calib)"), r.out());
        assertTrue(r.err().contains("recover: step 50/150") && r.err().contains("recover: step 150/150"), r.err());

        AdapterLayer a = NestedAdapterFile.readLayer(out, "mlp.down");
        assertEquals(8, a.outerRank());
        assertEquals("whiten(0.001)", a.scaleMode());
        Path base = dir.resolve("recovered.base.safetensors");
        Path state = dir.resolve("recovered.optimizer.safetensors");
        try (SafetensorsFile f = SafetensorsFile.open(base)) {
            assertArrayEquals(Pruning.magnitude(0.5).apply(layer.baseWeight, 48, 40), f.readFloats("weight"));
        }
        try (SafetensorsFile f = SafetensorsFile.open(out)) {
            JsonNode record = new ObjectMapper().readTree(f.metadata().get("jnora_recover"));
            assertEquals(base.toString(), record.get("base_file").asText());
            assertEquals("weight", record.get("base_tensor").asText());
            assertEquals("magnitude:0.5", record.get("pruning").asText());
            assertEquals(after, record.get("error_after").asDouble(), 1e-5 * after);
        }
        TrainerState s = TrainerState.read(state);
        assertEquals(150, s.step());
        assertEquals("mlp.down", s.layers().get(0).name());
        assertEquals(1e-2, s.optimizer().learningRate());
    }

    /** The layer trained in bfloat16 (its base D, outer factors and rows in 2 bytes) still recovers. */
    @Test
    void recoverTrainsAHalfPrecisionLayer() throws Exception {
        Path in = inputs();
        Path out = dir.resolve("recovered-bf16.safetensors");
        CliRun r = CliRun.of(args(in, out, "--precision", "bfloat16"));
        assertEquals(0, r.status(), r.err());
        double before = figure(r.out(), "before");
        double after = figure(r.out(), "after");
        double optimum = figure(r.out(), "optimum");
        assertTrue(after < before / 2 && after <= optimum * 1.2, r.out());
        assertTrue(r.out().contains("layer in bfloat16"), r.out());
        try (SafetensorsFile f = SafetensorsFile.open(out)) {
            JsonNode record = new ObjectMapper().readTree(f.metadata().get("jnora_recover"));
            assertEquals("bfloat16", record.get("precision").asText());
        }
        assertEquals(2, CliRun.of(args(in, dir.resolve("x.safetensors"), "--precision", "float8")).status());
    }

    @Test
    void badSettingsAreExit2WithOneLineAndNothingWritten() throws Exception {
        Path in = inputs();
        Path out = dir.resolve("never.safetensors");
        String[][] cases = {
            {"--lr", "0"}, {"--lr", "-1e-3"}, {"--steps", "0"}, {"--prune", "magnitude:1.0"}, {"--prune", "magnitude:-0.1"},
            {"--prune", "rank:41"}, {"--rank", "41"}, {"--inner-rank", "9"}, {"--init", "sigma"}, {"--prune", "topk:3"},
            {"--warmup", "150"},
        };
        String[] expected = {"learning rate", "learning rate", "steps", "[0, 1)", "[0, 1)", "rank 41", "41", "r_in = 9",
            "sigma", "magnitude:FRACTION", "warm-up"};
        for (int i = 0; i < cases.length; i++) {
            CliRun r = CliRun.of(args(in, out, cases[i]));
            String what = String.join(" ", cases[i]) + ": " + r.err();
            assertEquals(2, r.status(), what);
            assertEquals(1, r.err().strip().lines().filter(l -> l.startsWith("jnora")).count(), what);
            assertTrue(r.err().contains(expected[i]), what);
            assertEquals(List.of(), files(), what);
        }
    }

    /** A learning rate of 1e30 overflows the factors; the step that meets it is named and nothing is written. */
    @Test
    void divergingTrainingStopsNamingTheStepAndWritesNothing() throws Exception {
        Path in = inputs();
        Path out = dir.resolve("never.safetensors");
        CliRun r = CliRun.of(args(in, out, "--lr", "1e30", "--warmup", "0", "--steps", "10", "--layer", "attn.o"));
        assertEquals(2, r.status(), r.out() + r.err());
        assertTrue(r.err().contains("step ") && r.err().contains("'attn.o'"), r.err());
        assertFalse(Files.exists(out));
        assertEquals(List.of(), files());
    }
}
