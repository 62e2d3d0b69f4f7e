package io.jnora.synth;

import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.reference.Float64Reference;
import java.util.Random;
import java.util.SplittableRandom;

/**
 * A random nested layer and activations shaped like an LLM's: most input channels of ordinary scale
 * and a few heavy-tailed "outlier" channels 20–100× larger (SPEC §4), with non-zero inner factors
 * so that the adapter term is not trivially zero. For the demo, the benchmarks and the tests.
 *
 * <p>Thread safety: its arrays are public and mutable; safe to share between threads only while nobody writes to them.
 */
public final class SyntheticLayer {
    public final int m;
    public final int n;
    public final int r;
    public final int rIn;
    public final float scale;
    public final float[] baseWeight;
    public final float[] outerA;
    public final float[] outerB;
    public final float[] innerA;
    public final float[] innerB;
    private final float[] channelScale;

    private SyntheticLayer(long seed, int m, int n, int r, int rIn, float scale) {
        this.m = m;
        this.n = n;
        this.r = r;
        this.rIn = rIn;
        this.scale = scale;
        SplittableRandom rng = new SplittableRandom(seed);
        this.baseWeight = gaussian(rng, m * n, 1.0 / Math.sqrt(n));
        this.outerA = gaussian(rng, r * n, 1.0 / Math.sqrt(n));
        this.outerB = gaussian(rng, m * r, 1.0 / Math.sqrt(r));
        this.innerA = gaussian(rng, rIn * r, 1.0 / Math.sqrt(r));
        this.innerB = gaussian(rng, r * rIn, 1.0 / Math.sqrt(rIn));
        this.channelScale = new float[n];
        for (int j = 0; j < n; j++) {
            channelScale[j] = (float) Math.exp(0.5 * gaussian(rng));  // log-normal spread of channel scales
        }
        int outliers = Math.max(1, n / 100);
        for (int o = 0; o < outliers; o++) {
            channelScale[rng.nextInt(n)] *= (float) (20 + 80 * rng.nextDouble());
        }
    }

    /** A layer with the given shape and ranks; the same seed gives the same layer. */
    public static SyntheticLayer random(long seed, int m, int n, int r, int rIn, float scale) {
        return new SyntheticLayer(seed, m, n, r, rIn, scale);
    }

    /** Calibration-like inputs (rows×n): Student-t (ν = 4) tails times the channel scales. */
    public float[] inputs(long seed, int rows) {
        Random rng = new Random(seed);
        float[] x = new float[rows * n];
        for (int t = 0; t < rows; t++) {
            for (int j = 0; j < n; j++) {
                double chi2 = 0;
                for (int k = 0; k < 4; k++) {
                    double g = rng.nextGaussian();
                    chi2 += g * g;
                }
                double studentT = rng.nextGaussian() / Math.sqrt(chi2 / 4);
                x[t * n + j] = (float) (studentT * channelScale[j]);
            }
        }
        return x;
    }

    /** Upstream gradients dY (rows×m), standard normal. */
    public float[] upstream(long seed, int rows) {
        return gaussian(new SplittableRandom(seed), rows * m, 1.0);
    }

    /** The layer on a context's backend (a copy of the factors). */
    public NestedLinear build(NoraContext context) {
        return build(context, io.jnora.Precision.FLOAT32);
    }

    /** The layer with W_base and the outer factors (and its X, Y) in the given precision. */
    public NestedLinear build(NoraContext context, io.jnora.Precision precision) {
        return NestedLinear.builder(context).baseWeight(baseWeight, m, n).ranks(r, rIn).outerA(outerA)
                .outerB(outerB).innerA(innerA).innerB(innerB).scale(scale).precision(precision).build();
    }

    public Float64Reference.Layer toReference() {
        return new Float64Reference.Layer(m, n, r, rIn, scale, Float64Reference.toDouble(baseWeight),
                Float64Reference.toDouble(outerA), Float64Reference.toDouble(outerB),
                Float64Reference.toDouble(innerA), Float64Reference.toDouble(innerB));
    }

    private static float[] gaussian(SplittableRandom rng, int count, double sigma) {
        float[] out = new float[count];
        for (int i = 0; i < count; i++) {
            out[i] = (float) (gaussian(rng) * sigma);
        }
        return out;
    }

    private static double gaussian(SplittableRandom rng) {
        // Box–Muller; SplittableRandom has no nextGaussian on Java 17.
        double u = 1.0 - rng.nextDouble();
        double v = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
}
