package io.jnora.aira;

import io.jnora.InvalidRankException;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Spreads a parameter budget over layers as adapter ranks (SPEC §2.8, AIRA):
 *
 * <pre>{@code
 * RankAllocator allocator = RankAllocator.builder().strategy(AllocationStrategy.OUTLIER_DRIVEN)
 *         .minRank(2).maxRank(32).costModel(CostModel.LORA).build();
 * RankAllocation a = allocator.allocate(layers, 700_000);   // layers in depth order
 * }</pre>
 *
 * <p>Every layer gets a rank in {@code [r_min, u_l]}, {@code u_l = min(r_max, cap_l)}, where the cost
 * model's cap is {@code min(m, n)} for a LoRA (more rank adds no capacity) and the outer rank for a
 * nested adapter's inner rank. The cost {@code Σ c_l r_l} never exceeds the budget; a budget below
 * {@code Σ c_l r_min} is an {@link io.jnora.InsufficientBudgetException} naming that minimum.
 *
 * <ul>
 * <li>{@code UNIFORM}: the largest common rank that fits (clamped per layer).</li>
 * <li>{@code RANDOM(seed)}, {@code DECAY}, {@code GROWTH}: the AIRA supplementary §C profiles over
 * {@code [r_min, r_max]}, which ignore the budget, scaled by the largest common factor {@code ≤ 1} whose
 * rounded-down, clamped ranks fit (exactly; see {@link ProfileScaling}).</li>
 * <li>{@code OUTLIER_DRIVEN}: the integer maximum of {@code Σ O_l log(1 + r_l)} within the budget;
 * exact by dynamic program ({@link KnapsackDp}) when the table has at most {@link #DP_CELL_LIMIT} cells,
 * otherwise the continuous optimum ({@link ContinuousAllocation}) rounded down and completed greedily
 * ({@link GreedyRounding}). Layers with {@code O_l = 0} get {@code r_min}.</li>
 * </ul>
 * Results are deterministic: no hash-order dependence, and RANDOM uses its seed only.
 *
 * <p>Thread safety: immutable and thread-safe (each allocation works on its own data); its Builder is not.
 */
public final class RankAllocator {
    /** The SPEC's bound on the dynamic program: active layers × (budget units + 1). */
    public static final long DP_CELL_LIMIT = 50_000_000L;

    private final AllocationStrategy strategy;
    private final long seed;
    private final int minRank;
    private final int maxRank;
    private final CostModel costModel;
    private final long dpCellLimit;

    private RankAllocator(Builder b) {
        this.strategy = b.strategy;
        this.seed = b.seed;
        this.minRank = b.minRank;
        this.maxRank = b.maxRank;
        this.costModel = b.costModel;
        this.dpCellLimit = b.dpCellLimit;
    }

    public static Builder builder() {
        return new Builder();
    }

    public AllocationStrategy strategy() { return strategy; }
    public long seed() { return seed; }
    public int minRank() { return minRank; }
    public int maxRank() { return maxRank; }
    public CostModel costModel() { return costModel; }

    /** Ranks for {@code layers} (depth order, unique names) within {@code budget} parameters. */
    public RankAllocation allocate(List<LayerSpec> layers, long budget) {
        Objects.requireNonNull(layers, "layers");
        return allocate(AllocationProblem.of(layers, costModel, minRank, maxRank, budget));
    }

    RankAllocation allocate(AllocationProblem problem) {
        int[] ranks;
        RankAllocation.Method method;
        switch (strategy) {
            case UNIFORM -> {
                ranks = UniformRank.fit(problem);
                method = RankAllocation.Method.UNIFORM;
            }
            case RANDOM, DECAY, GROWTH -> {
                ranks = ProfileScaling.fit(problem, profile(problem.size()));
                method = RankAllocation.Method.SCALED_PROFILE;
            }
            case OUTLIER_DRIVEN -> {
                ranks = new int[problem.size()];
                method = outlierDriven(problem, ranks);
            }
            default -> throw new IllegalStateException("RankAllocator: strategy " + strategy);
        }
        long cost = problem.cost(ranks);
        if (cost > problem.budget) {
            throw new IllegalStateException("RankAllocator: " + strategy + " spent " + cost + " of a budget of " + problem.budget);
        }
        return new RankAllocation(strategy, problem.names, Arrays.stream(ranks).boxed().toList(),
                problem.objective(ranks), cost, problem.budget, method);
    }

    /** The budget-free profile of a baseline strategy (AIRA supp. §C), over the global [r_min, r_max]. */
    RankProfile profile(int layers) {
        return switch (strategy) {
            case RANDOM -> RankProfile.random(layers, minRank, maxRank, seed);
            case DECAY -> RankProfile.decay(layers, minRank, maxRank);
            case GROWTH -> RankProfile.growth(layers, minRank, maxRank);
            default -> throw new IllegalStateException("RankAllocator: " + strategy + " has no profile");
        };
    }

    /** SPEC §2.8's OUTLIER_DRIVEN: fills {@code ranks}, returns the integer method used. */
    private RankAllocation.Method outlierDriven(AllocationProblem problem, int[] ranks) {
        Arrays.fill(ranks, problem.rMin);
        int count = 0;
        for (int l = 0; l < problem.size(); l++) {
            if (problem.weight[l] > 0 && problem.upper[l] > problem.rMin) {
                count++;
            }
        }
        int[] active = new int[count];
        long unit = 0;
        long reachable = 0; // Σ (u_l − r_min) c_l over active layers: budget beyond it buys nothing
        for (int l = 0, k = 0; l < problem.size(); l++) {
            if (problem.weight[l] > 0 && problem.upper[l] > problem.rMin) {
                active[k++] = l;
                unit = gcd(unit, problem.cost[l]);
                reachable += (problem.upper[l] - problem.rMin) * problem.cost[l];
            }
        }
        if (count == 0) {
            return RankAllocation.Method.DP;
        }
        long units = Math.min(problem.budget - problem.minimumCost(), reachable) / unit;
        // cells = count · (units + 1), compared without overflow
        if (units + 1 <= dpCellLimit / count && units < Integer.MAX_VALUE - 8) {
            KnapsackDp.solve(problem, active, unit, (int) units, ranks);
            return RankAllocation.Method.DP;
        }
        int[] greedy = GreedyRounding.solve(problem, ContinuousAllocation.solve(problem));
        System.arraycopy(greedy, 0, ranks, 0, ranks.length);
        return RankAllocation.Method.GREEDY;
    }

    private static long gcd(long a, long b) {
        while (b != 0) {
            long t = a % b;
            a = b;
            b = t;
        }
        return a;
    }

    /** Validated configuration; defaults: OUTLIER_DRIVEN, r_min = 1, r_max = 256, LORA costs, seed 0. */
    public static final class Builder {
        private AllocationStrategy strategy = AllocationStrategy.OUTLIER_DRIVEN;
        private long seed;
        private int minRank = 1;
        private int maxRank = 256;
        private CostModel costModel = CostModel.LORA;
        private long dpCellLimit = DP_CELL_LIMIT;

        private Builder() {}

        public Builder strategy(AllocationStrategy strategy) {
            this.strategy = Objects.requireNonNull(strategy, "strategy");
            return this;
        }

        /** The seed of RANDOM (ignored by the other strategies). */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        public Builder minRank(int minRank) {
            this.minRank = minRank;
            return this;
        }

        public Builder maxRank(int maxRank) {
            this.maxRank = maxRank;
            return this;
        }

        public Builder costModel(CostModel costModel) {
            this.costModel = Objects.requireNonNull(costModel, "costModel");
            return this;
        }

        /** Tests only: the dynamic program's cell limit, to force the greedy path on small problems. */
        Builder dpCellLimit(long cells) {
            if (cells < 0) {
                throw new IllegalArgumentException("RankAllocator: DP cell limit " + cells + " is negative");
            }
            this.dpCellLimit = cells;
            return this;
        }

        public RankAllocator build() {
            if (minRank < 1 || maxRank < minRank) {
                throw new InvalidRankException("RankAllocator: rank bounds [" + minRank + ", " + maxRank
                        + "] need 1 <= r_min <= r_max");
            }
            return new RankAllocator(this);
        }
    }
}
