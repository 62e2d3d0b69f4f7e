package io.jnora.aira;

import java.util.PriorityQueue;

/**
 * Integer ranks for OUTLIER_DRIVEN where the dynamic program's table would be too large (SPEC §2.8):
 * the continuous optimum rounded down, then a greedy pass that adds one rank at a time to the layer
 * with the largest marginal gain per parameter, {@code O_l (log(2 + r_l) − log(1 + r_l)) / c_l}, while
 * anything fits. Rounding down leaves less than {@code Σ c_l} of budget, so the pass takes about L
 * steps of {@code O(log L)}. Ties go to the shallower layer, so the result does not depend on queue
 * internals. Layers with {@code O_l = 0} stay at {@code r_min}.
 */
final class GreedyRounding {
    private GreedyRounding() {}

    static int[] solve(AllocationProblem problem, ContinuousAllocation.Solution continuous) {
        int layers = problem.size();
        int[] ranks = new int[layers];
        for (int l = 0; l < layers; l++) {
            ranks[l] = problem.weight[l] > 0 ? problem.clamp(l, (long) Math.floor(continuous.ranks()[l])) : problem.rMin;
        }
        long spent = problem.cost(ranks);
        // The continuous ranks fit in floating point; should rounding have put the integers a unit over,
        // give back the ranks that cost the least objective per parameter.
        while (spent > problem.budget) {
            int worst = -1;
            for (int l = 0; l < layers; l++) {
                if (ranks[l] > problem.rMin && (worst < 0 || lossPerCost(problem, ranks, l) < lossPerCost(problem, ranks, worst))) {
                    worst = l;
                }
            }
            ranks[worst]--;
            spent -= problem.cost[worst];
        }
        PriorityQueue<Integer> queue = new PriorityQueue<>((a, b) -> {
            int order = Double.compare(gainPerCost(problem, ranks, b), gainPerCost(problem, ranks, a));
            return order != 0 ? order : Integer.compare(a, b);
        });
        for (int l = 0; l < layers; l++) {
            if (problem.weight[l] > 0 && ranks[l] < problem.upper[l]) {
                queue.add(l);
            }
        }
        while (!queue.isEmpty()) {
            int l = queue.poll();
            if (problem.cost[l] > problem.budget - spent) {
                continue; // the budget left only shrinks, so this layer never fits again
            }
            ranks[l]++;
            spent += problem.cost[l];
            if (ranks[l] < problem.upper[l]) {
                queue.add(l);
            }
        }
        return ranks;
    }

    private static double gainPerCost(AllocationProblem problem, int[] ranks, int l) {
        return problem.weight[l] * (Math.log1p(ranks[l] + 1.0) - Math.log1p(ranks[l])) / problem.cost[l];
    }

    private static double lossPerCost(AllocationProblem problem, int[] ranks, int l) {
        return problem.weight[l] * (Math.log1p(ranks[l]) - Math.log1p(ranks[l] - 1.0)) / problem.cost[l];
    }
}
