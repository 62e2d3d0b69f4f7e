package io.jnora.aira;

import io.jnora.InvalidRankException;
import io.jnora.NonFiniteInputException;
import io.jnora.ShapeMismatchException;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * One layer as rank allocation sees it (SPEC §2.8): its name, its weight's shape {@code m × n}
 * (out × in), its outlier ratio {@code O_l} (see {@link OutlierRatio}) and, for a nested adapter whose
 * inner rank is being allocated, the outer rank {@code r_out} (which sets the cost per unit of
 * inner rank, {@code 2 r_out}, and caps the inner rank, {@code r_in ≤ r_out}).
 *
 * <p>Thread safety: immutable and thread-safe.
 */
public record LayerSpec(String name, int m, int n, double outlierRatio, OptionalInt outerRank) {
    public LayerSpec {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(outerRank, "outerRank");
        if (name.isBlank()) {
            throw new IllegalArgumentException("LayerSpec: the layer name is blank");
        }
        if (m < 1 || n < 1) {
            throw new ShapeMismatchException("LayerSpec '" + name + "': shape " + m + "×" + n + " must have positive dimensions");
        }
        if (!Double.isFinite(outlierRatio)) {
            throw new NonFiniteInputException("LayerSpec '" + name + "': outlier ratio is " + outlierRatio);
        }
        if (outlierRatio < 0 || outlierRatio > 1) {
            throw new IllegalArgumentException("LayerSpec '" + name + "': outlier ratio " + outlierRatio
                    + " is not a fraction in [0, 1]");
        }
        if (outerRank.isPresent() && (outerRank.getAsInt() < 1 || outerRank.getAsInt() > Math.min(m, n))) {
            throw new InvalidRankException("LayerSpec '" + name + "': outer rank " + outerRank.getAsInt()
                    + " is outside [1, min(m, n) = " + Math.min(m, n) + "] for the " + m + "×" + n + " weight");
        }
    }

    /** A layer that gets a plain LoRA (no outer rank). */
    public static LayerSpec of(String name, int m, int n, double outlierRatio) {
        return new LayerSpec(name, m, n, outlierRatio, OptionalInt.empty());
    }

    /** A layer with a nested adapter of outer rank {@code outerRank}, whose inner rank is allocated. */
    public static LayerSpec nested(String name, int m, int n, double outlierRatio, int outerRank) {
        return new LayerSpec(name, m, n, outlierRatio, OptionalInt.of(outerRank));
    }
}
