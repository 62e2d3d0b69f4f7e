package io.jnora.stats;

import io.jnora.JnoraException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Activation statistics kept under each layer's name, in the order the layers were added (the
 * model's depth order, which rank allocation relies on, SPEC §2.8).
 *
 * <p>Thread safety: not thread-safe (a mutable map of mutable accumulators); confine to one thread.
 */
public final class LayerStatistics {
    private final Map<String, ActivationStats> byName = new LinkedHashMap<>();

    /** The statistics of a layer, created with {@code channels} on first use. */
    public ActivationStats forLayer(String name, int channels, boolean withCovariance) {
        ActivationStats s = byName.computeIfAbsent(name, k -> ActivationStats.create(channels, withCovariance));
        if (s.channels() != channels) {
            throw new io.jnora.ShapeMismatchException("LayerStatistics: layer '" + name + "' has " + s.channels()
                    + " channels, not " + channels);
        }
        return s;
    }

    /** Registers statistics gathered elsewhere (merging into what the layer already has). */
    public LayerStatistics put(String name, ActivationStats stats) {
        ActivationStats existing = byName.get(name);
        if (existing == null) {
            byName.put(name, stats);
        } else {
            existing.merge(stats);
        }
        return this;
    }

    public ActivationStats get(String name) {
        ActivationStats s = byName.get(name);
        if (s == null) {
            throw new JnoraException("LayerStatistics: no layer '" + name + "' (layers: " + names() + ")");
        }
        return s;
    }

    public Set<String> names() {
        return Collections.unmodifiableSet(byName.keySet());
    }

    /** Per-layer summary: channels, rows seen, the largest max|x| over channels and its ratio to the mean mean|x|. */
    public record Summary(String name, int channels, long rows, double maxAbs, double meanAbs, double maxOverMean) {}

    public Summary summary(String name) {
        ActivationStats s = get(name);
        double max = 0;
        for (double v : s.maxAbs()) {
            max = Math.max(max, v);
        }
        double mean = 0;
        for (double v : s.meanAbs()) {
            mean += v / s.channels();
        }
        return new Summary(name, s.channels(), s.count(), max, mean, mean == 0 ? Double.NaN : max / mean);
    }
}
