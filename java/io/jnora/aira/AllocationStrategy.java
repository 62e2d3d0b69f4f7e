package io.jnora.aira;

import java.util.Locale;

/**
 * How ranks are spread over layers (SPEC §2.8; the AIRA supplementary §C compares them). The four
 * baselines are profiles over depth, scaled to the budget; only {@link #OUTLIER_DRIVEN} optimises.
 *
 * <p>Thread safety: constants without mutable state; thread-safe.
 */
public enum AllocationStrategy {
    /** One rank for every layer, the largest that fits the budget. */
    UNIFORM("uniform"),
    /** Seeded uniform integer draws in {@code [r_min, r_max]}, then scaled to the budget. */
    RANDOM("random"),
    /** {@code r_max → r_min} linearly over depth, then scaled to the budget. */
    DECAY("decay"),
    /** {@code r_min → r_max} linearly over depth, then scaled to the budget. */
    GROWTH("growth"),
    /** Maximise {@code Σ O_l log(1 + r_l)} within the budget (AIRA's OD-Rank). */
    OUTLIER_DRIVEN("outlier");

    private final String label;

    AllocationStrategy(String label) {
        this.label = label;
    }

    /** The command line's name of the strategy. */
    public String label() {
        return label;
    }

    /** {@code uniform|random|decay|growth|outlier} (also {@code outlier-driven}), case-insensitive. */
    public static AllocationStrategy parse(String value) {
        String key = value.trim().toLowerCase(Locale.ROOT).replace('_', '-');
        if (key.equals("outlier-driven")) {
            return OUTLIER_DRIVEN;
        }
        for (AllocationStrategy s : values()) {
            if (s.label.equals(key)) {
                return s;
            }
        }
        throw new IllegalArgumentException("strategy: unknown value '" + value + "' (uniform, random, decay, growth or outlier)");
    }
}
