package io.jnora.init;

/**
 * The figure AwSVD modes are compared by (SPEC §2.2): ‖X (W − W̃)ᵀ‖_F / ‖X Wᵀ‖_F, in float64.
 *
 * <p>Thread safety: stateless; thread-safe.
 */
public final class OutputError {
    private OutputError() {}

    /** X (rows×n) against W and its approximation W̃ (both m×n). */
    public static double relative(float[] x, int rows, float[] w, float[] approx, int m, int n) {
        double num = 0;
        double den = 0;
        for (int t = 0; t < rows; t++) {
            for (int i = 0; i < m; i++) {
                double y = 0;
                double d = 0;
                for (int j = 0; j < n; j++) {
                    double xv = x[t * n + j];
                    y += xv * w[i * n + j];
                    d += xv * (w[i * n + j] - approx[i * n + j]);
                }
                num += d * d;
                den += y * y;
            }
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }
}
