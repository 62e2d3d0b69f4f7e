package io.jnora.aira;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jnora.JnoraException;
import io.jnora.LayersFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The {@code ranks} command's files (SPEC §6). In: {@code {"layers": [{"name", "m", "n",
 * "outlier_ratio"[, "outer_rank"]}, ...]}} in depth order ({@code outer_rank} required with the nested
 * cost model; other fields are ignored). Out: {@code {"ranks": {name: r, ...}, "objective": x, "cost": c}}.
 * A malformed input is a {@link LayersFormatException} naming the file and the field; JSON with a
 * repeated key or trailing content is malformed too.
 *
 * <p>Thread safety: stateless; thread-safe. Concurrent writes to one target leave one complete file (atomic rename).
 */
public final class AllocationJson {
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .build();

    private AllocationJson() {}

    /** The layers of {@code file}, validated for {@code costModel}. */
    public static List<LayerSpec> readLayers(Path file, CostModel costModel) {
        Objects.requireNonNull(costModel, "costModel");
        JsonNode root;
        try {
            root = JSON.readTree(Files.readAllBytes(file));
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            throw new LayersFormatException(file + ": not valid JSON (" + e.getOriginalMessage().lines().findFirst().orElse("")
                    + (at == null ? "" : " at line " + at.getLineNr() + ", column " + at.getColumnNr()) + ")", e);
        } catch (IOException e) {
            throw new LayersFormatException(file + ": cannot read (" + e.getClass().getSimpleName()
                    + (e.getMessage() == null ? "" : ": " + e.getMessage()) + ")", e);
        }
        if (root == null || !root.isObject()) {
            throw new LayersFormatException(file + ": expected a JSON object {\"layers\": [...]}");
        }
        JsonNode list = root.get("layers");
        if (list == null) {
            throw new LayersFormatException(file + ": field \"layers\" is missing");
        }
        if (!list.isArray() || list.isEmpty()) {
            throw new LayersFormatException(file + ": \"layers\" must be a non-empty array, got " + brief(list));
        }
        List<LayerSpec> layers = new ArrayList<>(list.size());
        Map<String, Integer> seen = new HashMap<>();
        for (int i = 0; i < list.size(); i++) {
            JsonNode entry = list.get(i);
            String where = file + ": layers[" + i + "]";
            if (!entry.isObject()) {
                throw new LayersFormatException(where + ": expected an object, got " + brief(entry));
            }
            JsonNode nameNode = entry.get("name");
            if (nameNode == null) {
                throw new LayersFormatException(where + ".name: missing");
            }
            if (!nameNode.isTextual() || nameNode.asText().isBlank()) {
                throw new LayersFormatException(where + ".name: expected a non-empty string, got " + brief(nameNode));
            }
            String name = nameNode.asText();
            Integer earlier = seen.put(name, i);
            if (earlier != null) {
                throw new LayersFormatException(where + ".name: duplicate name \"" + name + "\" (also layers[" + earlier + "])");
            }
            String named = where + " (\"" + name + "\")";
            int m = positiveInt(entry, "m", named);
            int n = positiveInt(entry, "n", named);
            JsonNode ratio = entry.get("outlier_ratio");
            if (ratio == null) {
                throw new LayersFormatException(named + ".outlier_ratio: missing");
            }
            if (!ratio.isNumber() || !Double.isFinite(ratio.asDouble()) || ratio.asDouble() < 0 || ratio.asDouble() > 1) {
                throw new LayersFormatException(named + ".outlier_ratio: expected a number in [0, 1], got " + brief(ratio));
            }
            OptionalInt outer = OptionalInt.empty();
            if (entry.has("outer_rank")) {
                int r = positiveInt(entry, "outer_rank", named);
                if (r > Math.min(m, n)) {
                    throw new LayersFormatException(named + ".outer_rank: " + r + " exceeds min(m, n) = " + Math.min(m, n));
                }
                outer = OptionalInt.of(r);
            } else if (costModel == CostModel.NESTED) {
                throw new LayersFormatException(named + ".outer_rank: missing (the nested cost model needs each layer's outer rank)");
            }
            layers.add(new LayerSpec(name, m, n, ratio.asDouble(), outer));
        }
        return List.copyOf(layers);
    }

    /**
     * Writes the allocation atomically (a temporary file in the same directory, then a move), replacing
     * any file of that name; on failure no partial or temporary file is left. A file-system failure is
     * a {@link JnoraException} naming the file.
     */
    public static void writeRanks(Path file, RankAllocation allocation) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode ranks = root.putObject("ranks");
        allocation.byLayer().forEach(ranks::put);
        root.put("objective", allocation.objective());
        root.put("cost", allocation.cost());
        byte[] bytes;
        try {
            bytes = (JSON.writeValueAsString(root) + "\n").getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new JnoraException(file + ": cannot encode the allocation as JSON (" + e.getOriginalMessage() + ")", e);
        }
        Path target = file.toAbsolutePath();
        Path temporary = target.resolveSibling("." + target.getFileName() + "."
                + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        try {
            try (FileChannel channel = FileChannel.open(temporary, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                ByteBuffer buffer = ByteBuffer.wrap(bytes);
                while (buffer.hasRemaining()) {
                    channel.write(buffer);
                }
                channel.force(true);
            }
            try {
                Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temporary, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            try {
                Files.deleteIfExists(temporary);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw new JnoraException(file + ": cannot write the ranks (" + e.getClass().getSimpleName()
                    + (e.getMessage() == null ? "" : ": " + e.getMessage()) + ")", e);
        }
    }

    private static int positiveInt(JsonNode entry, String field, String where) {
        JsonNode v = entry.get(field);
        if (v == null) {
            throw new LayersFormatException(where + "." + field + ": missing");
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 1) {
            throw new LayersFormatException(where + "." + field + ": expected a positive integer, got " + brief(v));
        }
        return v.asInt();
    }

    /** A JSON value as it appears in a message: its text, shortened. */
    private static String brief(JsonNode node) {
        String text = node.toString();
        return text.length() > 40 ? text.substring(0, 37) + "..." : text;
    }
}
