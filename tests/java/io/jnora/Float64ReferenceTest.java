package io.jnora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.reference.Float64Reference;
import io.jnora.synth.SyntheticLayer;
import org.junit.jupiter.api.Test;

/** The reference itself: its gradients are the derivatives of its forward (SPEC §2.6: 1e-6 relative). */
class Float64ReferenceTest {
    private static double loss(Float64Reference.Layer l, double[] x, double[] dy, int t) {
        double[] y = Float64Reference.forward(l, x, t);
        double sum = 0;
        for (int i = 0; i < y.length; i++) {
            sum += y[i] * dy[i];
        }
        return sum;
    }

    /** Central differences of L = ⟨dY, Y⟩ for every element of one parameter array. */
    private static double[] centralDifferences(Float64Reference.Layer l, double[] param, double[] x, double[] dy, int t) {
        double[] grad = new double[param.length];
        for (int i = 0; i < param.length; i++) {
            double saved = param[i];
            double h = 1e-4 * Math.max(1, Math.abs(saved));
            param[i] = saved + h;
            double plus = loss(l, x, dy, t);
            param[i] = saved - h;
            double minus = loss(l, x, dy, t);
            param[i] = saved;
            grad[i] = (plus - minus) / (2 * h);
        }
        return grad;
    }

    private static double relativeError(double[] got, double[] want) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < got.length; i++) {
            num += (got[i] - want[i]) * (got[i] - want[i]);
            den += want[i] * want[i];
        }
        return Math.sqrt(num / den);
    }

    @Test
    void gradientsMatchCentralFiniteDifferencesInFloat64() {
        LayerCase c = LayerCase.of(7, 13, 11, 6, 4, 0.75f);
        SyntheticLayer layer = c.layer();
        Float64Reference.Layer l = layer.toReference();
        double[] x = Float64Reference.toDouble(c.inputs(layer));
        double[] dy = Float64Reference.toDouble(c.upstream(layer));
        Float64Reference.Gradients g = Float64Reference.backward(l, x, dy, c.rows());

        double errA = relativeError(g.innerA(), centralDifferences(l, l.innerA(), x, dy, c.rows()));
        double errB = relativeError(g.innerB(), centralDifferences(l, l.innerB(), x, dy, c.rows()));
        double errX = relativeError(g.input(), centralDifferences(l, x, x, dy, c.rows()));
        assertTrue(errA <= 1e-6, "dA' vs finite differences: " + errA + " (" + c + ")");
        assertTrue(errB <= 1e-6, "dB' vs finite differences: " + errB + " (" + c + ")");
        assertTrue(errX <= 1e-6, "dX vs finite differences: " + errX + " (" + c + ")");
    }

    /**
     * The magnitude is the forward on absolute values: each output at least |Y| and exactly |Y| where its
     * terms share a sign; the error relative to it equals the plain relative error then, and is smaller
     * where the terms cancel.
     */
    @Test
    void theMagnitudeBoundsTheOutputAndTheErrorRelativeToItIsNeverLarger() {
        LayerCase c = LayerCase.of(9, 14, 12, 5, 3, -0.5f);
        SyntheticLayer layer = c.layer();
        Float64Reference.Layer l = layer.toReference();
        double[] x = Float64Reference.toDouble(c.inputs(layer));
        double[] y = Float64Reference.forward(l, x, c.rows());
        double[] magnitude = Float64Reference.forward(l.magnitude(), Float64Reference.abs(x), c.rows());
        float[] got = new float[y.length];
        for (int i = 0; i < y.length; i++) {
            assertTrue(magnitude[i] >= Math.abs(y[i]) * (1 - 1e-12), "element " + i + " (" + c + ")");
            got[i] = (float) (y[i] * (1 + 1e-3 * ((i % 3) - 1)));
        }
        double plain = Float64Reference.relativeFrobeniusError(got, y);
        double toMagnitude = Float64Reference.errorRelativeToMagnitude(got, y, magnitude);
        assertTrue(toMagnitude <= plain && toMagnitude > 0, toMagnitude + " vs " + plain + " (" + c + ")");
        // Terms of one sign: the magnitude is the output itself.
        Float64Reference.Layer positive = l.magnitude();
        double[] ax = Float64Reference.abs(x);
        double[] yPositive = Float64Reference.forward(positive, ax, c.rows());
        assertEquals(Float64Reference.relativeFrobeniusError(got, yPositive),
                Float64Reference.errorRelativeToMagnitude(got, yPositive, Float64Reference.forward(positive.magnitude(), ax,
                        c.rows())), 0.0);
        // A cancelling sum: 1 − (1 − 1e-4) has terms of magnitude 2 and a result of 1e-4.
        assertEquals(1e-3, Float64Reference.errorRelativeToMagnitude(new float[] {1e-4f + 2e-3f}, new double[] {1e-4},
                new double[] {2}), 1e-9);
        assertEquals(Double.POSITIVE_INFINITY, Float64Reference.errorRelativeToMagnitude(new float[] {Float.NaN},
                new double[] {1}, new double[] {1}));
    }
}
