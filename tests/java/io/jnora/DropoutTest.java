package io.jnora;

import static io.jnora.Tolerances.FLOAT32_VS_FLOAT64;
import static io.jnora.Tolerances.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.reference.Float64Reference;
import io.jnora.synth.SyntheticLayer;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Dropout on the adapter input (SPEC §2.10): the mask, the dropped forward and its backward, on the CPU. */
class DropoutTest {
    private static NoraContext ctx;

    @BeforeAll
    static void open() {
        ctx = NoraContext.create(Backend.CPU);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    /** A fixed mask with drop probability p, as keep flags, from the case's seed. */
    private static boolean[] keepFlags(LayerCase c, double p) {
        Random rng = new Random(c.seed() + 5);
        boolean[] keep = new boolean[c.rows() * c.in()];
        for (int i = 0; i < keep.length; i++) {
            keep[i] = rng.nextDouble() >= p;
        }
        return keep;
    }

    /** Y = X W_baseᵀ + s·((((X ⊙ M) Aᵀ) A'ᵀ) B'ᵀ) Bᵀ in float64, M = keep / (1 − p): the dropped forward. */
    private static double[] droppedForward(Float64Reference.Layer l, double[] x, boolean[] keep, double p, int t) {
        double[] xm = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            xm[i] = keep[i] ? x[i] / (1 - p) : 0;
        }
        double[] z1 = Float64Reference.multiplyTransposed(xm, t, l.n(), l.outerA(), l.r());
        double[] z2 = Float64Reference.multiplyTransposed(z1, t, l.r(), l.innerA(), l.rIn());
        double[] z3 = Float64Reference.multiplyTransposed(z2, t, l.rIn(), l.innerB(), l.r());
        double[] delta = Float64Reference.multiplyTransposed(z3, t, l.r(), l.outerB(), l.m());
        double[] y = Float64Reference.multiplyTransposed(x, t, l.n(), l.baseWeight(), l.m());
        for (int i = 0; i < y.length; i++) {
            y[i] += l.scale() * delta[i];
        }
        return y;
    }

    private static double loss(Float64Reference.Layer l, double[] x, boolean[] keep, double p, double[] dy, int t) {
        double[] y = droppedForward(l, x, keep, p, t);
        double sum = 0;
        for (int i = 0; i < y.length; i++) {
            sum += y[i] * dy[i];
        }
        return sum;
    }

    /**
     * Central differences of L = ⟨dY, Y⟩ in float64 for every element of {@code param}. L is linear in
     * each single element, so the quotient has no truncation error: only float64 rounding / h remains.
     */
    private static double[] centralDifferences(Float64Reference.Layer l, double[] param, double[] x, boolean[] keep,
            double p, double[] dy, int t) {
        double[] grad = new double[param.length];
        for (int i = 0; i < param.length; i++) {
            double saved = param[i];
            double h = 1e-3 * Math.max(1, Math.abs(saved));
            param[i] = saved + h;
            double plus = loss(l, x, keep, p, dy, t);
            param[i] = saved - h;
            double minus = loss(l, x, keep, p, dy, t);
            param[i] = saved;
            grad[i] = (plus - minus) / (2 * h);
        }
        return grad;
    }

    @Test
    void theDroppedForwardMatchesFloat64() {
        LayerCase c = LayerCase.of(17, 45, 31, 9, 3, 0.8f);
        SyntheticLayer layer = c.layer();
        float[] x = c.inputs(layer);
        double p = 0.3;
        boolean[] keep = keepFlags(c, p);
        double[] want = droppedForward(layer.toReference(), Float64Reference.toDouble(x), keep, p, c.rows());
        for (Association a : new Association[] {Association.OUTER_FIRST, Association.EFFECTIVE}) {
            try (NestedLinear l = layer.build(ctx); Matrix xm = ctx.matrix(c.rows(), c.in(), x);
                    DropoutMask mask = DropoutMask.of(ctx, c.rows(), c.in(), p, keep);
                    Matrix y = ctx.filled(c.rows(), c.out(), Float.NaN)) {
                l.forward(xm, y, a, mask);
                assertClose("dropped forward " + a + " " + c, y.toArray(), want, FLOAT32_VS_FLOAT64);
            }
        }
    }

    /**
     * The backward with the same mask is the derivative of the dropped forward: dA', dB' and dX against
     * float64 central differences of the float64 dropped forward, every element. Tolerance: the
     * library computes in float32 (SPEC §2.6's 1e-6 holds for the float64 reference itself);
     * {@link Tolerances#FLOAT32_VS_FLOAT64} bounds float32 GEMM rounding and fails on any wrong term.
     */
    @Test
    void theBackwardWithTheSameMaskMatchesCentralDifferences() {
        LayerCase c = LayerCase.of(6, 21, 13, 7, 3, 0.6f);
        SyntheticLayer layer = c.layer();
        Float64Reference.Layer ref = layer.toReference();
        float[] x = c.inputs(layer);
        float[] dy = c.upstream(layer);
        double p = 0.4;
        boolean[] keep = keepFlags(c, p);
        double[] xd = Float64Reference.toDouble(x);
        double[] dyd = Float64Reference.toDouble(dy);
        double[] wantA = centralDifferences(ref, ref.innerA(), xd, keep, p, dyd, c.rows());
        double[] wantB = centralDifferences(ref, ref.innerB(), xd, keep, p, dyd, c.rows());
        double[] wantX = centralDifferences(ref, xd, xd, keep, p, dyd, c.rows());
        try (NestedLinear l = layer.build(ctx); Matrix xm = ctx.matrix(c.rows(), c.in(), x);
                Matrix dym = ctx.matrix(c.rows(), c.out(), dy);
                DropoutMask mask = DropoutMask.of(ctx, c.rows(), c.in(), p, keep);
                Gradients g = new Gradients(ctx.filled(c.rIn(), c.r(), Float.NaN), ctx.filled(c.r(), c.rIn(), Float.NaN),
                        ctx.filled(c.rows(), c.in(), Float.NaN))) {
            l.backward(xm, dym, g, mask);
            assertClose("dA' " + c, g.innerA().toArray(), wantA, FLOAT32_VS_FLOAT64);
            assertClose("dB' " + c, g.innerB().toArray(), wantB, FLOAT32_VS_FLOAT64);
            assertClose("dX " + c, g.input().toArray(), wantX, FLOAT32_VS_FLOAT64);
        }
    }

    @Test
    void theMaskDropsAboutPOfTheEntriesAndScalesTheRest() {
        long seed = java.util.concurrent.ThreadLocalRandom.current().nextLong();
        double p = 0.25;
        try (DropoutMask mask = DropoutMask.sample(ctx, 200, 300, p, seed);
                DropoutMask same = DropoutMask.sample(ctx, 200, 300, p, seed);
                DropoutMask other = DropoutMask.sample(ctx, 200, 300, p, seed + 1)) {
            float[] v = mask.toArray();
            float kept = (float) (1 / (1 - p));
            int dropped = 0;
            for (float value : v) {
                assertTrue(value == 0f || value == kept, "mask value " + value + " (seed " + seed + ")");
                dropped += value == 0f ? 1 : 0;
            }
            // 60 000 Bernoulli(0.25) draws: σ of the fraction is 0.0018; 0.01 is over 5σ.
            double fraction = dropped / (double) v.length;
            assertEquals(p, fraction, 0.01, "dropped fraction (seed " + seed + ")");
            assertArrayEquals(v, same.toArray(), "the same seed draws the same mask");
            assertFalse(Arrays.equals(v, other.toArray()), "another seed draws another mask");
            float[] before = v.clone();
            mask.resample(seed + 1);
            assertArrayEquals(other.toArray(), mask.toArray(), "resample(seed) equals a fresh draw from seed");
            assertFalse(Arrays.equals(before, mask.toArray()));
        }
    }

    @Test
    void aMaskThatKeepsEverythingGivesThePlainForwardBitForBit() {
        LayerCase c = LayerCase.of(9, 33, 20, 8, 2, 1f);
        SyntheticLayer layer = c.layer();
        try (NestedLinear l = layer.build(ctx); Matrix x = ctx.matrix(c.rows(), c.in(), c.inputs(layer));
                DropoutMask none = DropoutMask.sample(ctx, c.rows(), c.in(), 0.0, 1);
                Matrix plain = ctx.zeros(c.rows(), c.out()); Matrix masked = ctx.zeros(c.rows(), c.out())) {
            l.forward(x, plain, Association.OUTER_FIRST);
            l.forward(x, masked, Association.OUTER_FIRST, none);
            assertArrayEquals(plain.toArray(), masked.toArray());
        }
    }

    @Test
    void aMaskOfTheWrongShapeOrOnAMergedLayerIsRefused() {
        LayerCase c = LayerCase.of(4, 12, 10, 4, 2, 1f);
        SyntheticLayer layer = c.layer();
        try (NestedLinear l = layer.build(ctx); Matrix x = ctx.matrix(c.rows(), c.in(), c.inputs(layer));
                DropoutMask wrong = DropoutMask.sample(ctx, c.rows() + 1, c.in(), 0.1, 2);
                DropoutMask right = DropoutMask.sample(ctx, c.rows(), c.in(), 0.1, 2);
                Matrix y = ctx.zeros(c.rows(), c.out())) {
            ShapeMismatchException e = assertThrows(ShapeMismatchException.class,
                    () -> l.forward(x, y, Association.AUTO, wrong));
            assertTrue(e.getMessage().contains("dropout mask") && e.getMessage().contains("5×12"), e.getMessage());
            l.merge();
            assertThrows(IllegalStateException.class, () -> l.forward(x, y, Association.AUTO, right));
        }
        assertThrows(IllegalArgumentException.class, () -> DropoutMask.sample(ctx, 2, 2, 1.0, 0));
        assertThrows(IllegalArgumentException.class, () -> DropoutMask.sample(ctx, 2, 2, -0.1, 0));
    }
}
