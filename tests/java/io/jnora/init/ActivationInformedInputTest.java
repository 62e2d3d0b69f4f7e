package io.jnora.init;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.Backend;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.reference.Float64Reference;
import io.jnora.stats.ActivationStats;
import java.util.SplittableRandom;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;

/** The activation-informed input of AIRA supp. §B (SPEC §2.10), folded into the outer A at init. */
class ActivationInformedInputTest {
    private static final long SEED = ThreadLocalRandom.current().nextLong();

    /** A = A_plain · diag(s_in), s_in,j = mean|x_j| / mean_k mean|x_k| computed here from the rows themselves. */
    @Test
    void theOuterAIsScaledByTheChannelsRelativeMeanMagnitude() {
        SplittableRandom rng = new SplittableRandom(SEED);
        int m = 30;
        int n = 26;
        float[] w = InitTestData.decayingWeight(rng, m, n, 0.9);
        float[] x = new InitTestData.Activations(rng, n).sample(rng, 300);
        ActivationStats stats = ActivationStats.create(n, false).accumulate(x, 300);
        double[] meanAbs = new double[n];
        for (int t = 0; t < 300; t++) {
            for (int j = 0; j < n; j++) {
                meanAbs[j] += Math.abs(x[t * n + j]) / 300.0;
            }
        }
        double mean = 0;
        for (double v : meanAbs) {
            mean += v / n;
        }
        NoraConfig.Builder cfg = NoraConfig.builder().outerRank(8).innerRank(3).scaleMode(ScaleMode.rms()).svd(SvdMethod.EXACT)
                .seed(SEED);
        NestedAdapterWeights plain = NestedInitializer.initialize(w, m, n, stats, cfg.build());
        NestedAdapterWeights informed = NestedInitializer.initialize(w, m, n, stats, cfg.activationInformedInput(true).build());
        for (int k = 0; k < 8; k++) {
            for (int j = 0; j < n; j++) {
                double want = plain.outerA()[k * n + j] * (meanAbs[j] / mean);
                assertEquals(want, informed.outerA()[k * n + j], 1e-5 * Math.abs(want) + 1e-7, "A[" + k + ", " + j + "]");
            }
        }
        assertEquals(plain.outerB()[5], informed.outerB()[5], 0f, "B is unchanged");
        assertTrue(informed.config().activationInformedInput());
    }

    /** With SIGMA the residual is formed from the scaled A, so the layer's output at init is still W's. */
    @Test
    void withSigmaInitTheLayerStillComputesTheOriginalWeight() {
        SplittableRandom rng = new SplittableRandom(SEED + 1);
        int m = 24;
        int n = 20;
        float[] w = InitTestData.gaussianWeight(rng, m, n);
        float[] x = new InitTestData.Activations(rng, n).sample(rng, 200);
        ActivationStats stats = ActivationStats.create(n, false).accumulate(x, 200);
        NestedAdapterWeights init = NestedInitializer.initialize(w, m, n, stats, NoraConfig.builder().outerRank(6)
                .innerRank(2).init(InnerInit.SIGMA).activationInformedInput(true).seed(SEED).build());
        float[] probe = java.util.Arrays.copyOf(x, 9 * n);
        try (NoraContext ctx = NoraContext.create(Backend.CPU); NestedLinear l = init.build(ctx);
                Matrix xm = ctx.matrix(9, n, probe); Matrix y = l.forward(xm)) {
            double[] want = Float64Reference.multiplyTransposed(Float64Reference.toDouble(probe), 9, n,
                    Float64Reference.toDouble(w), m);
            assertTrue(Float64Reference.relativeFrobeniusError(y.toArray(), want) <= 1e-5);
        }
    }

    @Test
    void theOptionNeedsTheStatisticsAndAllDeadChannelsAreRefused() {
        NoraConfig cfg = NoraConfig.builder().outerRank(2).innerRank(1).activationInformedInput(true).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> NestedInitializer.initialize(new float[12], 3, 4, InputScaling.identity(4), cfg));
        assertTrue(e.getMessage().contains("ActivationStats"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> NestedInitializer.activationInformedInputScale(new double[3]));
        float[] s = NestedInitializer.activationInformedInputScale(new double[] {1, 3});
        assertEquals(0.5f, s[0]);
        assertEquals(1.5f, s[1]);
    }
}
