package io.jnora.adapter;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jnora.AdapterFormatException;
import io.jnora.Jnora;
import io.jnora.io.SafetensorsFile;
import io.jnora.io.SafetensorsWriter;
import io.jnora.io.TensorInfo;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Nested adapter files (SPEC §5): safetensors with, per layer L, {@code L.nora.A} (r×n),
 * {@code L.nora.B} (m×r), {@code L.nora.A_inner} (r_in×r), {@code L.nora.B_inner} (r×r_in), for
 * the SIGMA init also {@code L.nora.A_inner0} and {@code L.nora.B_inner0}, and under the metadata
 * key {@code jnora} a JSON string: {@code {"version": ..., "layers": {L: {r, r_in, alpha, rule, s,
 * scale_mode, init, split, svd, m, n}}}}. Reading checks every tensor against the metadata and
 * refuses anything inconsistent or left over, naming the file, the layer and the field.
 *
 * <p>Thread safety: stateless; concurrent reads are safe, concurrent writes to one target leave one complete file (atomic rename).
 */
public final class NestedAdapterFile {
    public static final String METADATA_KEY = "jnora";
    private static final ObjectMapper JSON = new ObjectMapper();

    private NestedAdapterFile() {}

    /** Writes the layers (in the map's order) atomically. */
    public static void write(Path file, List<AdapterLayer> layers) {
        write(file, layers, Map.of());
    }

    /**
     * Writes the layers atomically, with further {@code __metadata__} entries beside {@code jnora}
     * (e.g. the recovery's record of its base weight); readers ignore keys they do not know.
     */
    public static void write(Path file, List<AdapterLayer> layers, Map<String, String> extraMetadata) {
        if (extraMetadata.containsKey(METADATA_KEY)) {
            throw new IllegalArgumentException("NestedAdapterFile.write: the metadata key '" + METADATA_KEY
                    + "' is the adapter's own");
        }
        SafetensorsWriter writer = new SafetensorsWriter();
        writer.metadata(extraMetadata);
        ObjectNode root = JSON.createObjectNode();
        root.put("version", Jnora.VERSION);
        ObjectNode meta = root.putObject("layers");
        Set<String> names = new HashSet<>();
        for (AdapterLayer l : layers) {
            if (!names.add(l.name())) {
                throw new IllegalArgumentException("NestedAdapterFile.write: layer name '" + l.name() + "' appears twice");
            }
            ObjectNode m = meta.putObject(l.name());
            m.put("m", l.outFeatures());
            m.put("n", l.inFeatures());
            m.put("r", l.outerRank());
            m.put("r_in", l.innerRank());
            m.put("alpha", l.alpha());
            m.put("rule", l.rule());
            m.put("s", l.scale());
            m.put("scale_mode", l.scaleMode());
            m.put("init", l.init());
            m.put("split", l.split());
            m.put("svd", l.svd());
            String p = l.name() + ".nora.";
            writer.add(p + "A", l.outerA(), l.outerRank(), l.inFeatures());
            writer.add(p + "B", l.outerB(), l.outFeatures(), l.outerRank());
            writer.add(p + "A_inner", l.innerA(), l.innerRank(), l.outerRank());
            writer.add(p + "B_inner", l.innerB(), l.outerRank(), l.innerRank());
            if (l.usesResidualBase()) {
                writer.add(p + "A_inner0", l.innerA0(), l.innerRank(), l.outerRank());
                writer.add(p + "B_inner0", l.innerB0(), l.outerRank(), l.innerRank());
            }
        }
        try {
            writer.metadata(METADATA_KEY, JSON.writeValueAsString(root));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("adapter metadata could not be serialised", e);
        }
        writer.write(file);
    }

    /** Reads every layer, in the metadata's order. */
    public static Map<String, AdapterLayer> read(Path file) {
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            JsonNode root = MetadataJson.read(st, file, METADATA_KEY, "nested adapter");
            JsonNode layers = root == null ? null : root.get("layers");
            if (layers == null || !layers.isObject() || layers.isEmpty()) {
                throw new AdapterFormatException(file + ": __metadata__." + METADATA_KEY + " has no \"layers\" object");
            }
            Map<String, AdapterLayer> out = new LinkedHashMap<>();
            Set<String> used = new HashSet<>();
            var it = layers.fields();
            while (it.hasNext()) {
                var e = it.next();
                out.put(e.getKey(), readLayer(st, file, e.getKey(), e.getValue(), used));
            }
            for (String name : st.names()) {
                if (!used.contains(name)) {
                    throw new AdapterFormatException(file + ": tensor \"" + name + "\" belongs to no layer of the metadata "
                            + out.keySet());
                }
            }
            return out;
        }
    }

    /** The one layer of a file, or the one named; a clear error listing the layers otherwise. */
    public static AdapterLayer readLayer(Path file, String name) {
        Map<String, AdapterLayer> all = read(file);
        if (name == null) {
            if (all.size() != 1) {
                throw new AdapterFormatException(file + ": holds " + all.size() + " layers " + all.keySet()
                        + "; name one with --layer");
            }
            return all.values().iterator().next();
        }
        AdapterLayer l = all.get(name);
        if (l == null) {
            throw new AdapterFormatException(file + ": no layer \"" + name + "\" (layers: " + all.keySet() + ")");
        }
        return l;
    }

    private static AdapterLayer readLayer(SafetensorsFile st, Path file, String name, JsonNode meta, Set<String> used) {
        String where = file + ": layer \"" + name + "\": ";
        if (!meta.isObject()) {
            throw new AdapterFormatException(where + "metadata is not an object");
        }
        int m = MetadataJson.integer(meta, "m", where, 1);
        int n = MetadataJson.integer(meta, "n", where, 1);
        int r = MetadataJson.integer(meta, "r", where, 1);
        int rIn = MetadataJson.integer(meta, "r_in", where, 1);
        if (r > Math.min(m, n) || rIn > r) {
            throw new AdapterFormatException(where + "ranks r = " + r + ", r_in = " + rIn + " do not fit a " + m + "×" + n
                    + " layer (need 1 ≤ r_in ≤ r ≤ min(m, n))");
        }
        double alpha = MetadataJson.finite(meta, "alpha", where);
        float s = float32Scale(meta, where);
        String init = MetadataJson.text(meta, "init", where);
        String p = name + ".nora.";
        float[] a = tensor(st, where, p + "A", used, r, n);
        float[] b = tensor(st, where, p + "B", used, m, r);
        float[] ai = tensor(st, where, p + "A_inner", used, rIn, r);
        float[] bi = tensor(st, where, p + "B_inner", used, r, rIn);
        float[] ai0 = null;
        float[] bi0 = null;
        boolean sigma = "sigma".equals(init);
        if (sigma) {
            ai0 = tensor(st, where, p + "A_inner0", used, rIn, r);
            bi0 = tensor(st, where, p + "B_inner0", used, r, rIn);
        }
        return new AdapterLayer(name, m, n, r, rIn, alpha, MetadataJson.text(meta, "rule", where), s,
                MetadataJson.text(meta, "scale_mode", where), init, MetadataJson.text(meta, "split", where), MetadataJson.text(meta, "svd", where), a, b, ai, bi,
                ai0, bi0);
    }

    /**
     * The scale s as the layer holds it, a float32: a finite double beyond float range would become ∞,
     * and a non-zero one below it 0 (an adapter silently switched off), so both are refused.
     */
    private static float float32Scale(JsonNode meta, String where) {
        double s = MetadataJson.finite(meta, "s", where);
        float f = (float) s;
        if (!Float.isFinite(f) || (f == 0 && s != 0)) {
            throw new AdapterFormatException(where + "field \"s\" = " + s + " does not fit a float32 (the scale is held "
                    + "as one: " + Float.MIN_VALUE + " ≤ |s| ≤ " + Float.MAX_VALUE + ")");
        }
        return f;
    }

    private static float[] tensor(SafetensorsFile st, String where, String name, Set<String> used, int rows, int cols) {
        if (!st.contains(name)) {
            throw new AdapterFormatException(where + "tensor \"" + name + "\" is missing");
        }
        TensorInfo info = st.tensor(name);
        long[] want = {rows, cols};
        if (!Arrays.equals(info.shape(), want)) {
            throw new AdapterFormatException(where + "tensor \"" + name + "\" has shape " + Arrays.toString(info.shape())
                    + ", the metadata says " + Arrays.toString(want));
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
