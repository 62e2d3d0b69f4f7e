package io.jnora.peft;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.jnora.AdapterFormatException;
import io.jnora.JnoraException;
import io.jnora.SafetensorsFormatException;
import io.jnora.adapter.AdapterLayer;
import io.jnora.io.SafetensorsFile;
import io.jnora.io.SafetensorsWriter;
import io.jnora.io.TensorInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/**
 * A Hugging Face PEFT LoRA adapter directory (SPEC §2.7, §5): {@code adapter_config.json} and
 * {@code adapter_model.safetensors} with, per module path {@code M} of the base model, the tensors
 * {@code base_model.model.M.lora_A.weight} (r × in) and {@code base_model.model.M.lora_B.weight}
 * (out × r).
 *
 * <p>{@link #read} turns every module into a {@link LoraLayer}, checking it against the config
 * ({@link PeftLoraConfig}) and refusing, never skipping, what it does not support: embedding LoRA,
 * DoRA's magnitude vectors, LoRA biases, trainable tokens, {@code modules_to_save} weights, any
 * other tensor, a factor without its partner, factors whose ranks disagree with each other or with
 * {@code r}/{@code rank_pattern}, non-float or non-finite values, and pickled
 * {@code adapter_model.bin}. Every refusal is an {@link AdapterFormatException} naming the file, the
 * module and the field.
 *
 * <p>{@link #write} writes LoRA layers so that PEFT computes exactly their scale: {@code use_rslora}
 * false and {@code lora_alpha = s·r} per module. The top-level {@code r} and {@code lora_alpha} are
 * the most common among the modules (ties to the first); modules that differ get an entry in
 * {@code rank_pattern} / {@code alpha_pattern} keyed by their full module path, which PEFT matches
 * both with its current regex rule and, in versions before 0.15, by exact name.
 *
 * <p>Thread safety: stateless; thread-safe. Concurrent writes to one directory are not coordinated.
 */
public final class PeftAdapter {
    public static final String CONFIG_FILE = "adapter_config.json";
    public static final String MODEL_FILE = "adapter_model.safetensors";
    /** Pickled PyTorch weights, PEFT's format before safetensors: refused (loading a pickle runs code). */
    public static final String PICKLE_FILE = "adapter_model.bin";
    /** What PEFT prefixes to a base-model module path (PeftModel.base_model is the LoraModel, its .model the base). */
    public static final String TENSOR_PREFIX = "base_model.model.";
    private static final String A_SUFFIX = ".lora_A.weight";
    private static final String B_SUFFIX = ".lora_B.weight";
    /** A PyTorch module path as transformers models have them; "." is the only regex metacharacter allowed. */
    private static final Pattern MODULE_PATH = Pattern.compile("[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*");
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private PeftAdapter() {}

    /** Reads every LoRA module, ordered as {@code target_modules} lists them, then in the file's order. */
    public static Map<String, LoraLayer> read(Path dir) {
        return read(dir, null);
    }

    /**
     * As {@link #read(Path)}, also checking each module against the stored shape of its base weight
     * ({@code [out, in]}, or {@code [in, out]} with {@code fan_in_fan_out}); a module without an entry in
     * {@code baseShapes} is refused, as PEFT refuses a target the model lacks.
     */
    public static Map<String, LoraLayer> read(Path dir, Map<String, long[]> baseShapes) {
        PeftLoraConfig cfg = readConfig(dir);
        Path model = dir.resolve(MODEL_FILE);
        if (!Files.isRegularFile(model)) {
            if (Files.exists(dir.resolve(PICKLE_FILE))) {
                throw new AdapterFormatException(dir.resolve(PICKLE_FILE) + ": pickled PyTorch weights are not supported;"
                        + " save the adapter with safe_serialization=True (" + MODEL_FILE + ")");
            }
            throw new AdapterFormatException(model + ": missing; a PEFT adapter directory holds " + CONFIG_FILE + " and "
                    + MODEL_FILE);
        }
        try (SafetensorsFile st = SafetensorsFile.open(model)) {
            Map<String, String[]> modules = modules(st, cfg, model);
            Map<String, LoraLayer> out = new LinkedHashMap<>();
            for (Map.Entry<String, String[]> e : modules.entrySet()) {
                out.put(e.getKey(), readModule(st, cfg, model, e.getKey(), e.getValue(), baseShapes));
            }
            return out;
        } catch (SafetensorsFormatException e) {
            throw new AdapterFormatException(e.getMessage(), e);  // already names the file and the field
        }
    }

    /** The directory's {@code adapter_config.json}, parsed and validated. */
    public static PeftLoraConfig readConfig(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new AdapterFormatException(dir + (Files.exists(dir) ? ": not a directory" : ": no such directory")
                    + "; a PEFT adapter is a directory holding " + CONFIG_FILE + " and " + MODEL_FILE);
        }
        Path file = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(file)) {
            throw new AdapterFormatException(file + ": missing; a PEFT adapter directory holds " + CONFIG_FILE + " and "
                    + MODEL_FILE);
        }
        JsonNode root;
        try {
            root = JSON.readTree(Files.readAllBytes(file));
        } catch (JsonProcessingException e) {
            throw new AdapterFormatException(file + ": not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new JnoraException(file + ": cannot read (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")", e);
        }
        return PeftLoraConfig.parse(root, file);
    }

    /** Module → {lora_A name, lora_B name}, in the read order; any other tensor is refused by what it is. */
    private static Map<String, String[]> modules(SafetensorsFile st, PeftLoraConfig cfg, Path model) {
        Map<String, String[]> byModule = new LinkedHashMap<>();
        for (String name : st.names()) {
            String rest = name.startsWith(TENSOR_PREFIX) ? name.substring(TENSOR_PREFIX.length()) : null;
            int factor = rest == null ? -1 : rest.endsWith(A_SUFFIX) ? 0 : rest.endsWith(B_SUFFIX) ? 1 : -1;
            String suffix = factor == 0 ? A_SUFFIX : B_SUFFIX;
            if (factor < 0 || rest.length() == suffix.length()) {
                throw new AdapterFormatException(model + ": tensor \"" + name + "\": " + whyRefused(name, rest, cfg));
            }
            String module = rest.substring(0, rest.length() - suffix.length());
            byModule.computeIfAbsent(module, k -> new String[2])[factor] = name;
        }
        if (byModule.isEmpty()) {
            throw new AdapterFormatException(model + ": holds no " + TENSOR_PREFIX + "<module>" + A_SUFFIX + " / " + B_SUFFIX
                    + " tensors");
        }
        List<String> order = new ArrayList<>(byModule.keySet());
        Map<String, Integer> listed = new HashMap<>();
        for (String t : cfg.targetModules()) {
            listed.putIfAbsent(t, listed.size());
        }
        order.sort(Comparator.comparingInt(m -> listed.getOrDefault(m, Integer.MAX_VALUE)));  // stable: file order otherwise
        Map<String, String[]> ordered = new LinkedHashMap<>();
        order.forEach(m -> ordered.put(m, byModule.get(m)));
        return ordered;
    }

    private static String whyRefused(String name, String rest, PeftLoraConfig cfg) {
        if (name.contains("lora_embedding_A") || name.contains("lora_embedding_B")) {
            return "embedding LoRA (lora_embedding_A/B) is not supported";
        }
        if (name.contains("lora_magnitude_vector")) {
            return "DoRA's magnitude vector: DoRA is not supported";
        }
        if (name.endsWith(".lora_A.bias") || name.endsWith(".lora_B.bias")) {
            return "a LoRA bias (lora_bias) is not supported";
        }
        if (name.contains("trainable_tokens")) {
            return "trainable tokens are not supported";
        }
        if (name.contains("modules_to_save") || rest != null && inModulesToSave(rest, cfg.modulesToSave())) {
            return "a modules_to_save weight (a whole module trained and saved beside the adapter) is not supported";
        }
        return "unknown tensor: not " + TENSOR_PREFIX + "<module>" + A_SUFFIX + " or " + B_SUFFIX;
    }

    /** Whether a tensor lies under a module PEFT would match to a modules_to_save entry (equal, or ending in ".name"). */
    private static boolean inModulesToSave(String rest, List<String> modulesToSave) {
        for (int dot = rest.indexOf('.'); dot > 0; dot = rest.indexOf('.', dot + 1)) {
            String module = rest.substring(0, dot);
            for (String t : modulesToSave) {
                if (module.equals(t) || module.endsWith("." + t)) {
                    return true;
                }
            }
        }
        return false;
    }

    private static LoraLayer readModule(SafetensorsFile st, PeftLoraConfig cfg, Path model, String module, String[] names,
            Map<String, long[]> baseShapes) {
        String where = model + ": module \"" + module + "\": ";
        if (names[0] == null || names[1] == null) {
            throw new AdapterFormatException(where + (names[0] == null ? "lora_A" : "lora_B") + ".weight is missing ("
                    + (names[0] == null ? "lora_B" : "lora_A") + ".weight is present)");
        }
        TensorInfo a = factor(st, where, names[0], "lora_A.weight");
        TensorInfo b = factor(st, where, names[1], "lora_B.weight");
        long rankA = a.shape()[0];
        long in = a.shape()[1];
        long out = b.shape()[0];
        long rankB = b.shape()[1];
        if (rankA != rankB) {
            throw new AdapterFormatException(where + "lora_A.weight " + Arrays.toString(a.shape()) + " and lora_B.weight "
                    + Arrays.toString(b.shape()) + " disagree on the rank (" + rankA + " vs " + rankB + ")");
        }
        int want = cfg.rankOf(module);
        if (rankA != want) {
            throw new AdapterFormatException(where + "lora_A.weight has rank " + rankA + " but " + cfg.rankSource(module)
                    + " of " + cfg.file().getFileName() + " gives r = " + want);
        }
        if (baseShapes != null) {
            long[] base = baseShapes.get(module);
            long[] expected = cfg.fanInFanOut() ? new long[] {in, out} : new long[] {out, in};
            if (base == null) {
                throw new AdapterFormatException(where + "the base model has no weight for this module");
            }
            if (!Arrays.equals(base, expected)) {
                throw new AdapterFormatException(where + "lora_A.weight " + Arrays.toString(a.shape()) + " and lora_B.weight "
                        + Arrays.toString(b.shape()) + " need a base weight " + Arrays.toString(expected)
                        + (cfg.fanInFanOut() ? " (in × out: fan_in_fan_out)" : " (out × in)") + ", the base model's is "
                        + Arrays.toString(base));
            }
        }
        float[] loraA = finiteValues(st, where, names[0], "lora_A.weight", in);
        float[] loraB = finiteValues(st, where, names[1], "lora_B.weight", rankA);
        double scale = cfg.scaleOf(module);
        if (!Float.isFinite((float) scale)) {
            throw new AdapterFormatException(where + "the scale lora_alpha/" + (cfg.useRsLora() ? "√r" : "r") + " = " + scale
                    + " is not a finite float");
        }
        return new LoraLayer(module, (int) in, (int) out, want, cfg.alphaOf(module), cfg.useRsLora(), (float) scale,
                cfg.fanInFanOut(), loraA, loraB);
    }

    private static TensorInfo factor(SafetensorsFile st, String where, String name, String field) {
        TensorInfo t = st.tensor(name);
        if (!t.dtype().isFloat()) {
            throw new AdapterFormatException(where + field + " has dtype " + t.dtype() + "; LoRA factors must be F32, F16"
                    + " or BF16");
        }
        long[] shape = t.shape();
        if (shape.length != 2 || shape[0] < 1 || shape[1] < 1 || shape[0] > Integer.MAX_VALUE
                || shape[1] > Integer.MAX_VALUE) {
            throw new AdapterFormatException(where + field + " has shape " + Arrays.toString(shape) + "; a linear layer's"
                    + " LoRA factor is a non-empty matrix (convolution LoRA is not supported)");
        }
        return t;
    }

    private static float[] finiteValues(SafetensorsFile st, String where, String name, String field, long cols) {
        float[] v = st.readFloats(name);
        for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(v[i])) {
                throw new AdapterFormatException(where + field + " element [" + i / cols + ", " + i % cols + "] is " + v[i]);
            }
        }
        return v;
    }

    /**
     * Exports nested layers (SPEC §2.7) under the module paths {@code modulePrefix + layer name} and
     * returns the LoRA layers written.
     */
    public static List<LoraLayer> export(Path dir, List<AdapterLayer> layers, String modulePrefix) {
        List<LoraLayer> lora = new ArrayList<>();
        for (AdapterLayer l : layers) {
            lora.add(LoraLayer.fromNested(l, modulePrefix + l.name()));
        }
        write(dir, lora);
        return lora;
    }

    /**
     * Writes {@code adapter_config.json} and {@code adapter_model.safetensors} (F32) into {@code dir},
     * created if needed (its parent must exist). Nothing half-written is ever visible: a new directory
     * is filled beside its final name and renamed into place, so both files appear at once; into an
     * existing directory each file is written to a temporary name and renamed, the model first, the
     * config (which PEFT reads first) last. On failure the temporary files are removed.
     */
    public static void write(Path dir, List<LoraLayer> layers) {
        Objects.requireNonNull(dir, "dir");
        byte[] config = configJson(layers);
        SafetensorsWriter tensors = new SafetensorsWriter().metadata("format", "pt");  // as PEFT writes it
        for (LoraLayer l : layers) {
            tensors.add(TENSOR_PREFIX + l.name() + A_SUFFIX, l.loraA(), l.rank(), l.inFeatures());
            tensors.add(TENSOR_PREFIX + l.name() + B_SUFFIX, l.loraB(), l.outFeatures(), l.rank());
        }
        Path target = dir.toAbsolutePath().normalize();
        if (Files.exists(target) && !Files.isDirectory(target)) {
            throw new IllegalArgumentException(dir + ": exists and is not a directory");
        }
        Path parent = target.getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw new IllegalArgumentException(dir + ": the parent directory " + parent + " does not exist");
        }
        String tag = Long.toHexString(ThreadLocalRandom.current().nextLong());
        boolean fresh = !Files.exists(target);
        Path staging = fresh ? parent.resolve("." + target.getFileName() + "." + tag + ".tmp") : target;
        Path modelTemp = staging.resolve(fresh ? MODEL_FILE : "." + MODEL_FILE + "." + tag + ".tmp");
        Path configTemp = staging.resolve(fresh ? CONFIG_FILE : "." + CONFIG_FILE + "." + tag + ".tmp");
        try {
            if (fresh) {
                Files.createDirectory(staging);
            }
            tensors.write(modelTemp);
            writeForced(configTemp, config);
            if (fresh) {
                Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
            } else {
                replace(modelTemp, target.resolve(MODEL_FILE));
                replace(configTemp, target.resolve(CONFIG_FILE));
            }
        } catch (IOException e) {
            JnoraException failure = new JnoraException(dir + ": cannot write the PEFT adapter ("
                    + e.getClass().getSimpleName() + ": " + e.getMessage() + ")", e);
            cleanUp(fresh, staging, modelTemp, configTemp, failure);
            throw failure;
        } catch (RuntimeException | Error e) {
            cleanUp(fresh, staging, modelTemp, configTemp, e);
            throw e;
        }
    }

    /** adapter_config.json for the layers: validated names, top-level values, patterns checked by re-resolving. */
    static byte[] configJson(List<LoraLayer> layers) {
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("PeftAdapter.write: no layers to write");
        }
        Set<String> names = new HashSet<>();
        List<Integer> ranks = new ArrayList<>();
        List<Double> alphas = new ArrayList<>();
        for (LoraLayer l : layers) {
            if (!MODULE_PATH.matcher(l.name()).matches()) {
                throw new IllegalArgumentException("PeftAdapter.write: \"" + l.name() + "\" is not a module path (names"
                        + " of letters, digits, '_' or '-' joined by '.'), which PEFT's tensor names and pattern keys need");
            }
            if (!names.add(l.name())) {
                throw new IllegalArgumentException("PeftAdapter.write: module \"" + l.name() + "\" appears twice");
            }
            if (l.fanInFanOut() != layers.get(0).fanInFanOut()) {
                throw new IllegalArgumentException("PeftAdapter.write: fan_in_fan_out is one value for a whole PEFT"
                        + " adapter, but \"" + layers.get(0).name() + "\" and \"" + l.name() + "\" differ");
            }
            ranks.add(l.rank());
            alphas.add(exportAlpha(l));
        }
        int r = mostCommon(ranks);
        double alpha = mostCommon(alphas);
        Map<String, Object> rankPattern = new LinkedHashMap<>();
        Map<String, Object> alphaPattern = new LinkedHashMap<>();
        for (LoraLayer l : layers) {
            if (l.rank() != r) {
                rankPattern.put(l.name(), l.rank());
            }
            if (exportAlpha(l) != alpha) {
                alphaPattern.put(l.name(), number(exportAlpha(l)));
            }
        }
        for (LoraLayer l : layers) {  // a key is a regex in PEFT: make sure none gives another module a wrong value
            String rk = PeftPatternKeys.matchingKey(rankPattern.keySet(), l.name());
            String ak = PeftPatternKeys.matchingKey(alphaPattern.keySet(), l.name());
            Object rank = rk == null ? r : rankPattern.get(rk);
            Object a = ak == null ? number(alpha) : alphaPattern.get(ak);
            boolean rankWrong = !rank.equals(l.rank());
            if (rankWrong || !a.equals(number(exportAlpha(l)))) {
                String key = rankWrong ? rk : ak;
                throw new IllegalArgumentException("PeftAdapter.write: in PEFT the pattern key \"" + key + "\" would also"
                        + " match module \"" + l.name() + "\" and give it " + (rankWrong ? "r = " + rank : "lora_alpha = " + a)
                        + "; rename one of them");
            }
        }
        Map<String, Object> cfg = new TreeMap<>();  // sorted keys, as PEFT's save_pretrained writes them
        cfg.put("peft_type", "LORA");
        cfg.put("task_type", null);
        cfg.put("base_model_name_or_path", null);
        cfg.put("revision", null);
        cfg.put("inference_mode", true);
        cfg.put("r", r);
        cfg.put("lora_alpha", number(alpha));
        cfg.put("use_rslora", false);
        cfg.put("target_modules", layers.stream().map(LoraLayer::name).toList());
        cfg.put("rank_pattern", rankPattern);
        cfg.put("alpha_pattern", alphaPattern);
        cfg.put("init_lora_weights", true);
        cfg.put("fan_in_fan_out", layers.get(0).fanInFanOut());
        cfg.put("lora_dropout", 0.0);
        cfg.put("bias", "none");
        cfg.put("use_dora", false);
        cfg.put("modules_to_save", null);
        cfg.put("layers_to_transform", null);
        cfg.put("layers_pattern", null);
        try {
            return JSON.writeValueAsBytes(cfg);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("adapter_config.json could not be serialised", e);
        }
    }

    /** lora_alpha = s·r, exact in double for a float s, so that PEFT's lora_alpha / r is exactly s (SPEC §2.7). */
    private static double exportAlpha(LoraLayer l) {
        return (double) l.scale() * l.rank();
    }

    /** An integral alpha as an integer (LoraConfig types it int), any other as the double that reads back exactly. */
    private static Object number(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? (Object) (long) v : (Object) v;
    }

    /** The most common value, ties to the one that comes first. */
    private static <T> T mostCommon(List<T> values) {
        Map<T, Integer> count = new HashMap<>();
        values.forEach(v -> count.merge(v, 1, Integer::sum));
        T best = values.get(0);
        for (T v : values) {
            if (count.get(v) > count.get(best)) {
                best = v;
            }
        }
        return best;
    }

    private static void writeForced(Path file, byte[] content) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer buffer = ByteBuffer.wrap(content);
            while (buffer.hasRemaining()) {
                ch.write(buffer);
            }
            ch.force(true);
        }
    }

    private static void replace(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void cleanUp(boolean fresh, Path staging, Path modelTemp, Path configTemp, Throwable failure) {
        try {
            if (fresh) {
                if (Files.isDirectory(staging)) {
                    try (DirectoryStream<Path> entries = Files.newDirectoryStream(staging)) {
                        for (Path p : entries) {
                            Files.deleteIfExists(p);
                        }
                    }
                    Files.deleteIfExists(staging);
                }
            } else {
                Files.deleteIfExists(modelTemp);
                Files.deleteIfExists(configTemp);
            }
        } catch (IOException e) {
            failure.addSuppressed(e);
        }
    }
}
