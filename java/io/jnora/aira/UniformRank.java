package io.jnora.aira;

/**
 * The UNIFORM baseline (SPEC §2.8, AIRA supp. §C): one rank r for every layer, the largest that fits
 * the budget. A layer whose upper bound is below r gets its bound (clamping is what "one rank" means
 * when layers are capped). The cost is non-decreasing in r, so r is found by bisection over
 * {@code [r_min, max_l u_l]}, {@code O(L log r_max)}.
 */
final class UniformRank {
    private UniformRank() {}

    static int[] fit(AllocationProblem problem) {
        int lo = problem.rMin; // fits: the problem guarantees the minimum budget
        int hi = problem.rMin;
        for (int u : problem.upper) {
            hi = Math.max(hi, u);
        }
        while (lo < hi) {
            int mid = lo + (hi - lo + 1) / 2;
            if (problem.cost(at(problem, mid)) <= problem.budget) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return at(problem, lo);
    }

    static int[] at(AllocationProblem problem, int rank) {
        int[] ranks = new int[problem.size()];
        for (int l = 0; l < ranks.length; l++) {
            ranks[l] = problem.clamp(l, rank);
        }
        return ranks;
    }
}
