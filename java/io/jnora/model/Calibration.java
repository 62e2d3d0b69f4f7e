package io.jnora.model;

import io.jnora.stats.ActivationStats;
import io.jnora.stats.LayerStatistics;
import io.jnora.text.Encoding;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Runs the encoder over text and keeps, per linear layer (by module path), what initialisation and
 * its evaluation need: activation statistics of the layer's input rows ({@link #statistics}), or a
 * sample of those rows ({@link #rows}, the held-out rows the output error is measured on). Layers that
 * share an input (a block's query, key and value) share one accumulator, registered under each name.
 *
 * <p>Thread safety: stateless; a call runs the encoder it is given, which one thread at a time uses.
 */
public final class Calibration {
    /** A layer's input rows: {@code count × columns}, row-major. */
    public record Rows(float[] values, int count, int columns) {}

    private Calibration() {}

    /** Statistics of every linear layer's input rows over the encodings, in batches of {@code batchSize} texts. */
    public static LayerStatistics statistics(BertEncoder encoder, List<Encoding> texts, boolean withCovariance,
            int batchSize, Consumer<String> progress) {
        LayerStatistics stats = new LayerStatistics();
        Map<String, ActivationStats> shared = new LinkedHashMap<>();
        LinearInputObserver observer = (layers, rows, count, cols) -> {
            ActivationStats s = shared.get(layers.get(0));
            if (s == null) {
                s = ActivationStats.create(cols, withCovariance);
                for (String layer : layers) {
                    shared.put(layer, s);
                }
            }
            s.accumulate(rows.length == count * cols ? rows : java.util.Arrays.copyOf(rows, count * cols), count);
        };
        forEachBatch(encoder, texts, batchSize, observer, progress, "calibration");
        for (String name : encoder.linearLayerNames()) {
            ActivationStats s = shared.get(name);
            if (s != null) {
                stats.put(name, s);
            }
        }
        return stats;
    }

    /** Up to {@code maxRows} input rows of every linear layer (the first ones seen), over the encodings. */
    public static Map<String, Rows> rows(BertEncoder encoder, List<Encoding> texts, int maxRows, int batchSize) {
        Map<String, float[]> kept = new LinkedHashMap<>();
        Map<String, Integer> counts = new LinkedHashMap<>();
        LinearInputObserver observer = (layers, rows, count, cols) -> {
            String first = layers.get(0);
            float[] buffer = kept.computeIfAbsent(first, k -> new float[maxRows * cols]);
            int have = counts.getOrDefault(first, 0);
            int take = Math.min(count, maxRows - have);
            if (take > 0) {
                System.arraycopy(rows, 0, buffer, have * cols, take * cols);
                counts.put(first, have + take);
            }
            for (String layer : layers.subList(1, layers.size())) {
                kept.put(layer, buffer);
                counts.put(layer, counts.get(first));
            }
        };
        forEachBatch(encoder, texts, batchSize, observer, s -> { }, "held-out");
        Map<String, Rows> out = new LinkedHashMap<>();
        for (String name : encoder.linearLayerNames()) {
            float[] buffer = kept.get(name);
            if (buffer != null) {
                int n = counts.get(name);
                int cols = buffer.length / maxRows;
                out.put(name, new Rows(java.util.Arrays.copyOf(buffer, n * cols), n, cols));
            }
        }
        return out;
    }

    private static void forEachBatch(BertEncoder encoder, List<Encoding> texts, int batchSize, LinearInputObserver observer,
            Consumer<String> progress, String what) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("Calibration: batchSize must be >= 1, got " + batchSize);
        }
        long tokens = 0;
        for (int i = 0; i < texts.size(); i += batchSize) {
            List<Encoding> batch = new ArrayList<>(texts.subList(i, Math.min(texts.size(), i + batchSize)));
            encoder.forward(batch, observer);
            for (Encoding e : batch) {
                tokens += e.length();
            }
            progress.accept(what + ": " + Math.min(texts.size(), i + batchSize) + "/" + texts.size() + " texts, "
                    + tokens + " tokens");
        }
    }
}
