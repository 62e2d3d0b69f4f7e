package io.jnora.peft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.AdapterFormatException;
import io.jnora.cli.Main;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the PEFT import does not support or cannot trust is refused by name, never skipped (SPEC §5):
 * through the API an {@link AdapterFormatException} naming the file and the field, through
 * {@code import-peft} exit status 2 with one line naming the file, and no output file.
 */
class PeftRefusalTest {
    @TempDir
    Path dir;

    private static final String Q = "model.layers.0.self_attn.q_proj";

    /** A valid adapter: one module q (rank 2, 4 → 3), that each case then breaks. */
    private static PeftFixture valid() {
        return PeftFixture.lora(2, 4).module(Q, PeftFixture.values(8, 1), 2, 4, PeftFixture.values(6, 2), 3);
    }

    private Path adapter(String name, Consumer<PeftFixture> breakIt) {
        PeftFixture f = valid();
        breakIt.accept(f);
        return f.write(dir.resolve(name));
    }

    /** Refused by the API and the CLI, both naming {@code file} and every fragment; nothing written. */
    private void assertRefused(Path adapter, String file, String... fragments) {
        AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> PeftAdapter.read(adapter));
        assertTrue(e.getMessage().contains(file), "'" + file + "' in: " + e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "'" + f + "' in: " + e.getMessage());
        }
        Path out = dir.resolve(adapter.getFileName() + ".nora.safetensors");
        StringWriter stdout = new StringWriter();
        StringWriter stderr = new StringWriter();
        int status = Main.run(new PrintWriter(stdout, true), new PrintWriter(stderr, true), "import-peft", "--adapter",
                adapter.toString(), "--out", out.toString());
        assertEquals(2, status, stderr.toString());
        assertEquals(1, stderr.toString().strip().lines().count(), stderr.toString());
        assertTrue(stderr.toString().contains(file), stderr.toString());
        assertFalse(Files.exists(out), "nothing is written on failure");
    }

    @Test
    void aMissingConfigIsRefused() throws Exception {
        Path a = adapter("noconfig", f -> {});
        Files.delete(a.resolve("adapter_config.json"));
        assertRefused(a, "adapter_config.json", "missing");
    }

    @Test
    void aConfigThatIsNotJsonIsRefused() {
        assertRefused(adapter("notjson", f -> f.rawConfig("{\"peft_type\": \"LORA\", r: 2")), "adapter_config.json",
                "not valid JSON");
    }

    @Test
    void aPeftTypeOtherThanLoraIsRefused() {
        assertRefused(adapter("adalora", f -> f.set("peft_type", "ADALORA")), "adapter_config.json", "peft_type",
                "ADALORA");
    }

    @Test
    void doraIsRefused() {
        assertRefused(adapter("dora", f -> f.set("use_dora", true)), "adapter_config.json", "use_dora", "DoRA");
        assertRefused(adapter("dora-tensor", f -> f.tensor("base_model.model." + Q + ".lora_magnitude_vector",
                new float[3], 3)), "adapter_model.safetensors", "lora_magnitude_vector", "DoRA");
    }

    @Test
    void embeddingLoraIsRefused() {
        assertRefused(adapter("embedding", f -> f.tensor("base_model.model.model.embed_tokens.lora_embedding_A",
                new float[2 * 10], 2, 10).tensor("base_model.model.model.embed_tokens.lora_embedding_B", new float[6], 3, 2)),
                "adapter_model.safetensors", "lora_embedding_A", "embedding LoRA");
    }

    @Test
    void modulesToSaveWeightsAreRefused() {
        assertRefused(adapter("mts", f -> f.set("modules_to_save", List.of("score"))
                .tensor("base_model.model.score.weight", new float[2 * 3], 2, 3)), "adapter_model.safetensors",
                "base_model.model.score.weight", "modules_to_save");
    }

    @Test
    void aFactorWithoutItsPartnerIsRefused() {
        assertRefused(adapter("nob", f -> f.remove("base_model.model." + Q + ".lora_B.weight")),
                "adapter_model.safetensors", Q, "lora_B.weight is missing");
    }

    @Test
    void aRankDisagreeingWithTheConfigIsRefusedNamingTheField() {
        assertRefused(adapter("rank-r", f -> f.set("r", 3)), "adapter_model.safetensors", Q, "rank 2", "\"r\"", "r = 3");
        assertRefused(adapter("rank-pattern", f -> f.set("rank_pattern", Map.of("q_proj", 4))), "adapter_model.safetensors",
                Q, "\"rank_pattern\" key \"q_proj\"", "r = 4");
    }

    @Test
    void factorsDisagreeingWithEachOtherAreRefused() {
        assertRefused(adapter("ranks", f -> f.remove("base_model.model." + Q + ".lora_B.weight")
                .tensor("base_model.model." + Q + ".lora_B.weight", new float[9], 3, 3)), "adapter_model.safetensors", Q,
                "disagree on the rank");
    }

    @Test
    void aNonFloatTensorIsRefused() {
        assertRefused(adapter("i32", f -> f.remove("base_model.model." + Q + ".lora_A.weight")
                .intTensor("base_model.model." + Q + ".lora_A.weight", new int[8], 2, 4)), "adapter_model.safetensors", Q,
                "lora_A.weight", "I32");
    }

    @Test
    void aNonFiniteValueIsRefused() {
        float[] a = PeftFixture.values(8, 1);
        a[5] = Float.NaN;
        float[] copy = a;
        assertRefused(adapter("nan", f -> f.remove("base_model.model." + Q + ".lora_A.weight")
                .tensor("base_model.model." + Q + ".lora_A.weight", copy, 2, 4)), "adapter_model.safetensors", Q,
                "[1, 1]", "NaN");
    }

    @Test
    void aTruncatedSafetensorsFileIsRefused() throws Exception {
        Path a = adapter("truncated", f -> {});
        Path model = a.resolve("adapter_model.safetensors");
        byte[] bytes = Files.readAllBytes(model);
        Files.write(model, Arrays.copyOf(bytes, bytes.length - 7));
        assertRefused(a, "adapter_model.safetensors");
    }

    @Test
    void anUnknownExtraTensorIsRefused() {
        assertRefused(adapter("extra", f -> f.tensor("base_model.model.model.norm.weight", new float[4], 4)),
                "adapter_model.safetensors", "base_model.model.model.norm.weight", "unknown tensor");
        assertRefused(adapter("noprefix", f -> f.tensor("q_proj.lora_A.weight", new float[8], 2, 4)),
                "adapter_model.safetensors", "q_proj.lora_A.weight", "unknown tensor");
        assertRefused(adapter("bias", f -> f.tensor("base_model.model." + Q + ".lora_B.bias", new float[3], 3)),
                "adapter_model.safetensors", "lora_B.bias", "LoRA bias");
    }

    @Test
    void pickledWeightsAreRefusedByName() throws Exception {
        Path a = adapter("pickle", f -> {});
        Files.move(a.resolve("adapter_model.safetensors"), a.resolve("adapter_model.bin"));
        assertRefused(a, "adapter_model.bin", "pickled", "safe_serialization");
    }

    @Test
    void settingsThatChangeTheComputationAreRefusedByName() {
        assertRefused(adapter("bias-all", f -> f.set("bias", "all")), "adapter_config.json", "\"bias\"");
        assertRefused(adapter("pissa", f -> f.set("init_lora_weights", "pissa_niter_4")), "adapter_config.json",
                "init_lora_weights", "path_initial_model_for_weight_conversion");
        assertRefused(adapter("lora-bias", f -> f.set("lora_bias", true)), "adapter_config.json", "lora_bias");
        assertRefused(adapter("alora", f -> f.set("alora_invocation_tokens", List.of(1, 2))), "adapter_config.json",
                "alora_invocation_tokens");
        assertRefused(adapter("unknown", f -> f.set("use_something_new", true)), "adapter_config.json",
                "unknown field \"use_something_new\"");
        assertRefused(adapter("regex", f -> f.set("rank_pattern", Map.of("(?P<x>q)_proj", 2))), "adapter_config.json",
                "rank_pattern", "(?P<x>q)_proj");
        assertRefused(adapter("bad-r", f -> f.set("r", "two")), "adapter_config.json", "\"r\"");
    }

    @Test
    void aPatternKeyThatBacktracksCatastrophicallyIsRefusedNotRunForever() {
        String module = "a".repeat(40) + "_proj";  // (.*a){25}: every cut of the name into 25 pieces, hours unbounded
        Path adapter = adapter("redos", f -> f.set("rank_pattern", Map.of("(.*a){25}", 2)).module(module,
                PeftFixture.values(8, 1), 2, 4, PeftFixture.values(6, 2), 3));
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> assertRefused(adapter, "adapter_config.json",
                "\"rank_pattern\" key \"(.*a){25}\"", module, "catastrophic backtracking"));
    }

    @Test
    void aDirectoryThatDoesNotExistIsRefused() {
        assertRefused(dir.resolve("nowhere"), "nowhere", "no such directory");
    }
}
