package io.jnora.adapter;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jnora.AdapterFormatException;
import io.jnora.io.SafetensorsFile;
import java.nio.file.Path;

/**
 * The JSON string jnora keeps under a key of a safetensors file's __metadata__ (adapter files,
 * optimiser state), and its typed fields: every failure is an {@link AdapterFormatException} naming
 * the file and the field. Thread-safe (stateless).
 */
public final class MetadataJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private MetadataJson() {}

    /** The parsed JSON under {@code key}; {@code kind} says what the file should be, for the message. */
    public static JsonNode read(SafetensorsFile st, Path file, String key, String kind) {
        String json = st.metadata().get(key);
        if (json == null) {
            throw new AdapterFormatException(file + ": no \"" + key + "\" entry in __metadata__: not a jnora " + kind
                    + " (keys: " + st.metadata().keySet() + ")");
        }
        try {
            return JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new AdapterFormatException(file + ": __metadata__." + key + " is not valid JSON: " + e.getOriginalMessage());
        }
    }

    /** An integer field ≥ {@code min}. */
    public static int integer(JsonNode node, String field, String where, int min) {
        JsonNode v = node.get(field);
        if (v == null || !v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < min) {
            throw new AdapterFormatException(where + "field \"" + field + "\" must be an integer ≥ " + min + ", got " + v);
        }
        return v.asInt();
    }

    /** A finite number field. */
    public static double finite(JsonNode node, String field, String where) {
        JsonNode v = node.get(field);
        if (v == null || !v.isNumber() || !Double.isFinite(v.asDouble())) {
            throw new AdapterFormatException(where + "field \"" + field + "\" must be a finite number, got " + v);
        }
        return v.asDouble();
    }

    /** A string field. */
    public static String text(JsonNode node, String field, String where) {
        JsonNode v = node.get(field);
        if (v == null || !v.isTextual()) {
            throw new AdapterFormatException(where + "field \"" + field + "\" must be a string, got " + v);
        }
        return v.asText();
    }
}
