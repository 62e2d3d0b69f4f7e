package io.jnora.adapter;

import io.jnora.NoraContext;
import io.jnora.aira.OutlierRatio;
import io.jnora.init.NoraConfig;
import io.jnora.init.ScaleMode;
import io.jnora.init.TruncationComparison;
import io.jnora.stats.ActivationStats;
import java.util.List;

/**
 * One row of the per-layer table of an adapted model (issue 8): the layer's shape, its outlier ratio
 * (AIRA, SPEC §2.8), its outer and allocated inner rank, its trainable parameters against a plain LoRA
 * of the same trainable rank, and the held-out output error of the rank-r truncation under each scale
 * mode ({@link TruncationComparison}).
 *
 * <p>Thread safety: immutable (the library gives it an unmodifiable list) and thread-safe.
 */
public record LayerReport(String name, int outFeatures, int inFeatures, double outlierRatio, int outerRank,
        int innerRank, List<TruncationComparison.Entry> truncation) {

    /** Trainable parameters of the nested adapter: 2·r·r_in (NoRA eq. 4). */
    public long trainableParameters() {
        return 2L * outerRank * innerRank;
    }

    /** A plain LoRA of rank r_in on the same layer: r_in·(m + n). */
    public long loraParameters() {
        return (long) innerRank * (outFeatures + inFeatures);
    }

    /** A plain LoRA of the outer rank r: r·(m + n), what the frozen outer pair spans. */
    public long loraParametersAtOuterRank() {
        return (long) outerRank * (outFeatures + inFeatures);
    }

    /** The held-out error of one mode's truncation (NaN if it was not compared). */
    public double error(ScaleMode.Kind kind) {
        for (TruncationComparison.Entry e : truncation) {
            if (e.mode().kind() == kind) {
                return e.heldOutError();
            }
        }
        return Double.NaN;
    }

    /**
     * The report of a layer of a built set: its ranks from the set, the outlier ratio (τ given) from the
     * original weight and statistics, the truncation errors at the layer's outer rank on held-out rows.
     */
    public static LayerReport of(NoraContext context, AdapterSet set, String name, float[] originalWeight,
            ActivationStats stats, float[] heldOut, int heldOutRows, NoraConfig base, List<ScaleMode> modes, double tau) {
        AdapterLayer layer = set.layer(name);
        int m = layer.outFeatures();
        int n = layer.inFeatures();
        double ratio = OutlierRatio.withThreshold(tau).of(originalWeight, m, n, stats);
        NoraConfig cfg = base.toBuilder().outerRank(layer.outerRank()).build();
        List<TruncationComparison.Entry> errors = TruncationComparison.compare(context, originalWeight, m, n, stats,
                heldOut, heldOutRows, cfg, modes);
        return new LayerReport(name, m, n, ratio, layer.outerRank(), layer.innerRank(), List.copyOf(errors));
    }
}
