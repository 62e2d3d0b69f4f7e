package io.jnora.aira;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** UNIFORM, RANDOM, DECAY and GROWTH (SPEC §2.8; the AIRA supplementary §C definitions). */
class BaselineStrategiesTest {
    private static RankAllocator allocator(AllocationStrategy strategy, int rMin, int rMax, long seed) {
        return RankAllocator.builder().strategy(strategy).minRank(rMin).maxRank(rMax).seed(seed).build();
    }

    @Test
    void decayIsTheSupplementaryFormula() {
        // AIRA supp. §C, Decay: r_l = r_max − (l − 1)(r_max − r_min)/(L − 1), l = 1..L.
        int rMin = 2;
        int rMax = 32;
        for (int layers : new int[] {2, 3, 7, 12, 97}) {
            RankProfile p = allocator(AllocationStrategy.DECAY, rMin, rMax, 0).profile(layers);
            for (int l = 1; l <= layers; l++) {
                double expected = rMax - (l - 1) * (double) (rMax - rMin) / (layers - 1);
                assertEquals(expected, p.value(l - 1), 1e-12, "L = " + layers + ", l = " + l);
            }
        }
    }

    @Test
    void growthIsTheSupplementaryFormula() {
        // AIRA supp. §C, Growth: r_l = r_min + (l − 1)(r_max − r_min)/(L − 1), l = 1..L.
        int rMin = 2;
        int rMax = 32;
        for (int layers : new int[] {2, 3, 7, 12, 97}) {
            RankProfile p = allocator(AllocationStrategy.GROWTH, rMin, rMax, 0).profile(layers);
            for (int l = 1; l <= layers; l++) {
                double expected = rMin + (l - 1) * (double) (rMax - rMin) / (layers - 1);
                assertEquals(expected, p.value(l - 1), 1e-12, "L = " + layers + ", l = " + l);
            }
        }
    }

    @Test
    void oneLayerDecaysAndGrowsToTheMaximum() {
        // The §C formulas divide by L − 1; SPEC §2.8 gives a single layer r_max.
        List<LayerSpec> one = List.of(LayerSpec.of("only", 128, 128, 0.1));
        for (AllocationStrategy s : List.of(AllocationStrategy.DECAY, AllocationStrategy.GROWTH)) {
            assertEquals(32.0, allocator(s, 2, 32, 0).profile(1).value(0), s.label());
            assertEquals(List.of(32), allocator(s, 2, 32, 0).allocate(one, 1_000_000).ranks(), s.label());
        }
    }

    @Test
    void randomDrawsUniformIntegersWithinTheBoundsFromItsSeed() {
        // AIRA supp. §C, Random: "sampled from a uniform distribution" respecting the min and max ranks.
        long seed = RandomProblems.freshSeed();
        RankProfile p = allocator(AllocationStrategy.RANDOM, 2, 32, seed).profile(500);
        Random reference = new Random(seed);
        int[] histogram = new int[31];
        for (int l = 0; l < 500; l++) {
            assertEquals(2 + reference.nextInt(31), p.value(l), 0.0, RandomProblems.replay(seed));
            histogram[(int) p.value(l) - 2]++;
        }
        assertTrue(Arrays.stream(histogram).filter(c -> c > 0).count() > 20, RandomProblems.replay(seed)
                + ": " + Arrays.toString(histogram));
    }

    @Test
    void theSameSeedGivesTheSameRanksAndAnotherSeedOthers() {
        List<LayerSpec> layers = new ArrayList<>();
        for (int l = 0; l < 24; l++) {
            layers.add(LayerSpec.of("layer" + l, 768, 768, 0.01));
        }
        long budget = 1536L * 24 * 10;
        RankAllocation a = allocator(AllocationStrategy.RANDOM, 2, 32, 7).allocate(layers, budget);
        RankAllocation b = allocator(AllocationStrategy.RANDOM, 2, 32, 7).allocate(new ArrayList<>(layers), budget);
        RankAllocation c = allocator(AllocationStrategy.RANDOM, 2, 32, 8).allocate(layers, budget);
        assertEquals(a, b);
        assertNotEquals(a.ranks(), c.ranks());
    }

    @Test
    void profilesAreScaledByTheLargestCommonFactorThatFits() {
        long seed = RandomProblems.freshSeed();
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < 2000; i++) {
            AllocationProblem p = profileProblem(random);
            for (AllocationStrategy s : List.of(AllocationStrategy.RANDOM, AllocationStrategy.DECAY, AllocationStrategy.GROWTH)) {
                RankAllocator allocator = allocator(s, p.rMin, p.rMax, i);
                RankProfile profile = allocator.profile(p.size());
                int[] got = allocator.allocate(p).rankArray();
                assertArrayEquals(largestFittingFactorRanks(p, profile), got, RandomProblems.replay(seed) + ", case " + i
                        + ", " + s.label() + ": " + RandomProblems.describe(p));
            }
        }
    }

    @Test
    void theExactBreakpointWalkAloneAgreesWithBisectionThenWalk() {
        // The walk from f = 0 visits every breakpoint in exact order, tie groups together; the bisection
        // only shortens it, so both must give the same ranks.
        long seed = RandomProblems.freshSeed();
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < 1000; i++) {
            AllocationProblem p = profileProblem(random);
            for (AllocationStrategy s : List.of(AllocationStrategy.RANDOM, AllocationStrategy.DECAY, AllocationStrategy.GROWTH)) {
                RankProfile profile = allocator(s, p.rMin, p.rMax, i).profile(p.size());
                int[] walked = ProfileScaling.ranksAt(p, profile, 0);
                ProfileScaling.walkBreakpoints(p, profile, walked);
                assertArrayEquals(ProfileScaling.fit(p, profile), walked, RandomProblems.replay(seed) + ", case " + i
                        + ", " + s.label() + ": " + RandomProblems.describe(p));
            }
        }
    }

    @Test
    void aProfileThatFitsIsNotScaledUp() {
        List<LayerSpec> layers = List.of(LayerSpec.of("a", 64, 64, 0), LayerSpec.of("b", 64, 64, 0),
                LayerSpec.of("c", 64, 64, 0));
        RankAllocation a = allocator(AllocationStrategy.DECAY, 2, 10, 0).allocate(layers, 1_000_000);
        assertEquals(List.of(10, 6, 2), a.ranks()); // factor 1: the profile itself, never more
        assertEquals(RankAllocation.Method.SCALED_PROFILE, a.method());
    }

    @Test
    void decayScalesDownTogetherAndKeepsItsShape() {
        List<LayerSpec> layers = new ArrayList<>();
        for (int l = 0; l < 5; l++) {
            layers.add(LayerSpec.of("l" + l, 100, 100, 0.05));
        }
        // Profile 32, 24.5, 17, 9.5, 2 (Σ 85); a budget of 40 ranks scales it by about 40/85.
        RankAllocation a = allocator(AllocationStrategy.DECAY, 2, 32, 0).allocate(layers, 200L * 40);
        int[] r = a.rankArray();
        assertTrue(a.cost() <= 200L * 40, a.toString());
        for (int l = 1; l < r.length; l++) {
            assertTrue(r[l] <= r[l - 1], Arrays.toString(r));
        }
        assertEquals(15, r[0], 1, Arrays.toString(r));
    }

    @Test
    void uniformIsTheLargestCommonRankThatFits() {
        long seed = RandomProblems.freshSeed();
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < 2000; i++) {
            AllocationProblem p = profileProblem(random);
            int[] got = allocator(AllocationStrategy.UNIFORM, p.rMin, p.rMax, 0).allocate(p).rankArray();
            int expected = p.rMin;
            for (int r = p.rMax; r >= p.rMin; r--) {
                if (p.cost(UniformRank.at(p, r)) <= p.budget) {
                    expected = r;
                    break;
                }
            }
            assertArrayEquals(UniformRank.at(p, expected), got, RandomProblems.replay(seed) + ", case " + i + ": "
                    + RandomProblems.describe(p));
        }
    }

    @Test
    void uniformMatchesTheBudgetOverTheSumOfCosts() {
        // AIRA supp. Theorem A.2's r_uniform = P / Σ (m_l + n_l), rounded down.
        List<LayerSpec> layers = List.of(LayerSpec.of("q", 768, 768, 0.01), LayerSpec.of("k", 768, 768, 0.02),
                LayerSpec.of("up", 3072, 768, 0.03));
        long sum = 1536 + 1536 + 3840;
        RankAllocation a = allocator(AllocationStrategy.UNIFORM, 1, 256, 0).allocate(layers, sum * 17 + sum - 1);
        assertEquals(List.of(17, 17, 17), a.ranks());
        assertEquals(RankAllocation.Method.UNIFORM, a.method());
    }

    /** Up to 8 layers, ranks to 40, some layers capped below r_max, random costs and budgets. */
    private static AllocationProblem profileProblem(SplittableRandom random) {
        int layers = 1 + random.nextInt(8);
        int rMin = 1 + random.nextInt(4);
        int rMax = rMin + random.nextInt(37);
        double[] weight = new double[layers];
        long[] cost = new long[layers];
        int[] upper = new int[layers];
        long min = 0;
        long max = 0;
        for (int l = 0; l < layers; l++) {
            weight[l] = random.nextDouble();
            cost[l] = 1 + random.nextInt(20);
            upper[l] = random.nextInt(5) == 0 ? rMin + random.nextInt(rMax - rMin + 1) : rMax;
            min += cost[l] * rMin;
            max += cost[l] * upper[l];
        }
        long budget = min + (long) (random.nextDouble() * 1.05 * (max - min + 1));
        return new AllocationProblem(RandomProblems.names(layers), weight, cost, upper, rMin, rMax, budget);
    }

    /**
     * The reference: the ranks change only at the factors f = k / p_l (k an integer), so try f = 1 and
     * then every such breakpoint from the largest down, in exact rational arithmetic, and take the first
     * whose clamped ranks fit. With {@code p_l = num_l / den}, the rank of layer j at {@code f = k / p_l}
     * is {@code ⌊k · num_j / num_l⌋}.
     */
    private static int[] largestFittingFactorRanks(AllocationProblem p, RankProfile profile) {
        int layers = p.size();
        int[] atOne = new int[layers];
        for (int j = 0; j < layers; j++) {
            atOne[j] = p.clamp(j, profile.numerator(j) / profile.denominator());
        }
        if (p.cost(atOne) <= p.budget) {
            return atOne;
        }
        List<long[]> breakpoints = new ArrayList<>(); // {k, l}: f = k · den / num_l
        for (int l = 0; l < layers; l++) {
            for (long k = 1; k * profile.denominator() <= profile.numerator(l); k++) {
                breakpoints.add(new long[] {k, l});
            }
        }
        breakpoints.sort((x, y) -> Long.compare(y[0] * profile.numerator((int) x[1]), x[0] * profile.numerator((int) y[1])));
        for (long[] b : breakpoints) {
            int[] ranks = new int[layers];
            for (int j = 0; j < layers; j++) {
                ranks[j] = p.clamp(j, b[0] * profile.numerator(j) / profile.numerator((int) b[1]));
            }
            if (p.cost(ranks) <= p.budget) {
                return ranks;
            }
        }
        int[] minimum = new int[layers];
        Arrays.fill(minimum, p.rMin);
        return minimum;
    }
}
