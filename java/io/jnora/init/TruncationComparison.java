package io.jnora.init;

import io.jnora.NoraContext;
import io.jnora.ShapeMismatchException;
import io.jnora.stats.ActivationStats;
import java.util.ArrayList;
import java.util.List;

/**
 * The figure by which the activation-aware SVD's scalings are compared (SPEC §2.2): for one layer, the
 * outer pair's rank-r truncation {@code W_r = B A} under each scale mode, and its held-out output error
 * {@code ‖X_test (W − W_r)ᵀ‖_F / ‖X_test Wᵀ‖_F} ({@link OutputError}, float64) on rows the statistics
 * never saw. The SVD runs on the context's backend (null: the host), with the base config's method.
 *
 * <p>Thread safety: stateless; a call given a context runs on it (one thread at a time per context).
 */
public final class TruncationComparison {
    /** One scale mode's truncation: the SVD method used and the held-out output error. */
    public record Entry(ScaleMode mode, SvdMethod svd, double heldOutError) {}

    private TruncationComparison() {}

    /**
     * Each mode's held-out output error at the base config's outer rank; {@code stats} must carry the
     * covariance when a mode is WHITEN. The inner rank, init and activation-informed input of the base
     * config do not matter here: each truncation is the plain W_r.
     */
    public static List<Entry> compare(NoraContext context, float[] weight, int m, int n, ActivationStats stats,
            float[] heldOut, int heldOutRows, NoraConfig base, List<ScaleMode> modes) {
        if (heldOutRows < 1 || heldOut.length != (long) heldOutRows * n) {
            throw new ShapeMismatchException("TruncationComparison.compare: held-out rows hold " + heldOut.length
                    + " values, expected " + heldOutRows + "×" + n + " (at least one row)");
        }
        List<Entry> out = new ArrayList<>();
        for (ScaleMode mode : modes) {
            // The activation-informed input folds diag(s_in) into A, so that B·A would no longer be W_r.
            NoraConfig cfg = base.toBuilder().scaleMode(mode).innerRank(1).init(InnerInit.ZERO)
                    .activationInformedInput(false).build();
            NestedAdapterWeights w = NestedInitializer.initialize(context, weight, m, n, stats, cfg);
            out.add(new Entry(mode, w.svdUsed(), OutputError.relative(heldOut, heldOutRows, weight, w.outerProduct(), m, n)));
        }
        return out;
    }
}
