package io.jnora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.Backend;
import io.jnora.InvalidRankException;
import io.jnora.NoraContext;
import io.jnora.backend.HostLapack;
import io.jnora.init.NoraConfig;
import io.jnora.init.OutputError;
import io.jnora.init.ScaleMode;
import io.jnora.synth.SyntheticLayer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Layer-wise recovery with a plain LoRA, both factors trained (SPEC §2.10): the same job as
 * {@link LayerRecovery}'s, so on the same data it reaches the same closed-form optimum when the ranks
 * agree, and its reported errors are the held-out output error of W_base + s·B A.
 */
class LoraRecoveryTest {
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

    /**
     * Half the entries pruned, rank 4, 1000 steps of 600 rows, as LayerRecoveryTest's first case:
     * the LoRA starts at W_base (B = 0) and ends within a few percent of the rank-4 optimum, which is
     * LayerRecovery's optimum at r_in = 4 on the same rows. A broken gradient or update stays near the
     * error before training (well above 1.05× the optimum).
     */
    @Test
    void magnitudePrunedLayerRecoversToWithinAFewPercentOfTheOptimum() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 96, 64, 16, 4, 1f);
        float[] x = s.inputs(SEED + 1, 2000);
        AdamWConfig opt = AdamWConfig.builder().learningRate(2e-2).schedule(LearningRateSchedule.warmupCosine(50, 1000)).build();
        RecoveryReport nested;
        try (LayerRecovery job = LayerRecovery.builder(ctx).weight(s.baseWeight, 96, 64).pruning(Pruning.magnitude(0.5))
                .calibration(x, 2000).adapter(NoraConfig.builder().outerRank(16).innerRank(4)
                        .scaleMode(ScaleMode.whiten()).build()).steps(1).build()) {
            nested = job.run();
        }
        try (LoraRecovery job = LoraRecovery.builder(ctx).weight(s.baseWeight, 96, 64).pruning(Pruning.magnitude(0.5))
                .calibration(x, 2000).rank(4).optimizer(opt).batchRows(600).seed(SEED).initSeed(SEED).build()) {
            assertEquals(4L * (96 + 64), job.trainableParameters());
            RecoveryReport r = job.run();
            String why = r + " (seed " + SEED + ")";
            assertEquals(1800, r.trainRows());
            assertEquals(200, r.testRows());
            assertEquals(nested.errorBefore(), r.errorBefore(), 1e-6 * r.errorBefore(), "same W_base and rows: " + why);
            assertEquals(nested.errorOptimum(), r.errorOptimum(), 1e-6 * r.errorOptimum(), "same optimum: " + why);
            assertTrue(r.errorAfter() < 0.8 * r.errorBefore(), "training lowered the error: " + why);
            assertTrue(r.afterOverOptimum() <= 1.05, "within a few percent of the optimum: " + why);

            // The reported error is the held-out output error of W_base + s·B A, recomputed here in float64.
            float[] delta = HostLapack.multiply(false, false, 96, 64, 4, job.loraB(), job.loraA());
            float[] recovered = job.prunedWeight();
            for (int i = 0; i < recovered.length; i++) {
                recovered[i] += job.scale() * delta[i];
            }
            float[] test = java.util.Arrays.copyOfRange(x, 1800 * 64, 2000 * 64);
            double after = OutputError.relative(test, 200, s.baseWeight, recovered, 96, 64);
            assertEquals(after, r.errorAfter(), 1e-4 * after, why);
        }
    }

    /** PEFT's init: B = 0, so the layer starts at W_base; A is Kaiming-uniform, U(±1/√n), and seeded. */
    @Test
    void initialisedAsPeftDoes() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 30, 25, 6, 2, 1f);
        float[] x = s.inputs(SEED, 100);
        LoraRecovery.Builder b = LoraRecovery.builder(ctx).weight(s.baseWeight, 30, 25).pruning(Pruning.magnitude(0.5))
                .calibration(x, 100).rank(3).steps(5).initSeed(11);
        try (LoraRecovery one = b.build(); LoraRecovery two = b.build(); LoraRecovery other = b.initSeed(12).build()) {
            for (float v : one.loraB()) {
                assertEquals(0f, v);
            }
            float[] a = one.loraA();
            double bound = 1 / Math.sqrt(25);
            double max = 0;
            for (float v : a) {
                max = Math.max(max, Math.abs(v));
            }
            assertTrue(max <= bound && max > bound / 2, "max |A| = " + max + " for the bound " + bound);
            assertEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(two.loraA()));
            assertTrue(!java.util.Arrays.equals(a, other.loraA()), "another seed, another A");
            assertEquals(1f, one.scale(), "s = α/k with α = k by default (SPEC §2.4)");
        }
    }

    @Test
    void heldOutErrorIsReportedEverySoManyStepsAndAfterTheLast() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 20, 16, 4, 2, 1f);
        List<HeldOutError> seen = new ArrayList<>();
        try (LoraRecovery job = LoraRecovery.builder(ctx).weight(s.baseWeight, 20, 16).pruning(Pruning.magnitude(0.5))
                .calibration(s.inputs(SEED, 100), 100).rank(2).steps(25).evaluateEvery(10, seen::add).build()) {
            RecoveryReport r = job.run();
            assertEquals(List.of(10, 20, 25), seen.stream().map(HeldOutError::step).toList());
            assertEquals(r.errorAfter(), seen.get(2).error(), 1e-6 * r.errorAfter());
        }
    }

    @Test
    void badSettingsAreTypedErrors() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 20, 16, 4, 2, 1f);
        float[] x = s.inputs(SEED, 50);
        LoraRecovery.Builder b = LoraRecovery.builder(ctx).weight(s.baseWeight, 20, 16).calibration(x, 50)
                .pruning(Pruning.magnitude(0.5));
        assertThrows(InvalidRankException.class, () -> b.rank(17).build());
        assertThrows(InvalidRankException.class, () -> b.rank(0).build());
        assertThrows(InvalidHyperparameterException.class, () -> b.rank(2).steps(0).build());
        assertThrows(InvalidHyperparameterException.class, () -> b.rank(2).steps(5).alpha(0).build());
        assertThrows(InvalidHyperparameterException.class, () -> b.rank(2).steps(5).evaluateEvery(0, p -> { }));
        assertThrows(io.jnora.ShapeMismatchException.class, () -> LoraRecovery.builder(ctx).weight(s.baseWeight, 20, 16)
                .calibration(x, 49).pruning(Pruning.magnitude(0.5)).rank(2).build());
    }
}
