package io.jnora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.Backend;
import io.jnora.InvalidRankException;
import io.jnora.NoraContext;
import io.jnora.adapter.AdapterLayer;
import io.jnora.init.InnerInit;
import io.jnora.init.NoraConfig;
import io.jnora.init.OutputError;
import io.jnora.init.ScaleMode;
import io.jnora.synth.SyntheticLayer;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Layer-wise recovery (SPEC §2.10) on a synthetic layer whose inputs have outlier channels: training
 * lowers the held-out output error and gets within a few percent of the closed-form optimum, which
 * the WHITEN outer factors put within the adapter's reach.
 */
class LayerRecoveryTest {
    private static final long SEED = ThreadLocalRandom.current().nextLong();
    private NoraContext ctx;

    @BeforeEach
    void open() {
        ctx = NoraContext.create(Backend.CPU);
    }

    @AfterEach
    void close() {
        ctx.close();
    }

    private static NoraConfig whitened(int r, int rIn) {
        return NoraConfig.builder().outerRank(r).innerRank(rIn).scaleMode(ScaleMode.whiten()).seed(SEED).build();
    }

    /**
     * Magnitude pruning of half the entries, r = 16, r_in = 4, 1000 steps of 600 of the 1800 training
     * rows. Over 20 seeds these settings end 0–2.3% above the optimum (minibatch noise and the slow
     * directions of a bilinear fit; full-batch runs reach it to 4 digits), so "within a few percent"
     * is asserted as ≤ 5%. A broken gradient, update or schedule stays near the error before training,
     * 1.7–30× the optimum on those seeds.
     */
    @Test
    void magnitudePrunedLayerRecoversToWithinAFewPercentOfTheOptimum() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 96, 64, 16, 4, 1f);
        float[] x = s.inputs(SEED + 1, 2000);
        AdamWConfig opt = AdamWConfig.builder().learningRate(2e-2).schedule(LearningRateSchedule.warmupCosine(50, 1000)).build();
        try (LayerRecovery job = LayerRecovery.builder(ctx).weight(s.baseWeight, 96, 64).pruning(Pruning.magnitude(0.5))
                .calibration(x, 2000).adapter(whitened(16, 4)).optimizer(opt).batchRows(600).seed(SEED).build()) {
            RecoveryReport r = job.run();
            String why = r + " (seed " + SEED + ")";
            assertEquals(200, r.testRows(), "the last 10% are held out");
            assertEquals(1800, r.trainRows());
            assertFalse(r.heldOutGiven());
            assertEquals(1000, r.steps());
            assertTrue(r.errorOptimum() < 0.8 * r.errorBefore(), "the optimum is a real improvement: " + why);
            assertTrue(r.errorAfter() < 0.8 * r.errorBefore(), "training lowered the error: " + why);
            assertTrue(r.afterOverOptimum() <= 1.05, "within a few percent of the optimum: " + why);

            // The reported errors are the held-out output error of the written adapter on W_base, in float64.
            AdapterLayer a = job.adapterLayer("layer");
            float[] test = java.util.Arrays.copyOfRange(x, 1800 * 64, 2000 * 64);
            double after = OutputError.relative(test, 200, s.baseWeight, a.mergedWeight(job.prunedWeight()), 96, 64);
            assertEquals(after, r.errorAfter(), 1e-4 * after, why);
            double before = OutputError.relative(test, 200, s.baseWeight, job.prunedWeight(), 96, 64);
            assertEquals(before, r.errorBefore(), 1e-4 * before, why);
        }
    }

    /**
     * Rank truncation with the held-out rows given, full-batch steps (every training row each step):
     * over 20 seeds these settings end within 0.6% of the optimum; asserted ≤ 5%.
     */
    @Test
    void rankTruncatedLayerWithGivenHeldOutRowsRecovers() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 70, 60, 12, 4, 1f);
        float[] x = s.inputs(SEED + 1, 1500);
        float[] test = s.inputs(SEED + 2, 300);
        AdamWConfig opt = AdamWConfig.builder().learningRate(2e-2).schedule(LearningRateSchedule.warmupCosine(25, 500)).build();
        try (LayerRecovery job = LayerRecovery.builder(ctx).weight(s.baseWeight, 70, 60).pruning(Pruning.rank(20))
                .calibration(x, 1500).heldOut(test, 300).adapter(whitened(12, 4)).optimizer(opt).batchRows(1500)
                .seed(SEED).build()) {
            RecoveryReport r = job.run();
            String why = r + " (seed " + SEED + ")";
            assertTrue(r.heldOutGiven());
            assertEquals(1500, r.trainRows());
            assertEquals(300, r.testRows());
            assertTrue(r.errorAfter() < 0.8 * r.errorBefore(), why);
            // Held-out rows: the optimum is fitted on other rows, so training may land a little above
            // it (seeds 1..40: at most 1.037; one random seed in CI: 1.083, 6388029983724968673).
            assertTrue(r.afterOverOptimum() <= 1.15, why);
        }
    }

    /**
     * A layer trained in bfloat16 or float16 (base D, outer factors and rows in 2 bytes; float16
     * loss-scaled) recovers like the float32 one, and the adapter it hands out carries the outer
     * factors as it held them (rounded to its precision).
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = io.jnora.Precision.class, names = {"BFLOAT16", "FLOAT16"})
    void halfPrecisionLayersRecover(io.jnora.Precision p) {
        SyntheticLayer s = SyntheticLayer.random(SEED, 50, 40, 8, 3, 1f);
        float[] x = s.inputs(SEED + 1, 600);
        LayerRecovery.Builder settings = LayerRecovery.builder(ctx).weight(s.baseWeight, 50, 40)
                .pruning(Pruning.magnitude(0.5)).calibration(x, 600).adapter(whitened(8, 3)).steps(200).seed(SEED);
        RecoveryReport full;
        try (LayerRecovery job = settings.build()) {
            full = job.run();
        }
        try (LayerRecovery job = settings.precision(p).build()) {
            RecoveryReport r = job.run();
            String why = p + " " + r + " against float32 " + full + " (seed " + SEED + ")";
            assertTrue(r.errorAfter() < 0.5 * r.errorBefore(), why);
            assertTrue(r.errorAfter() <= 1.05 * full.errorAfter(), why);
            for (float v : job.adapterLayer("layer").outerA()) {
                assertEquals(p.round(v), v, 0f, p + ": an outer factor value not of the layer's precision");
            }
        }
    }

    /**
     * Measured on its own training rows the closed form is the minimum over every rank-r_in correction
     * (up to its λ = 1e-8 ridge), so no training run beats it there: a check of the optimum itself.
     */
    @Test
    void onItsTrainingRowsTheClosedFormIsNeverBeaten() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 40, 36, 10, 3, 1f);
        float[] x = s.inputs(SEED + 1, 800);
        try (LayerRecovery job = LayerRecovery.builder(ctx).weight(s.baseWeight, 40, 36).pruning(Pruning.magnitude(0.6))
                .calibration(x, 800).heldOut(x, 800).adapter(whitened(10, 3)).steps(300).seed(SEED).build()) {
            RecoveryReport r = job.run();
            assertTrue(r.errorAfter() >= r.errorOptimum() * (1 - 1e-4), r + " (seed " + SEED + ")");
            assertTrue(r.errorAfter() < r.errorBefore() / 2, r + " (seed " + SEED + ")");
        }
    }

    @Test
    void progressIsReportedEverySoManyStepsAndAfterTheLast() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 20, 16, 4, 2, 1f);
        java.util.List<Integer> seen = new java.util.ArrayList<>();
        try (LayerRecovery job = LayerRecovery.builder(ctx).weight(s.baseWeight, 20, 16).pruning(Pruning.magnitude(0.5))
                .calibration(s.inputs(SEED, 100), 100).adapter(whitened(4, 2)).steps(25).progress(10, r -> seen.add(r.step()))
                .build()) {
            job.run();
        }
        assertEquals(java.util.List.of(10, 20, 25), seen);
    }

    /**
     * SIGMA starts the inner pair at the top r_in singular values of D's AwSVD, on W_base without a
     * residual: with WHITEN outer factors the layer starts next to the closed-form optimum (both are
     * whitened truncations of D; λ differs, 1e-3 against 1e-8), far below W_base's own error, and an
     * adapter file, whose sigma layers run on a residual, is refused.
     */
    @Test
    void sigmaRecoveryStartsAtTheTruncatedDifference() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 48, 40, 12, 3, 1f);
        float[] x = s.inputs(SEED + 1, 1000);
        NoraConfig sigma = whitened(12, 3).toBuilder().init(InnerInit.SIGMA).build();
        double zeroBefore;
        try (LayerRecovery job = LayerRecovery.builder(ctx).weight(s.baseWeight, 48, 40).pruning(Pruning.magnitude(0.5))
                .calibration(x, 1000).adapter(whitened(12, 3)).steps(1).build()) {
            zeroBefore = job.run().errorBefore();
        }
        try (LayerRecovery job = LayerRecovery.builder(ctx).weight(s.baseWeight, 48, 40).pruning(Pruning.magnitude(0.5))
                .calibration(x, 1000).adapter(sigma).steps(20).optimizer(AdamWConfig.builder().learningRate(1e-4).build())
                .build()) {
            RecoveryReport r = job.run();
            String why = r + " (seed " + SEED + "; ZERO starts at " + zeroBefore + ")";
            assertTrue(r.errorBefore() <= 1.05 * r.errorOptimum(), "SIGMA starts at the optimum: " + why);
            assertTrue(r.errorBefore() < 0.8 * zeroBefore, "and below W_base: " + why);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> job.adapterLayer("layer"));
            assertTrue(e.getMessage().contains("residual"), e.getMessage());
        }
    }

    /** The learning curve: every so many steps and after the last; its last point is the report's error after. */
    @Test
    void heldOutErrorIsReportedEverySoManyStepsAndAfterTheLast() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 20, 16, 4, 2, 1f);
        java.util.List<HeldOutError> seen = new java.util.ArrayList<>();
        try (LayerRecovery job = LayerRecovery.builder(ctx).weight(s.baseWeight, 20, 16).pruning(Pruning.magnitude(0.5))
                .calibration(s.inputs(SEED, 100), 100).adapter(whitened(4, 2)).steps(25).evaluateEvery(10, seen::add)
                .build()) {
            RecoveryReport r = job.run();
            assertEquals(java.util.List.of(10, 20, 25), seen.stream().map(HeldOutError::step).toList());
            assertEquals(r.errorAfter(), seen.get(2).error(), 1e-6 * r.errorAfter());
            // What is reported, not how far 25 steps on 100 rows get: the held-out error after 10 steps
            // may still be above the start (seen once in a random seed); other tests check recovery.
            assertTrue(seen.stream().allMatch(h -> Double.isFinite(h.error()) && h.error() > 0), seen.toString());
        }
    }

    @Test
    void badSettingsAreTypedErrors() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 20, 16, 4, 2, 1f);
        float[] x = s.inputs(SEED, 50);
        LayerRecovery.Builder base = LayerRecovery.builder(ctx).weight(s.baseWeight, 20, 16).calibration(x, 50)
                .adapter(whitened(4, 2));
        assertThrows(InvalidHyperparameterException.class, () -> base.pruning(Pruning.magnitude(0.5)).steps(0).build());
        assertThrows(InvalidRankException.class, () -> base.pruning(Pruning.rank(17)).steps(5).build());
        assertThrows(InvalidHyperparameterException.class, () -> base.pruning(Pruning.magnitude(0.5)).steps(5)
                .optimizer(AdamWConfig.builder().schedule(LearningRateSchedule.warmupCosine(0, 6)).build()).build());
        assertThrows(InvalidHyperparameterException.class, () -> base.pruning(Pruning.magnitude(0.5)).steps(5)
                .evaluateEvery(0, p -> { }));
        assertThrows(io.jnora.ShapeMismatchException.class, () -> LayerRecovery.builder(ctx).weight(s.baseWeight, 20, 16)
                .calibration(x, 49).pruning(Pruning.magnitude(0.5)).adapter(whitened(4, 2)).build());
    }

    @Test
    void magnitudePruningZeroesTheSmallestEntriesWithTiesBrokenByPosition() {
        float[] w = {0.5f, -0.1f, 0.1f, 2f, -0.1f, 0.3f};
        assertArrayEquals(new float[] {0.5f, 0f, 0f, 2f, -0.1f, 0.3f}, Pruning.magnitude(0.34).apply(w, 2, 3),
                "⌊0.34·6⌋ = 2 entries: the three of |w| = 0.1 are tied, the first two by position go");
        assertArrayEquals(w, Pruning.magnitude(0).apply(w, 2, 3));
        assertArrayEquals(new float[] {0f, 0f, 0f, 2f, 0f, 0f}, Pruning.magnitude(0.99).apply(w, 2, 3));
        assertEquals(2, Pruning.magnitude(0.34).prunedEntries(2, 3));
        assertThrows(InvalidHyperparameterException.class, () -> Pruning.magnitude(1.0));
        assertThrows(InvalidHyperparameterException.class, () -> Pruning.magnitude(-0.01));
        assertThrows(InvalidHyperparameterException.class, () -> Pruning.parse("magnitude:1.5"));
        assertThrows(IllegalArgumentException.class, () -> Pruning.parse("magnitude:half"));
        assertThrows(IllegalArgumentException.class, () -> Pruning.parse("sparsegpt:0.5"));
        assertEquals("rank:3", Pruning.parse(" Rank:3 ").toString());
    }

    @Test
    void rankPruningKeepsTheTopSingularTriplets() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 30, 25, 4, 2, 1f);
        float[] base = Pruning.rank(5).apply(s.baseWeight, 30, 25);
        float[] sigma = io.jnora.init.TruncatedSvd.exact(base, 30, 25, 25, true).singularValues();
        float[] original = io.jnora.init.TruncatedSvd.exact(s.baseWeight, 30, 25, 25, true).singularValues();
        for (int k = 0; k < 5; k++) {
            assertEquals(original[k], sigma[k], 1e-4 * original[0], "σ_" + k);
        }
        assertTrue(sigma[5] <= 1e-5 * original[0], "rank 5: σ_6 = " + sigma[5]);
    }
}
