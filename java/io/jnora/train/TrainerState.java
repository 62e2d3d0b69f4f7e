package io.jnora.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jnora.AdapterFormatException;
import io.jnora.adapter.MetadataJson;
import io.jnora.Jnora;
import io.jnora.io.SafetensorsFile;
import io.jnora.io.SafetensorsWriter;
import io.jnora.io.TensorInfo;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A trainer's optimiser state as saved beside its adapter (SPEC §2.10): a safetensors file with, per
 * layer L, the AdamW moments {@code L.nora.A_inner.exp_avg}, {@code L.nora.A_inner.exp_avg_sq}
 * (r_in×r), {@code L.nora.B_inner.exp_avg}, {@code L.nora.B_inner.exp_avg_sq} (r×r_in), all F32 (so a
 * resumed run continues bit for bit), and under the metadata key {@code jnora_optimizer} a JSON
 * string: {@code {"version", "optimizer": "adamw", "step", "lr", "beta1", "beta2", "eps",
 * "weight_decay", "max_grad_norm", "warmup_steps", "total_steps", "dropout", "seed", "layers":
 * [{"name", "r", "r_in"}]}} (total_steps 0: constant schedule). Reading checks every tensor against
 * the metadata and refuses anything inconsistent or left over, naming the file and the field.
 *
 * <p>Thread safety: an immutable snapshot (its arrays are not copied: do not write to them); reading and writing are stateless.
 *
 * @param step the number of updates taken
 * @param layers the moments per layer, in the trainer's order
 */
public record TrainerState(int step, AdamWConfig optimizer, double dropout, long seed, List<LayerMoments> layers) {
    public static final String METADATA_KEY = "jnora_optimizer";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One layer's moments (row-major, the shapes of A' and B'). */
    public record LayerMoments(String name, int outerRank, int innerRank, float[] expAvgA, float[] expAvgSqA,
            float[] expAvgB, float[] expAvgSqB) {}

    /** Writes the state atomically (temporary file, then a rename). */
    public void write(Path file) {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", Jnora.VERSION);
        root.put("optimizer", "adamw");
        root.put("step", step);
        root.put("lr", optimizer.learningRate());
        root.put("beta1", optimizer.beta1());
        root.put("beta2", optimizer.beta2());
        root.put("eps", optimizer.epsilon());
        root.put("weight_decay", optimizer.weightDecay());
        root.put("max_grad_norm", optimizer.maxGradNorm());
        root.put("warmup_steps", optimizer.schedule().warmupSteps());
        root.put("total_steps", optimizer.schedule().totalSteps());
        root.put("dropout", dropout);
        root.put("seed", seed);
        ArrayNode names = root.putArray("layers");
        SafetensorsWriter writer = new SafetensorsWriter();
        for (LayerMoments l : layers) {
            names.addObject().put("name", l.name()).put("r", l.outerRank()).put("r_in", l.innerRank());
            String p = l.name() + ".nora.";
            writer.add(p + "A_inner.exp_avg", l.expAvgA(), l.innerRank(), l.outerRank());
            writer.add(p + "A_inner.exp_avg_sq", l.expAvgSqA(), l.innerRank(), l.outerRank());
            writer.add(p + "B_inner.exp_avg", l.expAvgB(), l.outerRank(), l.innerRank());
            writer.add(p + "B_inner.exp_avg_sq", l.expAvgSqB(), l.outerRank(), l.innerRank());
        }
        try {
            writer.metadata(METADATA_KEY, JSON.writeValueAsString(root));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("optimizer state metadata could not be serialised", e);
        }
        writer.write(file);
    }

    /** Reads and validates a state file. */
    public static TrainerState read(Path file) {
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            JsonNode root = MetadataJson.read(st, file, METADATA_KEY, "optimizer state");
            String where = file + ": __metadata__." + METADATA_KEY + ": ";
            if (root == null || !root.isObject()) {
                throw new AdapterFormatException(where + "not a JSON object");
            }
            JsonNode kind = root.get("optimizer");
            if (kind == null || !"adamw".equals(kind.asText())) {
                throw new AdapterFormatException(where + "field \"optimizer\" must be \"adamw\", got " + kind);
            }
            int step = MetadataJson.integer(root, "step", where, 0);
            AdamWConfig cfg;
            try {
                int total = MetadataJson.integer(root, "total_steps", where, 0);
                cfg = AdamWConfig.builder().learningRate(MetadataJson.finite(root, "lr", where))
                        .betas(MetadataJson.finite(root, "beta1", where), MetadataJson.finite(root, "beta2", where))
                        .epsilon(MetadataJson.finite(root, "eps", where)).weightDecay(MetadataJson.finite(root, "weight_decay", where))
                        .maxGradNorm(MetadataJson.finite(root, "max_grad_norm", where))
                        .schedule(total == 0 ? LearningRateSchedule.constant()
                                : LearningRateSchedule.warmupCosine(MetadataJson.integer(root, "warmup_steps", where, 0), total))
                        .build();
            } catch (InvalidHyperparameterException e) {
                throw new AdapterFormatException(where + e.getMessage());
            }
            double dropout = MetadataJson.finite(root, "dropout", where);
            JsonNode seedNode = root.get("seed");
            if (seedNode == null || !seedNode.isIntegralNumber() || !seedNode.canConvertToLong()) {
                throw new AdapterFormatException(where + "field \"seed\" must be an integer, got " + seedNode);
            }
            JsonNode layerNodes = root.get("layers");
            if (layerNodes == null || !layerNodes.isArray() || layerNodes.isEmpty()) {
                throw new AdapterFormatException(where + "field \"layers\" must be a non-empty array");
            }
            Set<String> used = new HashSet<>();
            List<LayerMoments> layers = new ArrayList<>();
            for (JsonNode l : layerNodes) {
                JsonNode nameNode = l.get("name");
                if (nameNode == null || !nameNode.isTextual()) {
                    throw new AdapterFormatException(where + "a layer has no \"name\" string: " + l);
                }
                String name = nameNode.asText();
                String at = file + ": layer \"" + name + "\": ";
                int r = MetadataJson.integer(l, "r", at, 1);
                int rIn = MetadataJson.integer(l, "r_in", at, 1);
                String p = name + ".nora.";
                layers.add(new LayerMoments(name, r, rIn, tensor(st, at, p + "A_inner.exp_avg", used, rIn, r),
                        tensor(st, at, p + "A_inner.exp_avg_sq", used, rIn, r), tensor(st, at, p + "B_inner.exp_avg", used, r, rIn),
                        tensor(st, at, p + "B_inner.exp_avg_sq", used, r, rIn)));
            }
            for (String name : st.names()) {
                if (!used.contains(name)) {
                    throw new AdapterFormatException(file + ": tensor \"" + name + "\" belongs to no layer of the metadata");
                }
            }
            return new TrainerState(step, cfg, dropout, seedNode.asLong(), List.copyOf(layers));
        }
    }

    /** Throws, naming the field, unless a trainer with these settings and layers can continue from this state. */
    void requireCompatible(Path file, AdamWConfig cfg, double trainerDropout, long trainerSeed, List<String> names) {
        String where = file + ": the state was saved ";
        if (!optimizer.equals(cfg)) {
            throw new AdapterFormatException(where + "with " + optimizer + " but this trainer has " + cfg);
        }
        if (Double.compare(dropout, trainerDropout) != 0 || seed != trainerSeed) {
            throw new AdapterFormatException(where + "with dropout " + dropout + " and seed " + seed + " but this trainer has "
                    + "dropout " + trainerDropout + " and seed " + trainerSeed);
        }
        List<String> saved = layers.stream().map(LayerMoments::name).toList();
        if (!saved.equals(names)) {
            throw new AdapterFormatException(where + "for layers " + saved + " but this trainer has " + names);
        }
    }

    private static float[] tensor(SafetensorsFile st, String where, String name, Set<String> used, int rows, int cols) {
        if (!st.contains(name)) {
            throw new AdapterFormatException(where + "tensor \"" + name + "\" is missing");
        }
        TensorInfo info = st.tensor(name);
        long[] want = {rows, cols};
        if (!Arrays.equals(info.shape(), want) || info.dtype() != io.jnora.io.Dtype.F32) {
            throw new AdapterFormatException(where + "tensor \"" + name + "\" is " + info.dtype() + " "
                    + Arrays.toString(info.shape()) + ", expected F32 " + Arrays.toString(want) + " (moments are kept exact)");
        }
        float[] values = st.readFloats(name);
        for (int i = 0; i < values.length; i++) {
            if (!Float.isFinite(values[i])) {
                throw new AdapterFormatException(where + "tensor \"" + name + "\" element [" + i / cols + ", " + i % cols
                        + "] is " + values[i]);
            }
        }
        used.add(name);
        return values;
    }
}
