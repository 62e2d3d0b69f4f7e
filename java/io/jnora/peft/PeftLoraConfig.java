package io.jnora.peft;

import com.fasterxml.jackson.databind.JsonNode;
import io.jnora.AdapterFormatException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.PatternSyntaxException;

/**
 * The part of a PEFT {@code adapter_config.json} that decides what a LoRA adapter computes (SPEC §5):
 * the default rank {@code r} and {@code lora_alpha}, their per-module overrides {@code rank_pattern}
 * and {@code alpha_pattern} (resolved by {@link PeftPatternKeys}), {@code use_rslora},
 * {@code fan_in_fan_out} and {@code modules_to_save}. Absent fields take PEFT's defaults
 * ({@code r = 8}, {@code lora_alpha = 8}, false, none).
 *
 * <p>Reading is strict in one direction: every field that would change the adapter's output and that
 * this library does not implement (DoRA, LoRA bias, QALoRA, aLoRA, trainable tokens, parameter
 * targets, the LoRA variants, trained biases, inits that rewrite the base weight) must be at its
 * neutral value, or the config is refused naming the field. Fields known not to change a loaded
 * adapter's output (target selection, dropout, init settings, bookkeeping) are ignored. A field this
 * reader does not know is accepted only at a neutral value (null, false, empty) and refused otherwise:
 * a new PEFT feature is opt-in, so a set value may mean a different computation.
 *
 * <p>Thread safety: immutable and thread-safe.
 */
public final class PeftLoraConfig {
    /** PEFT's defaults for the fields a config may leave out. */
    public static final int DEFAULT_R = 8;
    public static final double DEFAULT_LORA_ALPHA = 8;

    /** Read and honoured (or checked) below. */
    private static final Set<String> HANDLED = Set.of("peft_type", "r", "lora_alpha", "use_rslora", "fan_in_fan_out",
            "rank_pattern", "alpha_pattern", "modules_to_save", "init_lora_weights", "bias");

    /** Ignored: they select targets, set up training or init, or record provenance; none changes a loaded LoRA. */
    private static final Set<String> IGNORED = Set.of("task_type", "auto_mapping", "peft_version",
            "base_model_name_or_path", "revision", "inference_mode", "target_modules", "exclude_modules",
            "layers_to_transform", "layers_pattern", "lora_dropout", "megatron_core", "loftq_config", "eva_config",
            "corda_config", "lora_ga_config", "runtime_config", "qalora_group_size", "ensure_weight_tying");

    /** Must be neutral (null, false or empty): each turns on a computation this library does not implement. */
    private static final Map<String, String> UNSUPPORTED = Map.ofEntries(
            Map.entry("use_dora", "DoRA (weight-decomposed LoRA)"),
            Map.entry("lora_bias", "a trained bias on lora_B"),
            Map.entry("use_qalora", "QALoRA (pooled lora_A input)"),
            Map.entry("alora_invocation_tokens", "activated LoRA (aLoRA)"),
            Map.entry("trainable_token_indices", "trainable tokens"),
            Map.entry("target_parameters", "LoRA on nn.Parameter targets"),
            Map.entry("layer_replication", "layer replication"),
            Map.entry("megatron_config", "Megatron parallel LoRA layers"),
            Map.entry("use_bdlora", "block-diagonal LoRA (BD-LoRA)"),
            Map.entry("arrow_config", "Arrow routing"),
            Map.entry("kasa_config", "the KaSA variant"),
            Map.entry("velora_config", "the VeLoRA variant"),
            Map.entry("monteclora_config", "the MonteCLoRA variant"));

    /** init_lora_weights values after which the adapter runs on the unchanged base weight. */
    private static final Set<String> PLAIN_INITS = Set.of("true", "false", "gaussian", "eva", "orthogonal");

    /** Inits that rewrite the base weight (W − s·BA at init, or a quantised W): the adapter alone is not the change. */
    private static final List<String> BASE_REWRITING_INITS = List.of("pissa", "corda", "olora", "loftq", "lora_ga");

    private final Path file;
    private final int r;
    private final double loraAlpha;
    private final boolean useRsLora;
    private final boolean fanInFanOut;
    private final Map<String, Integer> rankPattern;
    private final Map<String, Double> alphaPattern;
    private final List<String> targetModules;
    private final List<String> modulesToSave;

    private PeftLoraConfig(Path file, int r, double loraAlpha, boolean useRsLora, boolean fanInFanOut,
            Map<String, Integer> rankPattern, Map<String, Double> alphaPattern, List<String> targetModules,
            List<String> modulesToSave) {
        this.file = file;
        this.r = r;
        this.loraAlpha = loraAlpha;
        this.useRsLora = useRsLora;
        this.fanInFanOut = fanInFanOut;
        this.rankPattern = Collections.unmodifiableMap(new LinkedHashMap<>(rankPattern));
        this.alphaPattern = Collections.unmodifiableMap(new LinkedHashMap<>(alphaPattern));
        this.targetModules = List.copyOf(targetModules);
        this.modulesToSave = List.copyOf(modulesToSave);
    }

    /** Parses and validates a config; every refusal is an {@link AdapterFormatException} naming the file and field. */
    public static PeftLoraConfig parse(JsonNode root, Path file) {
        String where = file + ": ";
        if (root == null || !root.isObject()) {
            throw new AdapterFormatException(where + "the config is not a JSON object");
        }
        JsonNode type = root.get("peft_type");
        if (type == null || !type.isTextual() || !type.asText().equals("LORA")) {
            throw new AdapterFormatException(where + "\"peft_type\" is " + type + "; only \"LORA\" adapters are supported");
        }
        var fields = root.fields();
        while (fields.hasNext()) {
            var e = fields.next();
            String key = e.getKey();
            JsonNode v = e.getValue();
            if (UNSUPPORTED.containsKey(key) && !isNeutral(v)) {
                throw new AdapterFormatException(where + "\"" + key + "\" is " + v + ": " + UNSUPPORTED.get(key)
                        + " is not supported");
            }
            if (!UNSUPPORTED.containsKey(key) && !IGNORED.contains(key) && !HANDLED.contains(key) && !isNeutral(v)) {
                throw new AdapterFormatException(where + "unknown field \"" + key + "\" is " + v + "; it is refused"
                        + " rather than ignored since it may change what the adapter computes");
            }
        }
        JsonNode bias = root.get("bias");
        if (bias != null && !bias.isNull() && !(bias.isTextual() && bias.asText().equals("none"))) {
            throw new AdapterFormatException(where + "\"bias\" is " + bias + ": trained biases of the base model are"
                    + " not supported (only \"none\")");
        }
        checkInit(root.get("init_lora_weights"), where);

        int r = positiveInt(root.get("r"), DEFAULT_R, where + "\"r\"");
        double alpha = finite(root.get("lora_alpha"), DEFAULT_LORA_ALPHA, where + "\"lora_alpha\"");
        boolean rsLora = bool(root.get("use_rslora"), where + "\"use_rslora\"");
        boolean fanInFanOut = bool(root.get("fan_in_fan_out"), where + "\"fan_in_fan_out\"");

        Map<String, Integer> rankPattern = new LinkedHashMap<>();
        pattern(root.get("rank_pattern"), "rank_pattern", where)
                .forEach((k, v) -> rankPattern.put(k, positiveInt(v, 0, where + "\"rank_pattern\" key \"" + k + "\"")));
        Map<String, Double> alphaPattern = new LinkedHashMap<>();
        pattern(root.get("alpha_pattern"), "alpha_pattern", where)
                .forEach((k, v) -> alphaPattern.put(k, finite(v, 0, where + "\"alpha_pattern\" key \"" + k + "\"")));
        return new PeftLoraConfig(file, r, alpha, rsLora, fanInFanOut, rankPattern, alphaPattern,
                stringList(root.get("target_modules"), false, where + "\"target_modules\""),
                stringList(root.get("modules_to_save"), true, where + "\"modules_to_save\""));
    }

    /** The file the config was read from (for messages). */
    public Path file() {
        return file;
    }

    public int r() {
        return r;
    }

    public double loraAlpha() {
        return loraAlpha;
    }

    public boolean useRsLora() {
        return useRsLora;
    }

    /** True: the base layer stores its weight in × out (transformers' Conv1D); the LoRA factors are unaffected. */
    public boolean fanInFanOut() {
        return fanInFanOut;
    }

    public Map<String, Integer> rankPattern() {
        return rankPattern;
    }

    public Map<String, Double> alphaPattern() {
        return alphaPattern;
    }

    /** {@code target_modules} when it is a list of names; empty when it is a regex string or absent. */
    public List<String> targetModules() {
        return targetModules;
    }

    public List<String> modulesToSave() {
        return modulesToSave;
    }

    /** The module's rank: its {@code rank_pattern} entry, else {@code r}. */
    public int rankOf(String module) {
        String key = PeftPatternKeys.matchingKey(rankPattern.keySet(), module, file + ": \"rank_pattern\"");
        return key == null ? r : rankPattern.get(key);
    }

    /** The module's {@code lora_alpha}: its {@code alpha_pattern} entry, else {@code lora_alpha}. */
    public double alphaOf(String module) {
        String key = PeftPatternKeys.matchingKey(alphaPattern.keySet(), module, file + ": \"alpha_pattern\"");
        return key == null ? loraAlpha : alphaPattern.get(key);
    }

    /** Which field gave the module's rank, for messages: {@code rank_pattern key "…"} or {@code r}. */
    public String rankSource(String module) {
        String key = PeftPatternKeys.matchingKey(rankPattern.keySet(), module, file + ": \"rank_pattern\"");
        return key == null ? "\"r\"" : "\"rank_pattern\" key \"" + key + "\"";
    }

    /** PEFT's scale: lora_alpha / r, or lora_alpha / √r with use_rslora (per module). */
    public double scaleOf(String module) {
        int k = rankOf(module);
        double a = alphaOf(module);
        return useRsLora ? a / Math.sqrt(k) : a / k;
    }

    private static void checkInit(JsonNode v, String where) {
        if (v == null || v.isNull() || v.isBoolean()) {
            return;
        }
        String text = v.isTextual() ? v.asText().toLowerCase(Locale.ROOT) : v.toString();
        if (PLAIN_INITS.contains(text)) {
            return;
        }
        for (String prefix : BASE_REWRITING_INITS) {
            if (text.startsWith(prefix)) {
                throw new AdapterFormatException(where + "\"init_lora_weights\" is " + v + ": that init rewrites the"
                        + " base weight, which the adapter does not hold; convert it to a plain LoRA in PEFT first"
                        + " (save_pretrained with path_initial_model_for_weight_conversion)");
            }
        }
        throw new AdapterFormatException(where + "\"init_lora_weights\" is " + v + ", not one known to leave the base"
                + " weight unchanged (" + String.join(", ", PLAIN_INITS) + ")");
    }

    private static boolean isNeutral(JsonNode v) {
        return v == null || v.isNull() || v.isBoolean() && !v.asBoolean() || (v.isArray() || v.isObject()) && v.isEmpty();
    }

    private static Map<String, JsonNode> pattern(JsonNode v, String field, String where) {
        Map<String, JsonNode> out = new LinkedHashMap<>();
        if (v == null || v.isNull()) {
            return out;
        }
        if (!v.isObject()) {
            throw new AdapterFormatException(where + "\"" + field + "\" must be an object of pattern → value, got " + v);
        }
        var it = v.fields();
        while (it.hasNext()) {
            var e = it.next();
            try {
                PeftPatternKeys.compile(e.getKey());
            } catch (PatternSyntaxException ex) {
                throw new AdapterFormatException(where + "\"" + field + "\" key \"" + e.getKey() + "\" is not a regular"
                        + " expression this reader can compile: " + ex.getDescription());
            }
            out.put(e.getKey(), e.getValue());
        }
        return out;
    }

    private static int positiveInt(JsonNode v, int absent, String what) {
        if (v == null && absent > 0) {
            return absent;
        }
        if (v == null || !v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 1) {
            throw new AdapterFormatException(what + " must be a positive integer, got " + v);
        }
        return v.asInt();
    }

    private static double finite(JsonNode v, double absent, String what) {
        if (v == null) {
            return absent;
        }
        if (!v.isNumber() || !Double.isFinite(v.asDouble())) {
            throw new AdapterFormatException(what + " must be a finite number, got " + v);
        }
        return v.asDouble();
    }

    private static boolean bool(JsonNode v, String what) {
        if (v == null || v.isNull()) {
            return false;
        }
        if (!v.isBoolean()) {
            throw new AdapterFormatException(what + " must be true or false, got " + v);
        }
        return v.asBoolean();
    }

    /** A list of strings; a single string (a regex in PEFT) gives an empty list unless {@code strict}. */
    private static List<String> stringList(JsonNode v, boolean strict, String what) {
        List<String> out = new ArrayList<>();
        if (v == null || v.isNull() || v.isTextual() && !strict) {
            return out;
        }
        if (!v.isArray()) {
            throw new AdapterFormatException(what + " must be a list of module names, got " + v);
        }
        for (JsonNode e : v) {
            if (!e.isTextual()) {
                throw new AdapterFormatException(what + " must hold strings, got " + e);
            }
            out.add(e.asText());
        }
        return out;
    }
}
