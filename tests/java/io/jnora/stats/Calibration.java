package io.jnora.stats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Test data and the independent float64 reference for {@link ActivationStats}: calibration-like rows
 * with a few outlier channels scaled 20–100× (SPEC §4), never zero, from a fresh seed that every
 * failure message carries; and the statistics computed straight from their definition, column by
 * column (another summation order than the library's row-by-row pass).
 */
final class Calibration {
    final long seed;
    final int rows;
    final int channels;
    final float[] data;

    private Calibration(long seed, int rows, int channels, float[] data) {
        this.seed = seed;
        this.rows = rows;
        this.channels = channels;
        this.data = data;
    }

    /** rows × channels values: Student-t-like tails, log-normal channel scales, 3 outliers 20–100×. */
    static Calibration random(int rows, int channels) {
        long seed = ThreadLocalRandom.current().nextLong();
        SplittableRandom rng = new SplittableRandom(seed);
        double[] scale = new double[channels];
        for (int j = 0; j < channels; j++) {
            scale[j] = Math.exp(0.5 * gaussian(rng));
        }
        for (int o = 0; o < Math.min(3, channels); o++) {
            scale[rng.nextInt(channels)] *= 20 + 80 * rng.nextDouble();
        }
        float[] x = new float[Math.toIntExact((long) rows * channels)];
        for (int t = 0; t < rows; t++) {
            for (int j = 0; j < channels; j++) {
                double g = gaussian(rng);
                double tail = g / Math.sqrt(0.25 + rng.nextDouble());  // heavier than Gaussian
                float v = (float) (tail * scale[j]);
                x[t * channels + j] = v != 0f ? v : (float) scale[j];  // never zero
            }
        }
        return new Calibration(seed, rows, channels, x);
    }

    /** Rows [from, from + count) as their own array. */
    float[] rows(int from, int count) {
        float[] out = new float[count * channels];
        System.arraycopy(data, from * channels, out, 0, out.length);
        return out;
    }

    @Override
    public String toString() {
        return "T=" + rows + " n=" + channels + " seed=" + seed;
    }

    private static double gaussian(SplittableRandom rng) {
        double u = 1.0 - rng.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextDouble());
    }

    /** The definition, in float64, column by column; the covariance entry by entry. */
    record Reference(long count, double[] meanAbs, double[] meanSquare, double[] maxAbs, double[] covariance) {
        static Reference of(Calibration c, boolean withCovariance) {
            int n = c.channels;
            double[] meanAbs = new double[n];
            double[] meanSquare = new double[n];
            double[] maxAbs = new double[n];
            for (int j = 0; j < n; j++) {
                double a = 0;
                double q = 0;
                double m = 0;
                for (int t = 0; t < c.rows; t++) {
                    double v = c.data[t * n + j];
                    a += Math.abs(v);
                    q += v * v;
                    m = Math.max(m, Math.abs(v));
                }
                meanAbs[j] = a / c.rows;
                meanSquare[j] = q / c.rows;
                maxAbs[j] = m;
            }
            double[] cov = null;
            if (withCovariance) {
                cov = new double[n * n];
                for (int i = 0; i < n; i++) {
                    for (int j = i; j < n; j++) {
                        double s = 0;
                        for (int t = 0; t < c.rows; t++) {
                            s += (double) c.data[t * n + i] * c.data[t * n + j];
                        }
                        cov[i * n + j] = s / c.rows;
                        cov[j * n + i] = s / c.rows;
                    }
                }
            }
            return new Reference(c.rows, meanAbs, meanSquare, maxAbs, cov);
        }
    }

    /** |got − want| ≤ tolerance · |want| for every element; NaN never passes. */
    static void assertRelativelyClose(String what, double[] got, double[] want, double tolerance) {
        assertEquals(want.length, got.length, what + ": length");
        double worst = 0;
        int at = -1;
        for (int i = 0; i < want.length; i++) {
            double err = Math.abs(got[i] - want[i]) / Math.abs(want[i]);
            if (!(err <= worst)) {  // also catches NaN
                worst = err;
                at = i;
            }
        }
        assertTrue(worst <= tolerance, what + ": relative error " + worst + " > " + tolerance + " at channel " + at
                + " (got " + (at < 0 ? "?" : got[at]) + ", want " + (at < 0 ? "?" : want[at]) + ")");
    }

    /**
     * Covariances entry by entry, each error measured against the scale of its row and column,
     * |ΔC_ij| ≤ tolerance · sqrt(C_ii C_jj): off-diagonal entries near zero have no relative scale of
     * their own, and Cauchy–Schwarz bounds every |C_ij| by that. Also requires exact symmetry.
     */
    static void assertCovarianceClose(String what, double[] got, double[] want, int n, double tolerance) {
        assertEquals(want.length, got.length, what + ": length");
        double worst = 0;
        String at = "";
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                assertEquals(got[i * n + j], got[j * n + i], what + ": not symmetric at [" + i + ", " + j + "]");
                double err = Math.abs(got[i * n + j] - want[i * n + j]) / Math.sqrt(want[i * n + i] * want[j * n + j]);
                if (!(err <= worst)) {
                    worst = err;
                    at = "[" + i + ", " + j + "]";
                }
            }
        }
        assertTrue(worst <= tolerance, what + ": scaled error " + worst + " > " + tolerance + " at " + at);
    }

    /** Relative Frobenius error ‖got − want‖ / ‖want‖ (SPEC §4's float32 GPU bound). */
    static void assertFrobeniusClose(String what, double[] got, double[] want, double tolerance) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < want.length; i++) {
            num += (got[i] - want[i]) * (got[i] - want[i]);
            den += want[i] * want[i];
        }
        double err = Math.sqrt(num / den);
        assertTrue(err <= tolerance, what + ": relative Frobenius error " + err + " > " + tolerance);
    }
}
