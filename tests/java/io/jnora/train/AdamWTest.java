package io.jnora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.Backend;
import io.jnora.Gradients;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.synth.SyntheticLayer;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The trainer's AdamW (SPEC §2.10) against an independent float64 implementation written here from
 * the formulas (torch.optim.AdamW; the Hugging Face warm-up/cosine schedule; clipping of the global
 * norm), fed the very gradients the trainer sees.
 */
class AdamWTest {
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

    /** The float64 reference: one parameter tensor's AdamW state. */
    private static final class Float64Adam {
        final double[] p;
        final double[] m;
        final double[] v;

        Float64Adam(float[] initial) {
            p = new double[initial.length];
            for (int i = 0; i < p.length; i++) {
                p[i] = initial[i];
            }
            m = new double[p.length];
            v = new double[p.length];
        }

        void update(double[] g, double lr, double b1, double b2, double eps, double wd, int t) {
            double bc1 = 1 - Math.pow(b1, t);
            double bc2 = 1 - Math.pow(b2, t);
            for (int i = 0; i < p.length; i++) {
                p[i] -= lr * wd * p[i];
                m[i] = b1 * m[i] + (1 - b1) * g[i];
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                double mHat = m[i] / bc1;
                double vHat = v[i] / bc2;
                p[i] -= lr * mHat / (Math.sqrt(vHat) + eps);
            }
        }
    }

    /** get_cosine_schedule_with_warmup's multiplier at scheduler step s = t − 1. */
    private static double huggingFaceFactor(int t, int warmup, int total) {
        int s = t - 1;
        if (s < warmup) {
            return (double) s / Math.max(1, warmup);
        }
        double progress = (double) (s - warmup) / Math.max(1, total - warmup);
        return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
    }

    private static double relativeError(float[] got, double[] want) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < got.length; i++) {
            num += (got[i] - want[i]) * (got[i] - want[i]);
            den += want[i] * want[i];
        }
        return Math.sqrt(num / den);
    }

    private static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    /**
     * 80 steps of two layers (odd shapes) with fresh dY each step, warm-up then cosine, weight decay,
     * and a norm bound that clipping crosses on the steps whose dY is scaled up 100×. Before each step the
     * test takes the gradients the trainer is about to use (the same float32 backward, so the same
     * bits) and gives them to the float64 AdamW. The trajectories then differ only by float32
     * rounding of each update (~1e-7 relative per step, not compounded through the gradients):
     * 80 steps stay far below 2e-5 relative; a wrong formula (bias correction, decay order, schedule
     * off by one step, a missed clip) is off by 1e-3 or more.
     */
    @Test
    void matchesAnIndependentFloat64AdamWOverManyStepsWithWarmupCosineAndClipping() {
        int steps = 80;
        int warmup = 8;
        SyntheticLayer s1 = SyntheticLayer.random(SEED, 23, 19, 7, 3, 0.5f);
        SyntheticLayer s2 = SyntheticLayer.random(SEED + 1, 11, 30, 5, 5, 2f);
        int rows = 9;
        SplittableRandom data = new SplittableRandom(SEED + 2);
        try (NestedLinear l1 = s1.build(ctx); NestedLinear l2 = s2.build(ctx)) {
            // A bound between the norms of ordinary steps and of the 100× steps (the inputs are heavy-tailed).
            double typicalNorm;
            try (Matrix x1 = ctx.matrix(rows, 19, s1.inputs(SEED + 3, rows)); Matrix dy1 = ctx.matrix(rows, 23, s1.upstream(SEED + 4, rows));
                    Matrix x2 = ctx.matrix(rows, 30, s2.inputs(SEED + 5, rows)); Matrix dy2 = ctx.matrix(rows, 11, s2.upstream(SEED + 6, rows));
                    Gradients g1 = l1.backward(x1, dy1); Gradients g2 = l2.backward(x2, dy2)) {
                typicalNorm = Math.sqrt(sumSq(g1.innerA().toArray()) + sumSq(g1.innerB().toArray())
                        + sumSq(g2.innerA().toArray()) + sumSq(g2.innerB().toArray()));
            }
            AdamWConfig cfg = AdamWConfig.builder().learningRate(3e-2).betas(0.85, 0.99).epsilon(1e-6).weightDecay(0.05)
                    .maxGradNorm(10 * typicalNorm).schedule(LearningRateSchedule.warmupCosine(warmup, steps)).build();
            List<Float64Adam> ref = List.of(new Float64Adam(s1.innerA), new Float64Adam(s1.innerB),
                    new Float64Adam(s2.innerA), new Float64Adam(s2.innerB));
            int clippedSteps = 0;
            int referenceClipped = 0;
            try (Trainer trainer = Trainer.builder(ctx).layer("first", l1).layer("second", l2).optimizer(cfg).build()) {
                for (int t = 1; t <= steps; t++) {
                    float boost = t % 5 == 0 ? 100f : 1f;
                    try (Matrix x1 = ctx.matrix(rows, 19, s1.inputs(data.nextLong(), rows));
                            Matrix dy1 = ctx.matrix(rows, 23, scaled(s1.upstream(data.nextLong(), rows), boost));
                            Matrix x2 = ctx.matrix(rows, 30, s2.inputs(data.nextLong(), rows));
                            Matrix dy2 = ctx.matrix(rows, 11, scaled(s2.upstream(data.nextLong(), rows), boost));
                            Gradients g1 = l1.backward(x1, dy1); Gradients g2 = l2.backward(x2, dy2)) {
                        List<double[]> grads = List.of(toDouble(g1.innerA().toArray()), toDouble(g1.innerB().toArray()),
                                toDouble(g2.innerA().toArray()), toDouble(g2.innerB().toArray()));
                        double sq = 0;
                        for (double[] g : grads) {
                            for (double v : g) {
                                sq += v * v;
                            }
                        }
                        double norm = Math.sqrt(sq);
                        double clip = norm > cfg.maxGradNorm() ? cfg.maxGradNorm() / norm : 1;
                        referenceClipped += clip < 1 ? 1 : 0;
                        double lr = cfg.learningRate() * huggingFaceFactor(t, warmup, steps);
                        for (int k = 0; k < 4; k++) {
                            double[] g = grads.get(k);
                            for (int i = 0; i < g.length; i++) {
                                g[i] *= clip;
                            }
                            ref.get(k).update(g, lr, cfg.beta1(), cfg.beta2(), cfg.epsilon(), cfg.weightDecay(), t);
                        }
                        StepReport r = trainer.step(List.of(TrainingBatch.upstream(l2, x2, dy2), TrainingBatch.upstream(l1, x1, dy1)));
                        assertEquals(t, r.step());
                        assertEquals(norm, r.gradientNorm(), 1e-12 * norm, "step " + t + " norm (seed " + SEED + ")");
                        assertEquals(lr, r.learningRate(), 1e-15, "step " + t + " learning rate");
                        assertEquals(clip, r.gradientScale(), 1e-12, "step " + t + " clipping factor");
                        assertTrue(Double.isNaN(r.loss()), "no regression batch: the loss is the caller's");
                        clippedSteps += r.clipped() ? 1 : 0;
                    }
                }
                assertEquals(steps, trainer.stepsTaken());
            }
            assertEquals(referenceClipped, clippedSteps);
            assertTrue(clippedSteps >= 5 && clippedSteps <= steps - 5, "clipping engaged on " + clippedSteps + " of " + steps
                    + " steps: the run must have both kinds");
            float[][] got = {l1.innerA().toArray(), l1.innerB().toArray(), l2.innerA().toArray(), l2.innerB().toArray()};
            String[] names = {"first A'", "first B'", "second A'", "second B'"};
            for (int k = 0; k < 4; k++) {
                double err = relativeError(got[k], ref.get(k).p);
                assertTrue(err <= 2e-5, names[k] + " after " + steps + " steps: relative error " + err + " (seed " + SEED + ")");
            }
            // The run must have moved the factors well beyond that tolerance for the comparison to mean anything.
            assertTrue(relativeError(s1.innerA, ref.get(0).p) > 1e-2);
        }
    }

    private static double sumSq(float[] a) {
        double s = 0;
        for (float v : a) {
            s += (double) v * v;
        }
        return s;
    }

    private static float[] scaled(float[] a, float k) {
        float[] out = a.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] *= k;
        }
        return out;
    }

    @Test
    void theScheduleWarmsUpLinearlyThenDecaysByCosine() {
        LearningRateSchedule s = LearningRateSchedule.warmupCosine(4, 10);
        double[] want = {0, 0.25, 0.5, 0.75, 1, 0.5 * (1 + Math.cos(Math.PI / 6)), 0.5 * (1 + Math.cos(Math.PI * 2 / 6)),
            0.5, 0.5 * (1 + Math.cos(Math.PI * 4 / 6)), 0.5 * (1 + Math.cos(Math.PI * 5 / 6))};
        for (int t = 1; t <= 10; t++) {
            assertEquals(want[t - 1], s.factor(t), 1e-15, "update " + t);
            assertEquals(huggingFaceFactor(t, 4, 10), s.factor(t), 1e-15, "update " + t + " against Hugging Face's");
        }
        assertTrue(s.covers(10));
        assertFalse(s.covers(11));
        assertFalse(s.covers(0));
        assertThrows(IllegalArgumentException.class, () -> s.factor(11));
        LearningRateSchedule noWarmup = LearningRateSchedule.warmupCosine(0, 3);
        assertEquals(1.0, noWarmup.factor(1), 0, "no warm-up: the first update has the full rate");
        assertEquals(0.25, noWarmup.factor(3), 1e-15);
        assertEquals(1.0, LearningRateSchedule.constant().factor(123456));
        assertTrue(LearningRateSchedule.constant().covers(Integer.MAX_VALUE));
    }

    /**
     * The global norm N of a step's gradients is computed the same way on every run (deterministic), so
     * bounds just above, at and just below N decide exactly: no clip, no clip, clip by bound / N.
     */
    @Test
    void clippingEngagesExactlyWhenTheNormExceedsTheBound() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 14, 12, 6, 2, 1f);
        float[] x = s.inputs(SEED + 1, 5);
        float[] dy = s.upstream(SEED + 2, 5);
        double norm = firstStep(s, x, dy, 0).gradientNorm();
        StepReport above = firstStep(s, x, dy, Math.nextUp(norm));
        StepReport at = firstStep(s, x, dy, norm);
        StepReport below = firstStep(s, x, dy, Math.nextDown(norm));
        assertEquals(norm, at.gradientNorm());
        assertFalse(above.clipped());
        assertEquals(1.0, above.gradientScale());
        assertFalse(at.clipped(), "a norm equal to the bound is not above it");
        assertTrue(below.clipped());
        assertEquals(Math.nextDown(norm) / norm, below.gradientScale(), 0);
    }

    private StepReport firstStep(SyntheticLayer s, float[] x, float[] dy, double bound) {
        try (NestedLinear l = s.build(ctx); Matrix xm = ctx.matrix(5, s.n, x); Matrix dym = ctx.matrix(5, s.m, dy);
                Trainer trainer = Trainer.builder(ctx).layer("l", l)
                        .optimizer(AdamWConfig.builder().maxGradNorm(bound).build()).build()) {
            return trainer.step(xm, dym);
        }
    }

    @Test
    void theRegressionHelperReportsTheMeanSquaredErrorAndFollowsItsGradient() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 10, 8, 4, 2, 1f);
        int rows = 6;
        float[] x = s.inputs(SEED + 1, rows);
        float[] target = s.upstream(SEED + 2, rows);
        try (NestedLinear l = s.build(ctx); NestedLinear twin = s.build(ctx); Matrix xm = ctx.matrix(rows, 8, x);
                Matrix tm = ctx.matrix(rows, 10, target); Matrix y = l.forward(xm);
                Trainer regression = Trainer.builder(ctx).layer("l", l).build();
                Trainer upstream = Trainer.builder(ctx).layer("l", twin).build()) {
            float[] yv = y.toArray();
            double sum = 0;
            float[] dy = new float[yv.length];
            for (int i = 0; i < yv.length; i++) {
                double d = (double) yv[i] - target[i];
                sum += d * d;
                dy[i] = (float) (2 * d / (rows * 10));
            }
            StepReport r = regression.regressionStep(xm, tm);
            assertEquals(sum / (rows * 10), r.loss(), 1e-6 * sum / (rows * 10));
            try (Matrix dym = ctx.matrix(rows, 10, dy)) {
                StepReport u = upstream.step(xm, dym);
                assertEquals(u.gradientNorm(), r.gradientNorm(), 1e-5 * u.gradientNorm());
            }
            double err = relativeError(l.innerB().toArray(), toDouble(twin.innerB().toArray()));
            assertTrue(err <= 1e-5, "the regression step is a step along dY = 2(Y − target)/(T·m): " + err);
        }
    }

    @Test
    void afterAnUpdateTheLayerForwardUsesTheNewFactors() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 16, 12, 6, 3, 1f);
        try (NestedLinear l = s.build(ctx); Matrix x = ctx.matrix(4, 12, s.inputs(SEED + 1, 4));
                Matrix dy = ctx.matrix(4, 16, s.upstream(SEED + 2, 4));
                Trainer trainer = Trainer.builder(ctx).layer("l", l).build()) {
            l.forward(x, io.jnora.Association.EFFECTIVE).close();  // builds the effective-factor cache
            trainer.step(x, dy);
            try (Matrix cached = l.forward(x, io.jnora.Association.EFFECTIVE);
                    Matrix fresh = l.forward(x, io.jnora.Association.OUTER_FIRST)) {
                double err = relativeError(cached.toArray(), toDouble(fresh.toArray()));
                assertTrue(err <= 1e-5, "the effective factors were rebuilt after the update: " + err);
            }
        }
    }

    @Test
    void badHyperparametersAreTypedErrorsNamingTheSetting() {
        assertThrows(InvalidHyperparameterException.class, () -> AdamWConfig.builder().learningRate(0).build());
        InvalidHyperparameterException e = assertThrows(InvalidHyperparameterException.class,
                () -> AdamWConfig.builder().learningRate(-1e-3).build());
        assertTrue(e.getMessage().contains("learning rate") && e.getMessage().contains("-0.001"), e.getMessage());
        assertThrows(InvalidHyperparameterException.class, () -> AdamWConfig.builder().learningRate(Double.NaN).build());
        assertThrows(InvalidHyperparameterException.class, () -> AdamWConfig.builder().betas(1.0, 0.999).build());
        assertThrows(InvalidHyperparameterException.class, () -> AdamWConfig.builder().betas(0.9, -0.1).build());
        assertThrows(InvalidHyperparameterException.class, () -> AdamWConfig.builder().epsilon(0).build());
        assertThrows(InvalidHyperparameterException.class, () -> AdamWConfig.builder().weightDecay(-0.01).build());
        assertThrows(InvalidHyperparameterException.class, () -> AdamWConfig.builder().maxGradNorm(-1).build());
        e = assertThrows(InvalidHyperparameterException.class, () -> LearningRateSchedule.warmupCosine(0, 0));
        assertTrue(e.getMessage().contains("total steps"), e.getMessage());
        assertThrows(InvalidHyperparameterException.class, () -> LearningRateSchedule.warmupCosine(5, 5));
        assertThrows(InvalidHyperparameterException.class, () -> LearningRateSchedule.warmupCosine(-1, 5));
        AdamWConfig cfg = AdamWConfig.builder().learningRate(1e-3).maxGradNorm(2).build();
        assertEquals(cfg, cfg.toBuilder().build());
    }

    @Test
    void theTrainerRefusesBadLayersBatchesAndStepsPastTheSchedule() {
        SyntheticLayer s = SyntheticLayer.random(SEED, 9, 7, 3, 2, 1f);
        try (NestedLinear a = s.build(ctx); NestedLinear b = s.build(ctx); Matrix x = ctx.matrix(2, 7, s.inputs(1, 2));
                Matrix dy = ctx.matrix(2, 9, s.upstream(2, 2)); NoraContext other = NoraContext.create(Backend.CPU);
                NestedLinear foreign = s.build(other)) {
            assertThrows(InvalidHyperparameterException.class, () -> Trainer.builder(ctx).layer("a", a).dropout(1.0).build());
            assertThrows(IllegalArgumentException.class, () -> Trainer.builder(ctx).layer("a", a).layer("a", b).build());
            assertThrows(IllegalArgumentException.class, () -> Trainer.builder(ctx).layer("a", a).layer("b", a).build());
            assertThrows(IllegalArgumentException.class, () -> Trainer.builder(ctx).build());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Trainer.builder(ctx).layer("f", foreign).build());
            assertTrue(e.getMessage().contains("another context"), e.getMessage());
            AdamWConfig twoSteps = AdamWConfig.builder().schedule(LearningRateSchedule.warmupCosine(0, 2)).build();
            try (Trainer t = Trainer.builder(ctx).layer("a", a).layer("b", b).optimizer(twoSteps).build()) {
                e = assertThrows(IllegalArgumentException.class, () -> t.step(List.of(TrainingBatch.upstream(a, x, dy))));
                assertTrue(e.getMessage().contains("'b' has no batch"), e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> t.step(x, dy));
                assertTrue(e.getMessage().contains("single-layer"), e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> t.step(List.of(TrainingBatch.upstream(a, x, dy),
                        TrainingBatch.upstream(a, x, dy), TrainingBatch.upstream(b, x, dy))));
                assertTrue(e.getMessage().contains("'a' has two batches"), e.getMessage());
                List<TrainingBatch> both = List.of(TrainingBatch.upstream(a, x, dy), TrainingBatch.upstream(b, x, dy));
                t.step(both);
                t.step(both);
                IllegalStateException past = assertThrows(IllegalStateException.class, () -> t.step(both));
                assertTrue(past.getMessage().contains("step 3") && past.getMessage().contains("2 steps"), past.getMessage());
                assertEquals(2, t.stepsTaken());
            }
        }
    }
}
