package io.jnora.aira;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The result of a rank allocation (SPEC §2.8): one rank per layer in the order given, the objective
 * {@code Σ_l O_l log(1 + r_l)} of those ranks (natural log; reported for every strategy so that they
 * can be compared), their cost {@code Σ_l c_l r_l ≤ budget}, and how the integer ranks were found.
 *
 * <p>Thread safety: immutable when made by {@link RankAllocator} (unmodifiable lists) and thread-safe.
 */
public record RankAllocation(AllocationStrategy strategy, List<String> layers, List<Integer> ranks, double objective,
        long cost, long budget, Method method) {

    /** How the integer ranks were obtained. */
    public enum Method {
        /** {@link AllocationStrategy#OUTLIER_DRIVEN}, exact: dynamic program over the budget. */
        DP("dp"),
        /** {@link AllocationStrategy#OUTLIER_DRIVEN}, large problems: continuous optimum rounded down, then greedy. */
        GREEDY("greedy"),
        /** {@link AllocationStrategy#UNIFORM}: the largest common rank that fits. */
        UNIFORM("uniform"),
        /** A depth profile scaled by the largest common factor ≤ 1 that fits. */
        SCALED_PROFILE("scaled");

        private final String label;

        Method(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    public RankAllocation {
        Objects.requireNonNull(strategy, "strategy");
        Objects.requireNonNull(method, "method");
        layers = List.copyOf(layers);
        ranks = List.copyOf(ranks);
        if (layers.size() != ranks.size()) {
            throw new IllegalArgumentException("RankAllocation: " + layers.size() + " layers but " + ranks.size() + " ranks");
        }
    }

    /** The rank of layer {@code index} (depth order). */
    public int rank(int index) {
        return ranks.get(index);
    }

    /** The ranks as an array, in depth order. */
    public int[] rankArray() {
        return ranks.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Layer name to rank, in depth order. */
    public Map<String, Integer> byLayer() {
        Map<String, Integer> out = new LinkedHashMap<>();
        for (int i = 0; i < layers.size(); i++) {
            out.put(layers.get(i), ranks.get(i));
        }
        return Collections.unmodifiableMap(out);
    }
}
