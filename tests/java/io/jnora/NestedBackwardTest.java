package io.jnora;

import static io.jnora.Tolerances.FLOAT32_VS_FLOAT64;
import static io.jnora.Tolerances.assertClose;
import static io.jnora.Tolerances.assertCloseAllowingCancellation;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.reference.Float64Reference;
import io.jnora.synth.SyntheticLayer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The CPU backend's backward (SPEC §2.6) against the float64 reference and its own forward. */
class NestedBackwardTest {
    private static NoraContext ctx;

    @BeforeAll
    static void open() {
        ctx = NoraContext.create(Backend.CPU);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    static Iterable<LayerCase> cases() {
        return LayerCase.oddShapes();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void gradientsMatchFloat64Reference(LayerCase c) {
        SyntheticLayer layer = c.layer();
        float[] x = c.inputs(layer);
        float[] dy = c.upstream(layer);
        try (NestedLinear linear = layer.build(ctx);
                Matrix xm = ctx.matrix(c.rows(), c.in(), x);
                Matrix dym = ctx.matrix(c.rows(), c.out(), dy);
                Gradients g = new Gradients(ctx.filled(c.rIn(), c.r(), Float.NaN), ctx.filled(c.r(), c.rIn(), Float.NaN),
                        ctx.filled(c.rows(), c.in(), Float.NaN))) {
            linear.backward(xm, dym, g);
            double[] xd = Float64Reference.toDouble(x);
            double[] dyd = Float64Reference.toDouble(dy);
            Float64Reference.Gradients want = Float64Reference.backward(layer.toReference(), xd, dyd, c.rows());
            Float64Reference.Gradients magnitude = Float64Reference.backward(layer.toReference().magnitude(),
                    Float64Reference.abs(xd), Float64Reference.abs(dyd), c.rows());
            assertCloseAllowingCancellation("dA' " + c, g.innerA().toArray(), want.innerA(), magnitude.innerA(), FLOAT32_VS_FLOAT64);
            assertCloseAllowingCancellation("dB' " + c, g.innerB().toArray(), want.innerB(), magnitude.innerB(), FLOAT32_VS_FLOAT64);
            assertCloseAllowingCancellation("dX " + c, g.input().toArray(), want.input(), magnitude.input(), FLOAT32_VS_FLOAT64);
        }
    }

    /**
     * The library's gradient is the derivative of the library's own float32 forward: for L = ⟨dY, Y⟩
     * and a direction D, (L(θ + D) − L(θ − D)) / 2 = ⟨∇L, D⟩. L is linear in each of A', B' and X
     * alone, so the difference has no truncation error and only float32 rounding of Y remains. D is
     * taken along the gradient itself, 10% of the parameter's norm: ⟨∇L, D⟩ = 0.1‖θ‖‖∇L‖ cannot
     * cancel (a random D sometimes did, making the relative error meaningless), and the rounding,
     * ~1e-7 of ⟨|dY|, |Y|⟩, stays far below 1e-3 of it.
     */
    @Test
    void gradientsAreDirectionalDerivativesOfTheForward() {
        LayerCase c = LayerCase.of(24, 48, 40, 12, 5, 1f);
        SyntheticLayer layer = c.layer();
        float[] x = c.inputs(layer);
        float[] dy = c.upstream(layer);
        try (NestedLinear linear = layer.build(ctx);
                Matrix xm = ctx.matrix(c.rows(), c.in(), x);
                Matrix dym = ctx.matrix(c.rows(), c.out(), dy);
                Gradients g = linear.backward(xm, dym)) {
            checkDirection("A'", linear.innerA(), layer.innerA, g.innerA().toArray(), linear, xm, dy, c);
            checkDirection("B'", linear.innerB(), layer.innerB, g.innerB().toArray(), linear, xm, dy, c);
            checkDirection("X", xm, x, g.input().toArray(), linear, xm, dy, c);
        }
    }

    private static void checkDirection(String name, Matrix param, float[] value, float[] grad, NestedLinear linear,
            Matrix x, float[] dy, LayerCase c) {
        double gradNorm = 0;
        double valueNorm = 0;
        for (int i = 0; i < grad.length; i++) {
            gradNorm += (double) grad[i] * grad[i];
            valueNorm += (double) value[i] * value[i];
        }
        gradNorm = Math.sqrt(gradNorm);
        valueNorm = Math.sqrt(valueNorm);
        float[] d = new float[value.length];
        double predicted = 0;
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) (0.1 * valueNorm * grad[i] / gradNorm);
            predicted += (double) grad[i] * d[i];
        }
        double plus = shiftedLoss(param, value, d, 1, linear, x, dy);
        double minus = shiftedLoss(param, value, d, -1, linear, x, dy);
        param.copyFrom(value);
        double measured = (plus - minus) / 2;
        double rel = Math.abs(measured - predicted) / Math.abs(predicted);
        assertTrue(rel <= 1e-3, "directional derivative along " + name + ": backward " + predicted
                + ", forward differences " + measured + " (relative " + rel + ", " + c + ")");
    }

    private static double shiftedLoss(Matrix param, float[] value, float[] d, double h, NestedLinear linear,
            Matrix x, float[] dy) {
        float[] shifted = new float[value.length];
        for (int i = 0; i < value.length; i++) {
            shifted[i] = (float) (value[i] + h * d[i]);
        }
        param.copyFrom(shifted);
        try (Matrix y = linear.forward(x, Association.OUTER_FIRST)) {
            float[] yv = y.toArray();
            double sum = 0;
            for (int i = 0; i < yv.length; i++) {
                sum += (double) yv[i] * dy[i];
            }
            return sum;
        }
    }
}
