package io.jnora.aira;

import io.jnora.InsufficientBudgetException;
import io.jnora.InvalidRankException;
import io.jnora.NonFiniteInputException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A validated allocation problem in the arrays the solvers work on (SPEC §2.8): per layer the weight
 * {@code O_l}, the cost per unit rank {@code c_l} and the upper bound {@code u_l = min(r_max, cap_l)};
 * the common lower bound {@code r_min}, the global {@code r_max} (which the depth profiles use) and the
 * budget {@code P}. Every feasible rank vector's cost fits a {@code long}: {@link #maximumCost()} is
 * computed with overflow checks here, once.
 */
final class AllocationProblem {
    static final String OP = "RankAllocator.allocate";

    final List<String> names;
    final double[] weight;
    final long[] cost;
    final int[] upper;
    final int rMin;
    final int rMax;
    final long budget;
    private final long minimumCost;
    private final long maximumCost;

    AllocationProblem(List<String> names, double[] weight, long[] cost, int[] upper, int rMin, int rMax, long budget) {
        int layers = names.size();
        if (layers == 0) {
            throw new IllegalArgumentException(OP + ": no layers");
        }
        if (weight.length != layers || cost.length != layers || upper.length != layers) {
            throw new IllegalArgumentException(OP + ": " + layers + " layers but " + weight.length + " weights, "
                    + cost.length + " costs and " + upper.length + " upper bounds");
        }
        if (rMin < 1 || rMax < rMin) {
            throw new InvalidRankException(OP + ": rank bounds [" + rMin + ", " + rMax + "] need 1 <= r_min <= r_max");
        }
        if (budget < 0) {
            throw new IllegalArgumentException(OP + ": budget " + budget + " is negative");
        }
        Map<String, Integer> seen = new HashMap<>();
        long min = 0;
        long max = 0;
        for (int l = 0; l < layers; l++) {
            String name = names.get(l);
            Integer earlier = seen.put(name, l);
            if (earlier != null) {
                throw new IllegalArgumentException(OP + ": layer name '" + name + "' appears twice (layers " + earlier
                        + " and " + l + ")");
            }
            if (!Double.isFinite(weight[l]) || weight[l] < 0) {
                throw new NonFiniteInputException(OP + ": layer '" + name + "' has outlier ratio " + weight[l]
                        + " (must be finite and >= 0)");
            }
            if (cost[l] < 1) {
                throw new IllegalArgumentException(OP + ": layer '" + name + "' costs " + cost[l] + " per rank (must be >= 1)");
            }
            if (upper[l] < rMin || upper[l] > rMax) {
                throw new InvalidRankException(OP + ": layer '" + name + "' allows ranks up to " + upper[l]
                        + ", outside the bounds [r_min, r_max] = [" + rMin + ", " + rMax + "]");
            }
            try {
                min = Math.addExact(min, Math.multiplyExact(cost[l], (long) rMin));
                max = Math.addExact(max, Math.multiplyExact(cost[l], (long) upper[l]));
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException(OP + ": the parameter count at the rank bounds overflows 64 bits", e);
            }
        }
        if (budget < min) {
            throw new InsufficientBudgetException(OP + ": budget " + budget + " is below the minimum " + min
                    + " = Σ_l c_l · r_min (r_min = " + rMin + " on each of " + layers + " layers)", budget, min);
        }
        this.names = List.copyOf(names);
        this.weight = weight.clone();
        this.cost = cost.clone();
        this.upper = upper.clone();
        this.rMin = rMin;
        this.rMax = rMax;
        this.budget = budget;
        this.minimumCost = min;
        this.maximumCost = max;
    }

    /** The problem for real layers: costs and caps from the cost model, {@code u_l = min(r_max, cap_l)}. */
    static AllocationProblem of(List<LayerSpec> layers, CostModel model, int rMin, int rMax, long budget) {
        if (rMin < 1 || rMax < rMin) {
            throw new InvalidRankException(OP + ": rank bounds [" + rMin + ", " + rMax + "] need 1 <= r_min <= r_max");
        }
        int count = layers.size();
        String[] names = new String[count];
        double[] weight = new double[count];
        long[] cost = new long[count];
        int[] upper = new int[count];
        for (int l = 0; l < count; l++) {
            LayerSpec layer = layers.get(l);
            names[l] = layer.name();
            weight[l] = layer.outlierRatio();
            cost[l] = model.costPerRank(layer);
            int cap = model.rankCap(layer);
            if (cap < rMin) {
                throw new InvalidRankException(OP + ": layer '" + layer.name() + "' (" + layer.m() + "×" + layer.n()
                        + (model == CostModel.NESTED ? ", outer rank " + cap : "") + ") allows ranks up to " + cap
                        + ", below r_min = " + rMin);
            }
            upper[l] = Math.min(rMax, cap);
        }
        return new AllocationProblem(List.of(names), weight, cost, upper, rMin, rMax, budget);
    }

    int size() {
        return weight.length;
    }

    /** {@code Σ_l c_l r_min}, the smallest budget that works. */
    long minimumCost() {
        return minimumCost;
    }

    /** {@code Σ_l c_l u_l}: every layer at its upper bound. */
    long maximumCost() {
        return maximumCost;
    }

    /** {@code Σ_l c_l r_l}; exact, since ranks within the bounds cost at most {@link #maximumCost()}. */
    long cost(int[] ranks) {
        long total = 0;
        for (int l = 0; l < ranks.length; l++) {
            total += cost[l] * ranks[l];
        }
        return total;
    }

    /** {@code Σ_l O_l log(1 + r_l)}, summed in depth order. */
    double objective(int[] ranks) {
        double total = 0;
        for (int l = 0; l < ranks.length; l++) {
            total += weight[l] * Math.log1p(ranks[l]);
        }
        return total;
    }

    /** {@code r} clamped to layer {@code l}'s bounds. */
    int clamp(int l, long r) {
        return (int) Math.max(rMin, Math.min(upper[l], r));
    }
}
