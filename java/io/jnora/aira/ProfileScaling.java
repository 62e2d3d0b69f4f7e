package io.jnora.aira;

import java.util.Arrays;

/**
 * Fits a depth profile to the budget (SPEC §2.8): the ranks {@code r_l(f) = clamp(⌊f · p_l⌋, r_min, u_l)}
 * for the largest common factor {@code f ≤ 1} whose cost {@code Σ c_l r_l(f)} is within the budget.
 *
 * <p>Exact, not approximate. {@code r(f)} is a step function: it changes only at the breakpoints
 * {@code f = k / p_l}, where layer l's rank reaches k, and the cost is non-decreasing in f, so the answer
 * is the ranks at the largest breakpoint (or at {@code f = 1}) that fits. Two stages find it:
 * <ol>
 * <li>bisection over the dyadic factors {@code f = a / 2⁶²}, each evaluated exactly in integers
 * ({@code ⌊a · num_l / (2⁶² · den)⌋} through a 128-bit product), keeping {@code cost(lo) ≤ P < cost(hi)};
 * 62 steps, each {@code O(L)};</li>
 * <li>a walk from {@code lo} over the breakpoints in exact rational order (cross-multiplied, 128-bit):
 * all layers that share the next breakpoint step up together — that is what "common factor" means when
 * profiles tie — while the cost still fits. Breakpoints are at least {@code 1/(den · p_l · p_k)} apart,
 * so after bisection the walk takes a step or two; it is what makes the result independent of the
 * bisection's resolution.</li>
 * </ol>
 */
final class ProfileScaling {
    private static final int SHIFT = 62;
    private static final long ONE = 1L << SHIFT;

    private ProfileScaling() {}

    static int[] fit(AllocationProblem problem, RankProfile profile) {
        if (profile.size() != problem.size()) {
            throw new IllegalArgumentException("ProfileScaling: profile of " + profile.size() + " layers for "
                    + problem.size() + " layers");
        }
        int[] ranks = ranksAt(problem, profile, ONE);
        if (problem.cost(ranks) <= problem.budget) {
            return ranks;
        }
        // cost(0) is the minimum, which the problem guarantees to fit; cost(1) does not.
        long lo = 0;
        long hi = ONE;
        while (hi - lo > 1) {
            long mid = lo + (hi - lo) / 2;
            if (problem.cost(ranksAt(problem, profile, mid)) <= problem.budget) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        ranks = ranksAt(problem, profile, lo);
        walkBreakpoints(problem, profile, ranks);
        return ranks;
    }

    /** The ranks at {@code f = a / 2⁶²}, {@code 0 ≤ a ≤ 2⁶²}, exactly. */
    static int[] ranksAt(AllocationProblem problem, RankProfile profile, long a) {
        int[] ranks = new int[problem.size()];
        for (int l = 0; l < ranks.length; l++) {
            long num = profile.numerator(l);
            // a · num < 2¹²⁵, so (a · num) >> 62 fits a non-negative long.
            long high = Math.multiplyHigh(a, num);
            long low = a * num;
            long scaled = (high << (64 - SHIFT)) | (low >>> SHIFT);
            ranks[l] = problem.clamp(l, scaled / profile.denominator());
        }
        return ranks;
    }

    /** Steps the ranks over the following breakpoints, tie groups together, while the cost fits. */
    static void walkBreakpoints(AllocationProblem problem, RankProfile profile, int[] ranks) {
        long spent = problem.cost(ranks);
        boolean[] tied = new boolean[ranks.length];
        while (true) {
            int best = -1;
            long extra = 0;
            Arrays.fill(tied, false);
            for (int l = 0; l < ranks.length; l++) {
                if (!canStep(problem, profile, ranks, l)) {
                    continue;
                }
                int order = best < 0 ? -1 : compareBreakpoints(ranks[l] + 1L, profile.numerator(l),
                        ranks[best] + 1L, profile.numerator(best));
                if (order < 0) {
                    Arrays.fill(tied, 0, l, false);
                    best = l;
                    extra = problem.cost[l];
                    tied[l] = true;
                } else if (order == 0) {
                    extra += problem.cost[l];
                    tied[l] = true;
                }
            }
            if (best < 0 || extra > problem.budget - spent) {
                return;
            }
            for (int l = 0; l < ranks.length; l++) {
                if (tied[l]) {
                    ranks[l]++;
                }
            }
            spent += extra;
        }
    }

    /** Whether layer l's rank still grows for some {@code f ≤ 1}: its next rank k needs {@code k ≤ u_l} and {@code k ≤ p_l}. */
    private static boolean canStep(AllocationProblem problem, RankProfile profile, int[] ranks, int l) {
        long next = ranks[l] + 1L;
        if (next > problem.upper[l]) {
            return false;
        }
        long num = profile.numerator(l);
        long den = profile.denominator();
        return Math.multiplyHigh(next, den) == 0 && next * den >= 0 && next * den <= num;
    }

    /** Sign of {@code k1/p1 − k2/p2} with {@code p = num/den}: compares {@code k1 · num2} with {@code k2 · num1} in 128 bits. */
    static int compareBreakpoints(long k1, long num1, long k2, long num2) {
        long high1 = Math.multiplyHigh(k1, num2);
        long high2 = Math.multiplyHigh(k2, num1);
        if (high1 != high2) {
            return Long.compare(high1, high2);
        }
        return Long.compareUnsigned(k1 * num2, k2 * num1);
    }
}
