package io.jnora.cli;

import io.jnora.NoraContext;
import java.util.Locale;

/** The line above an experiment's table that says how it was run. */
final class ExperimentSettings {
    private ExperimentSettings() {}

    static String describe(ExperimentOptions o, NoraContext ctx) {
        return String.format(Locale.ROOT, "pruning %s, outer scaling %s, %d AdamW steps of %d rows, peak lr %s (warm-up "
                + "%d steps, cosine to 0), %d seed%s; held-out output error ‖X_t(W_base + ΔW − W)ᵀ‖/‖X_t Wᵀ‖ on up to %d "
                + "rows of the held-out sentences, training on up to %d rows; backend %s, %d OpenBLAS thread%s",
                o.pruning, o.mode, o.steps, o.batchRows, number(o.lr), o.steps / 20, o.seeds, o.seeds == 1 ? "" : "s",
                o.heldOutRows, o.rows, ctx.selection().chosen().name().toLowerCase(Locale.ROOT), o.blasThreads,
                o.blasThreads == 1 ? "" : "s");
    }

    static String number(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e6 ? String.valueOf((long) v) : String.valueOf(v);
    }
}
