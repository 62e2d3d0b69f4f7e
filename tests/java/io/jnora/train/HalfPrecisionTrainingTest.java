package io.jnora.train;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.Backend;
import io.jnora.GpuTests;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.Precision;
import io.jnora.reference.Float64Reference;
import io.jnora.synth.SyntheticLayer;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Training a half-precision layer (W_base, the outer factors, X, Y and dY in bfloat16 or float16;
 * the inner factors, their gradients and moments in float32) against the same steps of a float32
 * layer holding the same rounded weights and inputs: only Y's and dY's roundings differ, so the
 * updates of the inner factors agree to SPEC §4's 1e-2 scale. AdamW's ε is set large so that an
 * update is proportional to its gradient (a sign-like update would hide gradient errors).
 */
class HalfPrecisionTrainingTest {
    private static final long SEED = ThreadLocalRandom.current().nextLong();
    private static final int M = 48;
    private static final int N = 70;
    private static final int ROWS = 33;

    private static float[] rounded(float[] values, Precision p) {
        float[] out = new float[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = p.round(values[i]);
        }
        return out;
    }

    private static double[] delta(float[] after, float[] before) {
        double[] d = new double[after.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = (double) after[i] - before[i];
        }
        return d;
    }

    private static float[] toFloat(double[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) values[i];
        }
        return out;
    }

    private static void trainsLikeFloat32(Backend backend, Precision p, boolean regression) {
        SyntheticLayer layer = SyntheticLayer.random(SEED, M, N, 12, 4, 1f);
        AdamWConfig config = AdamWConfig.builder().learningRate(1e-2).epsilon(1.0).build();
        float[] x = rounded(layer.inputs(SEED + 1, ROWS), p);
        float[] second = rounded(layer.upstream(SEED + 2, ROWS), p);  // the target, or dY
        try (NoraContext ctx = NoraContext.create(backend);
                NestedLinear half = layer.build(ctx, p);
                NestedLinear full = NestedLinear.builder(ctx).baseWeight(rounded(layer.baseWeight, p), M, N)
                        .ranks(layer.r, layer.rIn).outerA(rounded(layer.outerA, p)).outerB(rounded(layer.outerB, p))
                        .innerA(layer.innerA).innerB(layer.innerB).scale(layer.scale).build();
                Matrix xh = ctx.matrix(ROWS, N, x, p);
                Matrix xf = ctx.matrix(ROWS, N, x);
                Matrix sh = ctx.matrix(ROWS, M, second, p);
                Matrix sf = ctx.matrix(ROWS, M, second);
                Trainer th = Trainer.builder(ctx).layer("half", half).optimizer(config).build();
                Trainer tf = Trainer.builder(ctx).layer("full", full).optimizer(config).build()) {
            for (int step = 0; step < 4; step++) {
                StepReport rh = regression ? th.regressionStep(xh, step % 2 == 0 ? sh : sf) : th.step(xh, sh);
                StepReport rf = regression ? tf.regressionStep(xf, sf) : tf.step(xf, sf);
                if (regression) {
                    assertTrue(Math.abs(rh.loss() - rf.loss()) <= 1e-2 * rf.loss(),
                            p + " step " + step + " loss " + rh.loss() + " vs " + rf.loss() + " (seed " + SEED + ")");
                }
                assertTrue(Math.abs(rh.gradientNorm() - rf.gradientNorm()) <= 1e-2 * rf.gradientNorm(),
                        p + " step " + step + " gradient norm " + rh.gradientNorm() + " vs " + rf.gradientNorm());
            }
            for (boolean a : new boolean[] {true, false}) {
                float[] start = a ? layer.innerA : layer.innerB;
                double[] dh = delta((a ? half.innerA() : half.innerB()).toArray(), start);
                double[] df = delta((a ? full.innerA() : full.innerB()).toArray(), start);
                double moved = Math.sqrt(java.util.Arrays.stream(df).map(v -> v * v).sum());
                assertTrue(moved > 1e-4, "the float32 trainer moved " + (a ? "A'" : "B'") + " by " + moved);
                double err = Float64Reference.relativeFrobeniusError(toFloat(dh), df);
                assertTrue(err <= 2e-2, backend + " " + p + (regression ? " regression" : " upstream") + " update of "
                        + (a ? "A'" : "B'") + ": " + err + " from the float32 trainer's (seed " + SEED + ")");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"BFLOAT16", "FLOAT16"})
    void halfLayersTrainLikeFloat32OnTheCpu(Precision p) {
        trainsLikeFloat32(Backend.CPU, p, true);
        trainsLikeFloat32(Backend.CPU, p, false);
    }

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"BFLOAT16", "FLOAT16"})
    void halfLayersTrainLikeFloat32OnCuda(Precision p) {
        GpuTests.requireCuda("HalfPrecisionTrainingTest");
        trainsLikeFloat32(Backend.CUDA, p, true);
        trainsLikeFloat32(Backend.CUDA, p, false);
    }

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"BFLOAT16", "FLOAT16"})
    void dropoutIsRefusedForHalfLayers(Precision p) {
        SyntheticLayer layer = SyntheticLayer.random(SEED, M, N, 12, 4, 1f);
        try (NoraContext ctx = NoraContext.create(Backend.CPU); NestedLinear half = layer.build(ctx, p)) {
            InvalidHyperparameterException e = assertThrows(InvalidHyperparameterException.class,
                    () -> Trainer.builder(ctx).layer("q", half).dropout(0.1).build());
            assertTrue(e.getMessage().contains("layer 'q' is " + p) && e.getMessage().contains("dropout"), e.getMessage());
        }
    }
}
