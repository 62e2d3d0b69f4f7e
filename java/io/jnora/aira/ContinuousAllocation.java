package io.jnora.aira;

/**
 * The continuous relaxation of OUTLIER_DRIVEN (SPEC §2.8): maximise {@code Σ O_l log(1 + r_l)} over real
 * {@code r_l ∈ [r_min, u_l]} with {@code Σ c_l r_l ≤ P}. The KKT conditions give
 * {@code r_l = clamp(O_l / (λ c_l) − 1, r_min, u_l)} with one multiplier λ for the budget; the cost is
 * decreasing in λ, so λ is found by bisection (on {@code μ = 1/λ}, where the cost increases). Its
 * objective bounds every integer allocation from above; its ranks rounded down are where the greedy
 * path starts. Layers with {@code O_l = 0} stay at {@code r_min}.
 */
final class ContinuousAllocation {
    private static final int MAX_BISECTIONS = 2000;

    /** Real ranks, the budget's multiplier λ (0 when every layer reaches its upper bound) and their objective. */
    record Solution(double[] ranks, double lambda, double objective) {
        double cost(AllocationProblem problem) {
            double total = 0;
            for (int l = 0; l < ranks.length; l++) {
                total += problem.cost[l] * ranks[l];
            }
            return total;
        }
    }

    private ContinuousAllocation() {}

    static Solution solve(AllocationProblem problem) {
        double muLow = Double.POSITIVE_INFINITY;
        double muHigh = 0;
        for (int l = 0; l < problem.size(); l++) {
            if (problem.weight[l] > 0) {
                muLow = Math.min(muLow, (1.0 + problem.rMin) * problem.cost[l] / problem.weight[l]);
                muHigh = Math.max(muHigh, (1.0 + problem.upper[l]) * problem.cost[l] / problem.weight[l]);
            }
        }
        if (muHigh == 0 || cost(problem, Double.POSITIVE_INFINITY) <= problem.budget) {
            // No layer with outliers, or all of them fit at their upper bounds: the budget does not bind.
            double[] ranks = ranksAt(problem, Double.POSITIVE_INFINITY);
            return new Solution(ranks, 0, objective(problem, ranks));
        }
        // cost(muLow) is the minimum cost (fits), cost(muHigh) does not; halve until adjacent doubles.
        for (int i = 0; i < MAX_BISECTIONS; i++) {
            double mid = muLow + (muHigh - muLow) / 2;
            if (mid <= muLow || mid >= muHigh) {
                break;
            }
            if (cost(problem, mid) <= problem.budget) {
                muLow = mid;
            } else {
                muHigh = mid;
            }
        }
        double[] ranks = ranksAt(problem, muLow);
        return new Solution(ranks, 1 / muLow, objective(problem, ranks));
    }

    /** {@code r_l(μ) = clamp(O_l μ / c_l − 1, r_min, u_l)} (SPEC §2.8, with μ = 1/λ). */
    static double[] ranksAt(AllocationProblem problem, double mu) {
        double[] ranks = new double[problem.size()];
        for (int l = 0; l < ranks.length; l++) {
            // O_l = 0 gives r_min at any μ, also μ = ∞ (where 0 · ∞ would be NaN).
            double r = problem.weight[l] == 0 ? problem.rMin : problem.weight[l] * mu / problem.cost[l] - 1;
            ranks[l] = Math.max(problem.rMin, Math.min(problem.upper[l], r));
        }
        return ranks;
    }

    private static double cost(AllocationProblem problem, double mu) {
        return new Solution(ranksAt(problem, mu), 0, 0).cost(problem);
    }

    private static double objective(AllocationProblem problem, double[] ranks) {
        double total = 0;
        for (int l = 0; l < ranks.length; l++) {
            total += problem.weight[l] * Math.log1p(ranks[l]);
        }
        return total;
    }
}
