package io.jnora.init;

/**
 * An independent float64 SVD for the tests: one-sided Jacobi (Hestenes) rotations on the columns
 * until they are mutually orthogonal. Slow (fine for test sizes) and obviously correct.
 */
final class JacobiSvd {
    final int m;
    final int n;
    final int k;
    final double[] u;      // m×k
    final double[] sigma;  // k, descending
    final double[] vt;     // k×n

    private JacobiSvd(int m, int n, int k, double[] u, double[] sigma, double[] vt) {
        this.m = m;
        this.n = n;
        this.k = k;
        this.u = u;
        this.sigma = sigma;
        this.vt = vt;
    }

    static JacobiSvd of(double[] a, int m, int n) {
        if (m < n) {  // decompose the transpose and swap the roles of U and V
            JacobiSvd t = of(transpose(a, m, n), n, m);
            return new JacobiSvd(m, n, t.k, transpose(t.vt, t.k, m), t.sigma, transpose(t.u, n, t.k));
        }
        double[] w = a.clone();  // m×n, columns rotated in place
        double[] v = new double[n * n];
        for (int i = 0; i < n; i++) {
            v[i * n + i] = 1;
        }
        for (int sweep = 0; sweep < 60; sweep++) {
            boolean rotated = false;
            for (int p = 0; p < n - 1; p++) {
                for (int q = p + 1; q < n; q++) {
                    double alpha = 0, beta = 0, gamma = 0;
                    for (int i = 0; i < m; i++) {
                        alpha += w[i * n + p] * w[i * n + p];
                        beta += w[i * n + q] * w[i * n + q];
                        gamma += w[i * n + p] * w[i * n + q];
                    }
                    if (Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta) || gamma == 0) {
                        continue;
                    }
                    rotated = true;
                    double zeta = (beta - alpha) / (2 * gamma);
                    double t = Math.signum(zeta) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
                    if (zeta == 0) {
                        t = 1;
                    }
                    double c = 1 / Math.sqrt(1 + t * t);
                    double s = c * t;
                    rotate(w, m, n, p, q, c, s);
                    rotate(v, n, n, p, q, c, s);
                }
            }
            if (!rotated) {
                break;
            }
        }
        Integer[] order = new Integer[n];
        double[] norms = new double[n];
        for (int j = 0; j < n; j++) {
            order[j] = j;
            double sum = 0;
            for (int i = 0; i < m; i++) {
                sum += w[i * n + j] * w[i * n + j];
            }
            norms[j] = Math.sqrt(sum);
        }
        java.util.Arrays.sort(order, (x, y) -> Double.compare(norms[y], norms[x]));
        double[] u = new double[m * n];
        double[] sigma = new double[n];
        double[] vt = new double[n * n];
        for (int kk = 0; kk < n; kk++) {
            int j = order[kk];
            sigma[kk] = norms[j];
            for (int i = 0; i < m; i++) {
                u[i * n + kk] = norms[j] == 0 ? 0 : w[i * n + j] / norms[j];
            }
            for (int i = 0; i < n; i++) {
                vt[kk * n + i] = v[i * n + j];
            }
        }
        return new JacobiSvd(m, n, n, u, sigma, vt);
    }

    private static void rotate(double[] a, int rows, int cols, int p, int q, double c, double s) {
        for (int i = 0; i < rows; i++) {
            double ap = a[i * cols + p];
            double aq = a[i * cols + q];
            a[i * cols + p] = c * ap - s * aq;
            a[i * cols + q] = s * ap + c * aq;
        }
    }

    static double[] transpose(double[] a, int rows, int cols) {
        double[] t = new double[a.length];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                t[j * rows + i] = a[i * cols + j];
            }
        }
        return t;
    }

    /** U_r Σ_r V_rᵀ, m×n. */
    double[] truncated(int r) {
        double[] out = new double[m * n];
        for (int kk = 0; kk < r; kk++) {
            for (int i = 0; i < m; i++) {
                double us = u[i * k + kk] * sigma[kk];
                for (int j = 0; j < n; j++) {
                    out[i * n + j] += us * vt[kk * n + j];
                }
            }
        }
        return out;
    }

    /** sqrt(Σ_{k > r} σ_k²): the optimal rank-r truncation error in Frobenius norm. */
    double tailNorm(int r) {
        double sum = 0;
        for (int kk = r; kk < k; kk++) {
            sum += sigma[kk] * sigma[kk];
        }
        return Math.sqrt(sum);
    }
}
