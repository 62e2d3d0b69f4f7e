package io.jnora.reference;

/**
 * The nested adapter's forward and backward in float64, straight from SPEC §2 and §2.6 with plain
 * loops and no library: the independent reference that the backends are checked against (by the
 * tests and by {@code jnora demo}). It is itself checked against central finite differences.
 * Matrices are row-major double arrays.
 *
 * <p>Thread safety: stateless; thread-safe.
 */
public final class Float64Reference {
    private Float64Reference() {}

    /** A layer's factors in float64. */
    public record Layer(int m, int n, int r, int rIn, double scale, double[] baseWeight, double[] outerA,
            double[] outerB, double[] innerA, double[] innerB) {
        /**
         * The same layer with every factor and the scale by absolute value. Through {@link #forward} or
         * {@link #backward} with |X| and |dY| it gives each output's magnitude: the sum of the absolute
         * values of its terms, which no cancellation shrinks (see {@link #errorRelativeToMagnitude}).
         */
        public Layer magnitude() {
            return new Layer(m, n, r, rIn, Math.abs(scale), abs(baseWeight), abs(outerA), abs(outerB), abs(innerA),
                    abs(innerB));
        }
    }

    /** Gradients of the trainable factors and the input. */
    public record Gradients(double[] innerA, double[] innerB, double[] input) {}

    /** Y = X W_baseᵀ + s (((X Aᵀ) A'ᵀ) B'ᵀ) Bᵀ, X is t×n. */
    public static double[] forward(Layer l, double[] x, int t) {
        double[] z1 = multiplyTransposed(x, t, l.n, l.outerA, l.r);
        double[] z2 = multiplyTransposed(z1, t, l.r, l.innerA, l.rIn);
        double[] z3 = multiplyTransposed(z2, t, l.rIn, l.innerB, l.r);
        double[] y = multiplyTransposed(x, t, l.n, l.baseWeight, l.m);
        double[] delta = multiplyTransposed(z3, t, l.r, l.outerB, l.m);
        for (int i = 0; i < y.length; i++) {
            y[i] += l.scale * delta[i];
        }
        return y;
    }

    /** SPEC §2.6 for upstream dY (t×m). */
    public static Gradients backward(Layer l, double[] x, double[] dy, int t) {
        double[] z1 = multiplyTransposed(x, t, l.n, l.outerA, l.r);
        double[] z2 = multiplyTransposed(z1, t, l.r, l.innerA, l.rIn);
        double[] dz3 = multiply(dy, t, l.m, l.outerB, l.r);
        for (int i = 0; i < dz3.length; i++) {
            dz3[i] *= l.scale;
        }
        double[] dInnerB = transposeMultiply(dz3, t, l.r, z2, l.rIn);
        double[] dz2 = multiply(dz3, t, l.r, l.innerB, l.rIn);
        double[] dInnerA = transposeMultiply(dz2, t, l.rIn, z1, l.r);
        double[] dz1 = multiply(dz2, t, l.rIn, l.innerA, l.r);
        double[] dx = multiply(dy, t, l.m, l.baseWeight, l.n);
        double[] dxAdapter = multiply(dz1, t, l.r, l.outerA, l.n);
        for (int i = 0; i < dx.length; i++) {
            dx[i] += dxAdapter[i];
        }
        return new Gradients(dInnerA, dInnerB, dx);
    }

    /** P (rows×k) times Qᵀ, Q (cols×k): rows×cols. */
    public static double[] multiplyTransposed(double[] p, int rows, int k, double[] q, int cols) {
        double[] out = new double[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                double acc = 0;
                for (int l = 0; l < k; l++) {
                    acc += p[i * k + l] * q[j * k + l];
                }
                out[i * cols + j] = acc;
            }
        }
        return out;
    }

    /** P (rows×k) times Q (k×cols). */
    public static double[] multiply(double[] p, int rows, int k, double[] q, int cols) {
        double[] out = new double[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int l = 0; l < k; l++) {
                double a = p[i * k + l];
                if (a == 0) {
                    continue;
                }
                for (int j = 0; j < cols; j++) {
                    out[i * cols + j] += a * q[l * cols + j];
                }
            }
        }
        return out;
    }

    /** Pᵀ (k×rows... ) : P (t×rows)ᵀ times Q (t×cols): rows×cols. */
    public static double[] transposeMultiply(double[] p, int t, int rows, double[] q, int cols) {
        double[] out = new double[rows * cols];
        for (int s = 0; s < t; s++) {
            for (int i = 0; i < rows; i++) {
                double a = p[s * rows + i];
                for (int j = 0; j < cols; j++) {
                    out[i * cols + j] += a * q[s * cols + j];
                }
            }
        }
        return out;
    }

    public static double[] toDouble(float[] values) {
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i];
        }
        return out;
    }

    /** ‖got − want‖_F / ‖want‖_F; NaN or infinity anywhere gives +∞ (NaN never passes). */
    public static double relativeFrobeniusError(float[] got, double[] want) {
        return errorRelativeToMagnitude(got, want, want);
    }

    /** Elementwise |v|, a new array. */
    public static double[] abs(double[] v) {
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = Math.abs(v[i]);
        }
        return out;
    }

    /**
     * ‖got − want‖_F / ‖magnitude‖_F, where magnitude is the same computation on absolute values
     * ({@link Layer#magnitude()}); NaN or infinity anywhere gives +∞. Float rounding is bounded relative
     * to the magnitude, not to the result (Higham, Accuracy and Stability, §3.5): a short sum that
     * cancels (T = 5 rows, n = m = r = 1) can leave a result 1e-3 of its terms, and a correct float32
     * result then has a plain relative error far above float32's. Where nothing cancels, magnitude =
     * |want| and this is the plain relative error; it is never larger.
     */
    public static double errorRelativeToMagnitude(float[] got, double[] want, double[] magnitude) {
        if (got.length != want.length || want.length != magnitude.length) {
            throw new IllegalArgumentException("lengths differ: " + got.length + ", " + want.length + ", " + magnitude.length);
        }
        double num = 0;
        double den = 0;
        for (int i = 0; i < got.length; i++) {
            if (!Float.isFinite(got[i])) {
                return Double.POSITIVE_INFINITY;
            }
            double d = got[i] - want[i];
            num += d * d;
            den += magnitude[i] * magnitude[i];
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }

    /** max |got − want| / max |want|: the worst element relative to the output's scale. */
    public static double maxRelativeError(float[] got, double[] want) {
        double worst = 0;
        double scale = 0;
        for (int i = 0; i < got.length; i++) {
            if (!Float.isFinite(got[i])) {
                return Double.POSITIVE_INFINITY;
            }
            worst = Math.max(worst, Math.abs(got[i] - want[i]));
            scale = Math.max(scale, Math.abs(want[i]));
        }
        return scale == 0 ? worst : worst / scale;
    }
}
