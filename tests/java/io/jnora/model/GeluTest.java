package io.jnora.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The erf behind BERT's exact GELU, against float64 references computed here independently. */
class GeluTest {
    /** erf by its Maclaurin series (|x| ≤ 3: the terms peak near 10², so float64 keeps ~1e-14). */
    private static double seriesErf(double x) {
        double term = x;
        double sum = x;
        for (int n = 1; n < 200; n++) {
            term *= -x * x / n;
            double add = term / (2 * n + 1);
            sum += add;
            if (Math.abs(add) < 1e-18) {
                break;
            }
        }
        return 2 / Math.sqrt(Math.PI) * sum;
    }

    /** erfc by its continued fraction (Lentz), accurate for x ≥ 2. */
    private static double fractionErfc(double x) {
        // erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
        double f = x;
        double c = x;
        double d = 0;
        for (int k = 1; k < 500; k++) {
            double a = k / 2.0;
            d = x + a * d;
            d = 1 / d;
            c = x + a / c;
            double delta = c * d;
            f *= delta;
            if (Math.abs(delta - 1) < 1e-16) {
                break;
            }
        }
        return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
    }

    @Test
    void erfcHasFractionalErrorBelowTwoTenMillionths() {
        for (double x = -3; x <= 3; x += 1.0 / 64) {
            double want = 1 - seriesErf(x);
            assertEquals(want, Gelu.erfc(x), 1.2e-7 * want, "erfc(" + x + ")");
        }
        for (double x = 2; x <= 9; x += 1.0 / 16) {
            double want = fractionErfc(x);
            assertEquals(want, Gelu.erfc(x), 1.2e-7 * want, "erfc(" + x + ")");
        }
    }

    @Test
    void geluIsTheExactErfForm() {
        assertEquals(0f, Gelu.gelu(0f));
        for (float x = -8; x <= 8; x += 0.125f) {
            double erf = Math.abs(x / Math.sqrt(2)) <= 3 ? seriesErf(x / Math.sqrt(2))
                    : Math.signum(x) * (1 - fractionErfc(Math.abs(x) / Math.sqrt(2)));
            double want = 0.5 * x * (1 + erf);
            assertEquals(want, Gelu.gelu(x), 2e-7 * Math.max(1e-3, Math.abs(want)) + 1e-12, "gelu(" + x + ")");
        }
        // far from the tanh approximation's value at x = -3 (which differs by ~1e-4)
        double tanhApprox = 0.5 * -3 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (-3 + 0.044715 * -27)));
        assertTrue(Math.abs(Gelu.gelu(-3f) - tanhApprox) > 1e-5);
    }
}
