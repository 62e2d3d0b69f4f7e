package io.jnora.reliability;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import io.jnora.CliRun;
import io.jnora.JnoraException;
import io.jnora.adapter.NestedAdapterFile;
import io.jnora.aira.AllocationJson;
import io.jnora.aira.CostModel;
import io.jnora.io.Dtype;
import io.jnora.io.SafetensorsFile;
import io.jnora.io.SafetensorsWriter;
import io.jnora.peft.PeftAdapter;
import io.jnora.train.TrainerState;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The catalogue of bad inputs (issue 11): for every command and the readers of the Java API, each bad
 * input is refused with exit status 2 (or the library's typed exception), on one line of standard error
 * that names the file (or option) and the field, and an existing {@code --out} file is left byte for
 * byte as it was. docs/RELIABILITY.md counts the entries.
 */
class BadInputCatalogueTest {
    @TempDir
    static Path dir;

    static Path weights;       // "weight" 12×10 F32, "calib" 64×10, "x" 5×10, "idx" I32[5], "nan_w", "inf_calib", "w1d", "half" F16 12×10
    static Path adapter;       // a ZERO-init adapter for "weight", r = 4, r_in = 2
    static Path peft;          // adapter exported to PEFT
    static Path layers;        // a valid ranks layer file
    static Path existingOut;   // an output that must survive every failed command
    static byte[] existingBytes;

    private static final int M = 12;
    private static final int N = 10;

    @BeforeAll
    static void fixtures() throws IOException {
        SplittableRandom rng = new SplittableRandom(11);
        weights = dir.resolve("weights.safetensors");
        float[] nanW = random(rng, M * N);
        nanW[7] = Float.NaN;
        float[] infCalib = random(rng, 64 * N);
        infCalib[3 * N + 2] = Float.POSITIVE_INFINITY;
        new SafetensorsWriter()
                .add("weight", random(rng, M * N), M, N)
                .add("calib", random(rng, 64 * N), 64, N)
                .add("x", random(rng, 5 * N), 5, N)
                .add("nan_w", nanW, M, N)
                .add("inf_calib", infCalib, 64, N)
                .add("w1d", random(rng, M * N), M * N)
                .add("narrow", random(rng, 5 * 7), 5, 7)
                .write(weights);
        adapter = dir.resolve("adapter.safetensors");
        CliRun r = CliRun.of("init", "--weight", weights + "#weight", "--calib", weights + "#calib", "--rank", "4",
                "--inner-rank", "2", "--backend", "cpu", "--out", adapter.toString());
        assertEquals(0, r.status(), r.err());
        peft = dir.resolve("peft");
        assertEquals(0, CliRun.of("export-peft", "--adapter", adapter.toString(), "--out", peft.toString()).status());
        layers = Files.writeString(dir.resolve("layers.json"),
                "{\"layers\": [{\"name\": \"q\", \"m\": 64, \"n\": 32, \"outlier_ratio\": 0.02, \"outer_rank\": 8}]}");
        existingOut = dir.resolve("existing-out");
        existingBytes = "an earlier result that a failed command must not touch\n".getBytes(StandardCharsets.UTF_8);
        Files.write(existingOut, existingBytes);
    }

    private static float[] random(SplittableRandom rng, int count) {
        float[] v = new float[count];
        for (int i = 0; i < count; i++) {
            v[i] = (float) (rng.nextDouble() * 2 - 1);
        }
        return v;
    }

    // ---- bad files, made once per name ----

    private static Path file(String name, byte[] content) {
        try {
            return Files.write(dir.resolve(name), content);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static byte[] raw(String header, int dataBytes) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h).array();
    }

    private static String entry(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + "," + end + "]}";
    }

    /** The malformed safetensors files every FILE#TENSOR option is tried with: name → {file, field the message must name}. */
    static List<String[]> badSafetensors() throws IOException {
        List<String[]> out = new ArrayList<>();
        out.add(new String[] {dir.resolve("missing.safetensors").toString(), "NoSuchFile"});
        Path sub = Files.createDirectories(dir.resolve("a-directory.safetensors"));
        out.add(new String[] {sub.toString(), "directory"});
        out.add(new String[] {file("empty.safetensors", new byte[0]).toString(), "header length"});
        byte[] longHeader = raw("{}", 0);
        ByteBuffer.wrap(longHeader).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1000);
        out.add(new String[] {file("header-beyond.safetensors", longHeader).toString(), "header length"});
        out.add(new String[] {file("overlap.safetensors", raw("{" + entry("weight", "F32", "[12,10]", 0, 480) + ","
                + entry("b", "F32", "[2]", 8, 16) + "}", 480)).toString(), "overlaps"});
        out.add(new String[] {file("reversed.safetensors", raw("{" + entry("weight", "F32", "[12,10]", 480, 0) + "}", 480))
                .toString(), "data_offsets"});
        out.add(new String[] {file("duplicate.safetensors", raw("{" + entry("weight", "F32", "[12,10]", 0, 480) + ","
                + entry("weight", "F32", "[12,10]", 480, 960) + "}", 960)).toString(), "twice"});
        out.add(new String[] {file("short-data.safetensors", raw("{" + entry("weight", "F32", "[12,10]", 0, 480) + "}", 100))
                .toString(), "data_offsets"});
        out.add(new String[] {file("int-weight.safetensors", raw("{" + entry("weight", "I32", "[12,10]", 0, 480) + "}", 480))
                .toString(), "dtype|__metadata__|no weight for this module"});
        return out;
    }

    // ---- the catalogue ----

    /** One bad command line: what it is, the arguments, and what the one line on stderr must contain. */
    record Case(String what, String[] args, String... mustName) {}

    private static String[] args(String... a) {
        return a;
    }

    static List<Case> cases() throws IOException {
        String w = weights.toString();
        String a = adapter.toString();
        String out = existingOut.toString();
        List<Case> c = new ArrayList<>();
        // every FILE#TENSOR input of every command, with every malformed file
        for (String[] bad : badSafetensors()) {
            String f = bad[0];
            String name = Path.of(f).getFileName().toString();
            c.add(new Case("init --weight " + name, args("init", "--weight", f + "#weight", "--calib", w + "#calib", "--rank", "4",
                    "--inner-rank", "2", "--out", out), name, bad[1]));
            c.add(new Case("init --calib " + name, args("init", "--weight", w + "#weight", "--calib", f + "#weight", "--rank", "4",
                    "--inner-rank", "2", "--out", out), name, bad[1]));
            c.add(new Case("forward --weight " + name, args("forward", "--weight", f + "#weight", "--adapter", a, "--input",
                    w + "#x", "--out", out), name, bad[1]));
            c.add(new Case("forward --adapter " + name, args("forward", "--weight", w + "#weight", "--adapter", f, "--input",
                    w + "#x", "--out", out), name, bad[1]));
            c.add(new Case("forward --input " + name, args("forward", "--weight", w + "#weight", "--adapter", a, "--input",
                    f + "#weight", "--out", out), name, bad[1]));
            c.add(new Case("merge --weight " + name, args("merge", "--weight", f + "#weight", "--adapter", a, "--out", out), name, bad[1]));
            c.add(new Case("merge --adapter " + name, args("merge", "--weight", w + "#weight", "--adapter", f, "--out", out), name, bad[1]));
            c.add(new Case("recover --weight " + name, args("recover", "--weight", f + "#weight", "--calib", w + "#calib",
                    "--prune", "magnitude:0.5", "--rank", "4", "--inner-rank", "2", "--steps", "2", "--out", out), name, bad[1]));
            c.add(new Case("export-peft --adapter " + name, args("export-peft", "--adapter", f, "--out", out), name, bad[1]));
            c.add(new Case("import-peft --base " + name, args("import-peft", "--adapter", peft.toString(), "--base", f,
                    "--out", out), name, bad[1]));
        }
        // wrong tensor name, dtype, shape; non-finite values where finiteness is promised
        c.add(new Case("init: no such tensor", args("init", "--weight", w + "#nope", "--calib", w + "#calib", "--rank", "4",
                "--inner-rank", "2", "--out", out), "weights.safetensors", "nope"));
        c.add(new Case("init: 1-D weight", args("init", "--weight", w + "#w1d", "--calib", w + "#calib", "--rank", "4",
                "--inner-rank", "2", "--out", out), "weights.safetensors#w1d", "shape"));
        c.add(new Case("init: calib width ≠ n", args("init", "--weight", w + "#weight", "--calib", w + "#narrow", "--rank", "4",
                "--inner-rank", "2", "--out", out), "--calib", "shape"));
        c.add(new Case("init: NaN in the weight", args("init", "--weight", w + "#nan_w", "--calib", w + "#calib", "--rank", "4",
                "--inner-rank", "2", "--out", out), "nan_w", "NaN"));
        c.add(new Case("init: infinity in calib", args("init", "--weight", w + "#weight", "--calib", w + "#inf_calib", "--rank",
                "4", "--inner-rank", "2", "--out", out), "inf_calib", "Infinity"));
        c.add(new Case("init: rank above min(m, n)", args("init", "--weight", w + "#weight", "--calib", w + "#calib", "--rank",
                "11", "--inner-rank", "2", "--out", out), "rank", "11"));
        c.add(new Case("init: inner rank above rank", args("init", "--weight", w + "#weight", "--calib", w + "#calib", "--rank",
                "4", "--inner-rank", "5", "--out", out), "rank", "5"));
        c.add(new Case("init: rank 0", args("init", "--weight", w + "#weight", "--calib", w + "#calib", "--rank", "0",
                "--inner-rank", "2", "--out", out), "rank", "0"));
        c.add(new Case("init: unknown scale mode", args("init", "--weight", w + "#weight", "--calib", w + "#calib", "--rank",
                "4", "--inner-rank", "2", "--scale-mode", "bogus", "--out", out), "scale mode", "bogus"));
        c.add(new Case("forward: input width ≠ n", args("forward", "--weight", w + "#weight", "--adapter", a, "--input",
                w + "#narrow", "--out", out), "--input", "shape"));
        c.add(new Case("forward: NaN input", args("forward", "--weight", w + "#weight", "--adapter", a, "--input",
                w + "#inf_calib", "--out", out), "inf_calib", "Infinity"));
        c.add(new Case("forward: adapter for another shape", args("forward", "--weight", w + "#narrow", "--adapter", a,
                "--input", w + "#x", "--out", out), "adapter.safetensors", "12"));
        c.add(new Case("forward: float row-adapter", args("forward", "--weight", w + "#weight", "--adapter", a, "--row-adapter",
                w + "#x", "--input", w + "#x", "--out", out), "weights.safetensors#x", "indices"));
        c.add(new Case("forward: no such layer", args("forward", "--weight", w + "#weight", "--adapter", a, "--layer", "q_proj",
                "--input", w + "#x", "--out", out), "adapter.safetensors", "q_proj"));
        c.add(new Case("merge: NaN weight", args("merge", "--weight", w + "#nan_w", "--adapter", a, "--out", out), "nan_w", "NaN"));
        c.add(new Case("merge: adapter for another shape", args("merge", "--weight", w + "#narrow", "--adapter", a, "--out", out),
                "adapter.safetensors", "12"));
        c.add(new Case("merge: weights file as adapter", args("merge", "--weight", w + "#weight", "--adapter", w, "--out", out),
                "weights.safetensors", "jnora"));
        // ranks
        String l = layers.toString();
        c.add(new Case("ranks: missing layer file", args("ranks", "--layers", dir.resolve("none.json").toString(), "--budget", "100"),
                "none.json", "NoSuchFile"));
        c.add(new Case("ranks: a directory", args("ranks", "--layers", dir.toString(), "--budget", "100"), dir.toString(), "read"));
        c.add(new Case("ranks: empty file", args("ranks", "--layers", file("empty.json", new byte[0]).toString(), "--budget", "100"),
                "empty.json", "layers"));
        c.add(new Case("ranks: duplicate names", args("ranks", "--layers", file("dup.json", ("{\"layers\":[{\"name\":\"a\",\"m\":8,"
                + "\"n\":8,\"outlier_ratio\":0.5},{\"name\":\"a\",\"m\":8,\"n\":8,\"outlier_ratio\":0.5}]}").getBytes(StandardCharsets.UTF_8))
                .toString(), "--budget", "100"), "dup.json", "duplicate"));
        c.add(new Case("ranks: NaN ratio", args("ranks", "--layers", file("nan.json", ("{\"layers\":[{\"name\":\"a\",\"m\":8,"
                + "\"n\":8,\"outlier_ratio\":NaN}]}").getBytes(StandardCharsets.UTF_8)).toString(), "--budget", "100"),
                "nan.json", "JSON"));
        c.add(new Case("ranks: ratio above 1", args("ranks", "--layers", file("ratio.json", ("{\"layers\":[{\"name\":\"a\",\"m\":8,"
                + "\"n\":8,\"outlier_ratio\":1.5}]}").getBytes(StandardCharsets.UTF_8)).toString(), "--budget", "100"),
                "ratio.json", "outlier_ratio"));
        c.add(new Case("ranks: outer rank above min(m, n)", args("ranks", "--layers", file("outer.json", ("{\"layers\":[{\"name\":"
                + "\"a\",\"m\":8,\"n\":8,\"outlier_ratio\":0.5,\"outer_rank\":9}]}").getBytes(StandardCharsets.UTF_8)).toString(),
                "--budget", "100", "--cost", "nested"), "outer.json", "outer_rank"));
        c.add(new Case("ranks: budget below the minimum", args("ranks", "--layers", l, "--budget", "1", "--out", out),
                "budget", "1"));
        c.add(new Case("ranks: negative budget", args("ranks", "--layers", l, "--budget", "-5", "--out", out), "budget", "-5"));
        c.add(new Case("ranks: min above max", args("ranks", "--layers", l, "--budget", "10000", "--min", "9", "--max", "2",
                "--out", out), "min", "max"));
        c.add(new Case("ranks: unknown strategy", args("ranks", "--layers", l, "--budget", "10000", "--strategy", "best",
                "--out", out), "strategy", "best"));
        // recover
        c.add(new Case("recover: prune fraction above 1", args("recover", "--weight", w + "#weight", "--calib", w + "#calib",
                "--prune", "magnitude:1.5", "--rank", "4", "--inner-rank", "2", "--out", out), "prune", "1.5"));
        c.add(new Case("recover: unknown prune", args("recover", "--weight", w + "#weight", "--calib", w + "#calib",
                "--prune", "random:3", "--rank", "4", "--inner-rank", "2", "--out", out), "--prune", "random"));
        c.add(new Case("recover: zero steps", args("recover", "--weight", w + "#weight", "--calib", w + "#calib",
                "--prune", "magnitude:0.5", "--steps", "0", "--rank", "4", "--inner-rank", "2", "--out", out), "steps", "0"));
        c.add(new Case("recover: NaN learning rate", args("recover", "--weight", w + "#weight", "--calib", w + "#calib",
                "--prune", "magnitude:0.5", "--lr", "NaN", "--rank", "4", "--inner-rank", "2", "--out", out), "learning rate", "NaN"));
        c.add(new Case("recover: NaN calib", args("recover", "--weight", w + "#weight", "--calib", w + "#inf_calib",
                "--prune", "magnitude:0.5", "--rank", "4", "--inner-rank", "2", "--out", out), "inf_calib", "Infinity"));
        c.add(new Case("recover: dropout 1", args("recover", "--weight", w + "#weight", "--calib", w + "#calib",
                "--prune", "magnitude:0.5", "--dropout", "1", "--rank", "4", "--inner-rank", "2", "--out", out), "dropout", "1"));
        // PEFT
        c.add(new Case("export-peft: bad module prefix", args("export-peft", "--adapter", a, "--module-prefix", "bad prefix!",
                "--out", dir.resolve("peft-out").toString()), "bad prefix!", "module path"));
        c.add(new Case("export-peft: out is a file", args("export-peft", "--adapter", a, "--out", out), out, "directory"));
        c.add(new Case("import-peft: missing directory", args("import-peft", "--adapter", dir.resolve("nope").toString(),
                "--out", out), "nope", "directory"));
        c.add(new Case("import-peft: a file", args("import-peft", "--adapter", w, "--out", out), "weights.safetensors", "directory"));
        Path noConfig = Files.createDirectories(dir.resolve("no-config"));
        c.add(new Case("import-peft: no config", args("import-peft", "--adapter", noConfig.toString(), "--out", out),
                "adapter_config.json", "missing"));
        Path dora = Files.createDirectories(dir.resolve("dora"));
        Files.copy(peft.resolve(PeftAdapter.MODEL_FILE), dora.resolve(PeftAdapter.MODEL_FILE));
        Files.writeString(dora.resolve(PeftAdapter.CONFIG_FILE), "{\"peft_type\":\"LORA\",\"r\":2,\"lora_alpha\":2,\"use_dora\":true}");
        c.add(new Case("import-peft: DoRA", args("import-peft", "--adapter", dora.toString(), "--out", out),
                "adapter_config.json", "use_dora"));
        Path wrongRank = Files.createDirectories(dir.resolve("wrong-rank"));
        Files.copy(peft.resolve(PeftAdapter.MODEL_FILE), wrongRank.resolve(PeftAdapter.MODEL_FILE));
        Files.writeString(wrongRank.resolve(PeftAdapter.CONFIG_FILE), "{\"peft_type\":\"LORA\",\"r\":3,\"lora_alpha\":3}");
        c.add(new Case("import-peft: r disagrees with the tensors", args("import-peft", "--adapter", wrongRank.toString(),
                "--out", out), "adapter_model.safetensors", "rank"));
        c.add(new Case("import-peft: base of another shape", args("import-peft", "--adapter", peft.toString(), "--base",
                weights.toString(), "--out", out), "module \"layer\"", "base model has no weight"));
        // bench, demo, info: bad options only
        c.add(new Case("bench: unknown suite", args("bench", "--suite", "everything"), "--suite", "everything"));
        c.add(new Case("bench: zero iterations", args("bench", "--iterations", "0"), "--iterations"));
        c.add(new Case("bench: bad train shape", args("bench", "--suite", "train", "--train-shapes", "12by4"), "--train-shapes", "12by4"));
        c.add(new Case("demo: rank above n", args("demo", "--synthetic", "--in", "8", "--rank", "16", "--backend", "cpu"), "rank", "16"));
        c.add(new Case("demo: not a number", args("demo", "--rows", "many"), "--rows", "many"));
        c.add(new Case("info: unknown backend", args("info", "--backend", "tpu"), "--backend", "tpu"));
        c.add(new Case("unknown option", args("init", "--weight", w + "#weight", "--calib", w + "#calib", "--rank", "4",
                "--inner-rank", "2", "--out", out, "--frobnicate"), "--frobnicate"));
        c.add(new Case("missing required option", args("forward", "--weight", w + "#weight"), "--adapter"));
        return c;
    }

    /** Whether {@code text} contains one of the '|'-separated alternatives (one entry, several readers' words for it). */
    private static boolean namesAny(String text, String alternatives) {
        for (String a : alternatives.split("\\|")) {
            if (text.contains(a)) {
                return true;
            }
        }
        return false;
    }

    @TestFactory
    Stream<DynamicTest> everyBadCommandLineIsRefusedOnOneLineNamingTheFileAndField() throws IOException {
        return cases().stream().map(k -> dynamicTest(k.what(), () -> {
            CliRun r = CliRun.of(k.args());
            // progress lines may come first; the refusal is the one line that starts with "jnora "
            List<String> refusals = r.err().lines().filter(line -> line.startsWith("jnora ")).toList();
            assertEquals(2, r.status(), k.what() + ": status; stderr: " + r.err());
            assertEquals(1, refusals.size(), k.what() + ": one refusal line on stderr, got: " + r.err());
            for (String name : k.mustName()) {
                assertTrue(namesAny(refusals.get(0), name), k.what() + ": stderr should name " + name + ": " + refusals.get(0));
            }
            byte[] now = Files.readAllBytes(existingOut);
            Files.write(existingOut, existingBytes);
            assertArrayEquals(existingBytes, now, k.what() + ": the existing output was changed");
        }));
    }

    /** The same malformed files through the Java API: the typed exception, naming the file. */
    @TestFactory
    Stream<DynamicTest> theReadersOfTheJavaApiRefuseWithTypedExceptions() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (String[] bad : badSafetensors()) {
            Path f = Path.of(bad[0]);
            Map<String, Consumer<Path>> readers = Map.of(
                    "SafetensorsFile.open+read", p -> {
                        try (SafetensorsFile s = SafetensorsFile.open(p)) {
                            s.readFloats("weight");
                        }
                    },
                    "NestedAdapterFile.read", NestedAdapterFile::read,
                    "TrainerState.read", TrainerState::read);
            readers.forEach((api, reader) -> tests.add(dynamicTest(api + " " + f.getFileName(), () -> {
                JnoraException e = assertThrows(JnoraException.class, () -> reader.accept(f));
                assertTrue(e.getMessage().contains(f.getFileName().toString()), e.getMessage());
                assertTrue(namesAny(e.getMessage(), bad[1]), api + " should name " + bad[1] + ": " + e.getMessage());
            })));
        }
        tests.add(dynamicTest("AllocationJson.readLayers of a safetensors file", () -> {
            JnoraException e = assertThrows(JnoraException.class, () -> AllocationJson.readLayers(weights, CostModel.LORA));
            assertTrue(e.getMessage().contains("weights.safetensors"), e.getMessage());
        }));
        tests.add(dynamicTest("PeftAdapter.read of a file", () -> {
            JnoraException e = assertThrows(JnoraException.class, () -> PeftAdapter.read(weights));
            assertTrue(e.getMessage().contains("weights.safetensors"), e.getMessage());
        }));
        tests.add(dynamicTest("TrainerState.read of an adapter", () -> {
            JnoraException e = assertThrows(JnoraException.class, () -> TrainerState.read(adapter));
            assertTrue(e.getMessage().contains("jnora_optimizer"), e.getMessage());
        }));
        return tests.stream();
    }
}
