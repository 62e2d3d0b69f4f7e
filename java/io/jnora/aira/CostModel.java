package io.jnora.aira;

import java.util.Locale;

/**
 * What one unit of rank costs in trainable parameters, and the rank beyond which more buys nothing
 * (SPEC §2.8).
 *
 * <p>Thread safety: constants without mutable state; thread-safe.
 */
public enum CostModel {
    /** A plain LoRA of rank r: {@code r (m + n)} parameters; ranks above {@code min(m, n)} add no capacity. */
    LORA {
        @Override
        public long costPerRank(LayerSpec layer) {
            return (long) layer.m() + layer.n();
        }

        @Override
        public int rankCap(LayerSpec layer) {
            return Math.min(layer.m(), layer.n());
        }
    },
    /** The inner rank r_in of a nested adapter: {@code 2 r_out r_in} parameters (NoRA eq. 4), and {@code r_in ≤ r_out}. */
    NESTED {
        @Override
        public long costPerRank(LayerSpec layer) {
            return 2L * outer(layer);
        }

        @Override
        public int rankCap(LayerSpec layer) {
            return outer(layer);
        }

        private int outer(LayerSpec layer) {
            if (layer.outerRank().isEmpty()) {
                throw new IllegalArgumentException("rank allocation: layer '" + layer.name()
                        + "' has no outer rank, which the nested cost model needs");
            }
            return layer.outerRank().getAsInt();
        }
    };

    /** Parameters per unit of rank, {@code c_l}. */
    public abstract long costPerRank(LayerSpec layer);

    /** The largest useful (or allowed) rank of the layer. */
    public abstract int rankCap(LayerSpec layer);

    /** {@code lora} or {@code nested}, case-insensitive. */
    public static CostModel parse(String value) {
        String key = value.trim().toUpperCase(Locale.ROOT);
        for (CostModel c : values()) {
            if (c.name().equals(key)) {
                return c;
            }
        }
        throw new IllegalArgumentException("cost model: unknown value '" + value + "' (lora or nested)");
    }
}
