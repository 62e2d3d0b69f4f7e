package io.jnora.aira;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** OUTLIER_DRIVEN (SPEC §2.8): exact where the DP runs, near the continuous bound where the greedy path runs. */
class OutlierDrivenAllocationTest {
    private static RankAllocator allocator() {
        return RankAllocator.builder().strategy(AllocationStrategy.OUTLIER_DRIVEN).build();
    }

    private static RankAllocator greedyAllocator() {
        return RankAllocator.builder().strategy(AllocationStrategy.OUTLIER_DRIVEN).dpCellLimit(0).build();
    }

    @Test
    void theDynamicProgramReachesTheExhaustiveOptimum() {
        long seed = RandomProblems.freshSeed();
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < 3000; i++) {
            AllocationProblem p = RandomProblems.small(random);
            RankAllocation a = allocator().allocate(p);
            double best = RandomProblems.bruteForce(p);
            String why = RandomProblems.replay(seed) + ", case " + i + ": " + RandomProblems.describe(p) + " → "
                    + a.ranks();
            assertEquals(RankAllocation.Method.DP, a.method(), why);
            assertTrue(a.cost() <= p.budget, why);
            // Both sides sum O_l log(1 + r_l) in the same order; different optimal vectors differ by rounding only.
            assertEquals(best, a.objective(), 1e-12, why);
        }
    }

    @Test
    void theDynamicProgramIsExactOnWiderRankRangesToo() {
        long seed = RandomProblems.freshSeed();
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < 200; i++) {
            int layers = 2 + random.nextInt(2);
            double[] weight = new double[layers];
            long[] cost = new long[layers];
            int[] upper = new int[layers];
            long min = 0;
            long max = 0;
            for (int l = 0; l < layers; l++) {
                weight[l] = random.nextDouble();
                cost[l] = 3 + random.nextInt(60);
                upper[l] = 40;
                min += cost[l];
                max += cost[l] * 40;
            }
            long budget = min + random.nextLong(max - min + 1);
            AllocationProblem p = new AllocationProblem(RandomProblems.names(layers), weight, cost, upper, 1, 40, budget);
            assertEquals(RandomProblems.bruteForce(p), allocator().allocate(p).objective(), 1e-12,
                    RandomProblems.replay(seed) + ", case " + i + ": " + RandomProblems.describe(p));
        }
    }

    @Test
    void theGreedyPathIsWithinTwoTenthsOfAPercentOfTheContinuousBound() {
        long seed = RandomProblems.freshSeed();
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < 40; i++) {
            AllocationProblem p = RandomProblems.modelSized(random);
            RankAllocation a = greedyAllocator().allocate(p);
            double bound = ContinuousAllocation.solve(p).objective();
            String why = RandomProblems.replay(seed) + ", case " + i + ": " + p.size() + " layers, P = " + p.budget
                    + ", objective " + a.objective() + " vs bound " + bound;
            assertEquals(RankAllocation.Method.GREEDY, a.method(), why);
            assertTrue(a.cost() <= p.budget, why);
            // The relaxation bounds every integer allocation (slack: the bisection's last ulp).
            assertTrue(a.objective() <= bound * (1 + 1e-12), why);
            // The integrality gap: at most 1.24e-3 seen (2 of 20000 problems above 1e-3, both of ~50 layers,
            // where one rank step is a larger share of the budget); 0 of 360000 above 2e-3, which is asserted.
            assertTrue(a.objective() >= bound * (1 - 2e-3), why);
            int[] r = a.rankArray();
            for (int l = 0; l < p.size(); l++) {
                assertTrue(r[l] >= p.rMin && r[l] <= p.upper[l], why + ", layer " + l);
                // Greedy stops only when no layer with outliers can take one more rank.
                if (p.weight[l] > 0 && r[l] < p.upper[l]) {
                    assertTrue(p.cost[l] > p.budget - a.cost(), why + ", layer " + l + " could still grow");
                }
            }
        }
    }

    @Test
    void theGreedyPathNeverBeatsTheDynamicProgram() {
        long seed = RandomProblems.freshSeed();
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < 500; i++) {
            AllocationProblem p = RandomProblems.small(random);
            RankAllocation exact = allocator().allocate(p);
            RankAllocation greedy = greedyAllocator().allocate(p);
            String why = RandomProblems.replay(seed) + ", case " + i + ": " + RandomProblems.describe(p);
            assertTrue(greedy.cost() <= p.budget, why);
            assertTrue(greedy.objective() <= exact.objective() + 1e-12, why);
        }
    }

    @Test
    void theContinuousOptimumSatisfiesTheKktConditions() {
        long seed = RandomProblems.freshSeed();
        SplittableRandom random = new SplittableRandom(seed);
        int unbound = 0;
        for (int i = 0; i < 40; i++) {
            AllocationProblem p = RandomProblems.modelSized(random);
            ContinuousAllocation.Solution s = ContinuousAllocation.solve(p);
            double lambda = s.lambda();
            String why = RandomProblems.replay(seed) + ", case " + i + ", λ = " + lambda;
            double cost = s.cost(p);
            if (lambda == 0) {
                // The budget does not bind (layers without outliers stay at r_min and leave room): every
                // layer with outliers is at its upper bound.
                assertTrue(cost <= p.budget, why + ", cost " + cost);
                for (int l = 0; l < p.size(); l++) {
                    assertEquals(p.weight[l] > 0 ? p.upper[l] : p.rMin, s.ranks()[l], 0.0, why + ", layer " + l);
                }
                unbound++;
                continue;
            }
            assertTrue(cost <= p.budget && cost >= p.budget * (1 - 1e-9), why + ", cost " + cost);
            for (int l = 0; l < p.size(); l++) {
                double x = s.ranks()[l];
                if (p.weight[l] == 0) {
                    assertEquals(p.rMin, x, 0.0, why);
                    continue;
                }
                // Stationarity: the marginal gain per parameter O_l / (c_l (1 + r_l)) equals λ inside the
                // bounds, is at least λ at the upper bound and at most λ at the lower one (1e-9: bisection).
                double marginal = p.weight[l] / (p.cost[l] * (1 + x));
                if (x > p.rMin && x < p.upper[l]) {
                    assertEquals(lambda, marginal, 1e-9 * lambda, why + ", layer " + l + " inside");
                } else if (x == p.upper[l]) {
                    assertTrue(marginal >= lambda * (1 - 1e-9), why + ", layer " + l + " at the upper bound");
                } else {
                    assertTrue(marginal <= lambda * (1 + 1e-9), why + ", layer " + l + " at the lower bound");
                }
            }
        }
        assertTrue(unbound < 20, RandomProblems.replay(seed) + ": the budget should bind in most cases, not in " + unbound);
    }

    @Test
    void layersWithoutOutliersGetTheMinimumRankOnBothPaths() {
        List<LayerSpec> layers = List.of(LayerSpec.of("q", 64, 64, 0.02), LayerSpec.of("k", 64, 64, 0.0),
                LayerSpec.of("v", 64, 64, 0.05), LayerSpec.of("o", 64, 64, 0.0));
        long ample = 4L * 128 * 64; // enough for every layer at its cap
        for (RankAllocator.Builder b : List.of(RankAllocator.builder(), RankAllocator.builder().dpCellLimit(0))) {
            RankAllocation a = b.minRank(2).maxRank(64).build().allocate(layers, ample);
            assertEquals(List.of(64, 2, 64, 2), a.ranks(), a.method().label());
            RankAllocation tight = b.minRank(2).maxRank(64).build().allocate(layers, 128L * 40);
            assertEquals(2, tight.rank(1), tight.method().label());
            assertEquals(2, tight.rank(3), tight.method().label());
        }
    }

    @Test
    void allLayersWithoutOutliersStayAtTheMinimum() {
        List<LayerSpec> layers = List.of(LayerSpec.of("a", 32, 32, 0), LayerSpec.of("b", 16, 48, 0));
        RankAllocation a = allocator().allocate(layers, 1_000_000);
        assertEquals(List.of(1, 1), a.ranks());
        assertEquals(0.0, a.objective());
    }

    @Test
    void moreOutliersGetMoreRankAtEqualCost() {
        List<LayerSpec> layers = List.of(LayerSpec.of("low", 256, 256, 0.01), LayerSpec.of("mid", 256, 256, 0.03),
                LayerSpec.of("high", 256, 256, 0.09));
        int[] r = allocator().allocate(layers, 512L * 48).rankArray();
        assertTrue(r[0] < r[1] && r[1] < r[2], Arrays.toString(r));
        // Interior continuous optimum: r_l + 1 ∝ O_l, so (1 + r) ratios are about 1 : 3 : 9.
        assertEquals(9.0, (1.0 + r[2]) / (1.0 + r[0]), 2.0, Arrays.toString(r));
    }

    @Test
    void theResultIsReproducible() {
        long seed = RandomProblems.freshSeed();
        AllocationProblem p = RandomProblems.modelSized(new SplittableRandom(seed));
        for (RankAllocator allocator : List.of(allocator(), greedyAllocator())) {
            RankAllocation first = allocator.allocate(p);
            for (int i = 0; i < 3; i++) {
                assertEquals(first, allocator.allocate(p), RandomProblems.replay(seed));
            }
        }
    }

    @Test
    void aBudgetBeyondEveryCapGivesEveryLayerWithOutliersItsCap() {
        AllocationProblem p = new AllocationProblem(RandomProblems.names(3), new double[] {0.1, 0.2, 0.3},
                new long[] {7, 11, 13}, new int[] {5, 9, 3}, 1, 9, Long.MAX_VALUE / 2);
        for (RankAllocator allocator : List.of(allocator(), greedyAllocator())) {
            assertArrayEquals(new int[] {5, 9, 3}, allocator.allocate(p).rankArray());
        }
    }

    @Test
    void theDynamicProgramHandlesLargeBudgetUnitsAndCoprimeCosts() {
        // gcd 1 and a few thousand units: exercises many residue classes of the convolution.
        AllocationProblem p = new AllocationProblem(RandomProblems.names(3), new double[] {0.3, 0.5, 0.2},
                new long[] {97, 101, 103}, new int[] {30, 30, 30}, 1, 30, 4000);
        RankAllocation a = allocator().allocate(p);
        if (a.method() != RankAllocation.Method.DP) {
            fail("expected the DP, got " + a.method());
        }
        assertEquals(RandomProblems.bruteForce(p), a.objective(), 1e-12, a.ranks().toString());
    }
}
