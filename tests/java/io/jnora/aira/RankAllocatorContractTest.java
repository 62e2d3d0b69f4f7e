package io.jnora.aira;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.InsufficientBudgetException;
import io.jnora.InvalidRankException;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** What every strategy promises (SPEC §2.8): the budget and the bounds hold, and bad problems are refused by name. */
class RankAllocatorContractTest {
    @Test
    void everyStrategyRespectsTheBudgetAndTheBounds() {
        long seed = RandomProblems.freshSeed();
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < 600; i++) {
            AllocationProblem p = i % 10 == 0 ? RandomProblems.modelSized(random) : RandomProblems.small(random);
            for (AllocationStrategy s : AllocationStrategy.values()) {
                for (long cells : new long[] {RankAllocator.DP_CELL_LIMIT, 0}) {
                    RankAllocation a = RankAllocator.builder().strategy(s).minRank(p.rMin).maxRank(p.rMax).seed(i)
                            .dpCellLimit(cells).build().allocate(p);
                    String why = RandomProblems.replay(seed) + ", case " + i + ", " + s.label() + "/" + a.method().label();
                    assertTrue(a.cost() <= p.budget, why + ": cost " + a.cost() + " > " + p.budget);
                    assertEquals(p.cost(a.rankArray()), a.cost(), why);
                    assertEquals(p.objective(a.rankArray()), a.objective(), 0.0, why);
                    assertEquals(p.names, a.layers(), why);
                    for (int l = 0; l < p.size(); l++) {
                        assertTrue(a.rank(l) >= p.rMin && a.rank(l) <= p.upper[l], why + ", layer " + l + ": " + a.rank(l));
                    }
                }
            }
        }
    }

    @Test
    void aBudgetBelowTheMinimumNamesTheMinimum() {
        List<LayerSpec> layers = List.of(LayerSpec.of("q", 768, 768, 0.01), LayerSpec.of("up", 3072, 768, 0.02));
        long minimum = 2L * (1536 + 3840); // r_min = 2
        for (AllocationStrategy s : AllocationStrategy.values()) {
            InsufficientBudgetException e = assertThrows(InsufficientBudgetException.class,
                    () -> RankAllocator.builder().strategy(s).minRank(2).maxRank(32).build().allocate(layers, minimum - 1));
            assertEquals(minimum, e.minimumBudget());
            assertTrue(e.getMessage().contains("minimum " + minimum) && e.getMessage().contains("budget " + (minimum - 1)),
                    e.getMessage());
        }
        // The minimum itself is enough: every layer at r_min.
        RankAllocation a = RankAllocator.builder().minRank(2).maxRank(32).build().allocate(layers, minimum);
        assertEquals(List.of(2, 2), a.ranks());
    }

    @Test
    void theNestedCostModelChargesTwiceTheOuterRankAndCapsAtIt() {
        List<LayerSpec> layers = List.of(LayerSpec.nested("q", 768, 768, 0.05, 64), LayerSpec.nested("v", 768, 768, 0.05, 8));
        RankAllocation a = RankAllocator.builder().costModel(CostModel.NESTED).maxRank(256).build()
                .allocate(layers, 1_000_000);
        assertEquals(List.of(64, 8), a.ranks()); // r_in ≤ r_out
        assertEquals(2L * 64 * 64 + 2L * 8 * 8, a.cost());
    }

    @Test
    void theLoraCostModelCapsAtTheSmallerDimension() {
        List<LayerSpec> layers = List.of(LayerSpec.of("thin", 4, 300, 0.5), LayerSpec.of("wide", 300, 300, 0.5));
        RankAllocation a = RankAllocator.builder().maxRank(16).build().allocate(layers, 1_000_000);
        assertEquals(List.of(4, 16), a.ranks());
        assertEquals(304L * 4 + 600L * 16, a.cost());
    }

    @Test
    void theNestedCostModelNeedsEveryOuterRank() {
        List<LayerSpec> layers = List.of(LayerSpec.nested("q", 64, 64, 0.1, 16), LayerSpec.of("k", 64, 64, 0.1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> RankAllocator.builder().costModel(CostModel.NESTED).build().allocate(layers, 10_000));
        assertTrue(e.getMessage().contains("'k'") && e.getMessage().contains("outer rank"), e.getMessage());
    }

    @Test
    void aLayerWhoseCapIsBelowTheMinimumRankIsRefusedByName() {
        List<LayerSpec> layers = List.of(LayerSpec.of("tiny", 2, 100, 0.1), LayerSpec.of("big", 100, 100, 0.1));
        InvalidRankException e = assertThrows(InvalidRankException.class,
                () -> RankAllocator.builder().minRank(4).build().allocate(layers, 100_000));
        assertTrue(e.getMessage().contains("'tiny'") && e.getMessage().contains("r_min = 4"), e.getMessage());
    }

    @Test
    void invalidBoundsAndLayersAreRefused() {
        assertThrows(InvalidRankException.class, () -> RankAllocator.builder().minRank(0).build());
        assertThrows(InvalidRankException.class, () -> RankAllocator.builder().minRank(8).maxRank(4).build());
        List<LayerSpec> twice = List.of(LayerSpec.of("q", 8, 8, 0.1), LayerSpec.of("q", 8, 8, 0.2));
        IllegalArgumentException dup = assertThrows(IllegalArgumentException.class,
                () -> RankAllocator.builder().build().allocate(twice, 1000));
        assertTrue(dup.getMessage().contains("'q'"), dup.getMessage());
        assertThrows(IllegalArgumentException.class, () -> RankAllocator.builder().build().allocate(List.of(), 1000));
        assertThrows(IllegalArgumentException.class, () -> LayerSpec.of("q", 8, 8, 1.5));
        assertThrows(io.jnora.NonFiniteInputException.class, () -> LayerSpec.of("q", 8, 8, Double.NaN));
        assertThrows(io.jnora.ShapeMismatchException.class, () -> LayerSpec.of("q", 0, 8, 0.1));
        assertThrows(InvalidRankException.class, () -> LayerSpec.nested("q", 8, 8, 0.1, 9));
    }

    @Test
    void strategyAndCostNamesParse() {
        assertEquals(AllocationStrategy.OUTLIER_DRIVEN, AllocationStrategy.parse("outlier"));
        assertEquals(AllocationStrategy.OUTLIER_DRIVEN, AllocationStrategy.parse("Outlier-Driven"));
        assertEquals(AllocationStrategy.DECAY, AllocationStrategy.parse("decay"));
        assertEquals(CostModel.NESTED, CostModel.parse("nested"));
        assertThrows(IllegalArgumentException.class, () -> AllocationStrategy.parse("greedy"));
        assertThrows(IllegalArgumentException.class, () -> CostModel.parse("dora"));
    }
}
