package io.jnora.train;

import io.jnora.InvalidRankException;
import io.jnora.NonFiniteInputException;
import io.jnora.ShapeMismatchException;
import io.jnora.backend.HostLapack;
import io.jnora.init.TruncatedSvd;
import java.util.Arrays;
import java.util.Locale;

/**
 * How layer-wise recovery degrades a weight into its base W_base (SPEC §2.10):
 *
 * <ul>
 *   <li>{@code magnitude:f}: the ⌊f·m·n⌋ entries with the smallest |W_ij| are set to zero, f ∈ [0, 1);
 *       ties in |W_ij| are broken by position (row-major index, lower first), so the result is
 *       deterministic;</li>
 *   <li>{@code rank:R}: W_base = U_R Σ_R V_Rᵀ, the truncation of W's SVD (LAPACK gesdd, float32) to
 *       rank R ∈ [1, min(m, n)].</li>
 * </ul>
 *
 * <p>Thread safety: immutable and thread-safe.
 */
public final class Pruning {
    public enum Kind { MAGNITUDE, RANK }

    private final Kind kind;
    private final double fraction;
    private final int rank;

    private Pruning(Kind kind, double fraction, int rank) {
        this.kind = kind;
        this.fraction = fraction;
        this.rank = rank;
    }

    public static Pruning magnitude(double fraction) {
        if (!(fraction >= 0 && fraction < 1)) {
            throw new InvalidHyperparameterException("Pruning.magnitude: the fraction of entries to prune must be in "
                    + "[0, 1), got " + fraction);
        }
        return new Pruning(Kind.MAGNITUDE, fraction, -1);
    }

    public static Pruning rank(int rank) {
        if (rank < 1) {
            throw new InvalidRankException("Pruning.rank: the rank to keep must be ≥ 1, got " + rank);
        }
        return new Pruning(Kind.RANK, Double.NaN, rank);
    }

    /** {@code magnitude:0.5} or {@code rank:64}, as the {@code recover} command takes it. */
    public static Pruning parse(String spec) {
        String s = spec.trim().toLowerCase(Locale.ROOT);
        int colon = s.indexOf(':');
        String kind = colon < 0 ? s : s.substring(0, colon);
        String value = colon < 0 ? "" : s.substring(colon + 1).trim();
        try {
            switch (kind) {
                case "magnitude":
                    return magnitude(Double.parseDouble(value));
                case "rank":
                    return rank(Integer.parseInt(value));
                default:
                    break;
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--prune " + spec + ": '" + value + "' is not a number (expected "
                    + "magnitude:FRACTION or rank:R)");
        }
        throw new IllegalArgumentException("--prune " + spec + ": expected magnitude:FRACTION or rank:R");
    }

    public Kind kind() {
        return kind;
    }

    /** The fraction of entries zeroed (magnitude), else NaN. */
    public double fraction() {
        return fraction;
    }

    /** The rank kept (rank), else −1. */
    public int rank() {
        return rank;
    }

    /** W_base for W (m×n, row-major, finite), a new array. */
    public float[] apply(float[] w, int m, int n) {
        final String op = "Pruning.apply(" + this + ")";
        if (m < 1 || n < 1 || w.length != (long) m * n) {
            throw new ShapeMismatchException(op + ": weight holds " + w.length + " values, expected " + m + "×" + n);
        }
        for (int i = 0; i < w.length; i++) {
            if (!Float.isFinite(w[i])) {
                throw new NonFiniteInputException(op + ": weight element [" + i / n + ", " + i % n + "] is " + w[i]);
            }
        }
        return kind == Kind.MAGNITUDE ? magnitudePrune(w) : rankTruncate(w, m, n, op);
    }

    /** The number of entries magnitude pruning zeroes in an m×n weight (−1 for rank truncation). */
    public long prunedEntries(int m, int n) {
        return kind == Kind.MAGNITUDE ? (long) Math.floor(fraction * ((long) m * n)) : -1;
    }

    private float[] magnitudePrune(float[] w) {
        int count = (int) Math.floor(fraction * w.length);
        // Key = |W_ij|'s bits (monotone in the value for non-negative floats) above the index: one
        // primitive sort orders by magnitude, then by position.
        long[] keys = new long[w.length];
        for (int i = 0; i < w.length; i++) {
            keys[i] = ((long) Float.floatToIntBits(Math.abs(w[i])) << 32) | i;
        }
        Arrays.sort(keys);
        float[] out = w.clone();
        for (int k = 0; k < count; k++) {
            out[(int) keys[k]] = 0f;
        }
        return out;
    }

    private float[] rankTruncate(float[] w, int m, int n, String op) {
        if (rank > Math.min(m, n)) {
            throw new InvalidRankException(op + ": rank " + rank + " exceeds min(m, n) = " + Math.min(m, n)
                    + " of the " + m + "×" + n + " weight");
        }
        TruncatedSvd svd = TruncatedSvd.exact(w, m, n, rank, false);
        float[] us = HostLapack.scaleColumns(svd.u(), m, rank, svd.singularValues());
        return HostLapack.multiply(false, false, m, n, rank, us, svd.vt());
    }

    @Override
    public String toString() {
        return kind == Kind.MAGNITUDE ? "magnitude:" + fraction : "rank:" + rank;
    }
}
