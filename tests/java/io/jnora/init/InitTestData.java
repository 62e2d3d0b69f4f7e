package io.jnora.init;

import java.util.SplittableRandom;

/** Weights with decaying spectra, correlated activations with outlier channels, and their statistics in float64. */
final class InitTestData {
    private InitTestData() {}

    static double gaussian(SplittableRandom rng) {
        return io.jnora.backend.HostSvd.gaussian(rng);
    }

    /** W = Σ_k σ_k u_k v_kᵀ with random unit u_k, v_k and σ_k = decay^k: a decaying spectrum. */
    static float[] decayingWeight(SplittableRandom rng, int m, int n, double decay) {
        double[] w = new double[m * n];
        int k = Math.min(m, n);
        for (int t = 0; t < k; t++) {
            double[] u = unit(rng, m);
            double[] v = unit(rng, n);
            double sigma = Math.pow(decay, t);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    w[i * n + j] += sigma * u[i] * v[j];
                }
            }
        }
        return toFloat(w);
    }

    /** A Gaussian weight scaled by 1/√n (a flat spectrum: truncation matters everywhere). */
    static float[] gaussianWeight(SplittableRandom rng, int m, int n) {
        float[] w = new float[m * n];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (gaussian(rng) / Math.sqrt(n));
        }
        return w;
    }

    /** Rows of x = (z ⊙ c) M: channel scales c log-normal with a few 20–100× outliers, M = I + 0.3·G/√n. */
    static final class Activations {
        final int n;
        final double[] channelScale;
        final double[] mixing;

        Activations(SplittableRandom rng, int n) {
            this.n = n;
            channelScale = new double[n];
            for (int j = 0; j < n; j++) {
                channelScale[j] = Math.exp(0.5 * gaussian(rng));
            }
            for (int o = 0; o < Math.max(2, n / 30); o++) {
                channelScale[rng.nextInt(n)] *= 20 + 80 * rng.nextDouble();
            }
            mixing = new double[n * n];
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    mixing[i * n + j] = (i == j ? 1 : 0) + 0.3 * gaussian(rng) / Math.sqrt(n);
                }
            }
        }

        float[] sample(SplittableRandom rng, int rows) {
            float[] x = new float[rows * n];
            double[] z = new double[n];
            for (int t = 0; t < rows; t++) {
                for (int j = 0; j < n; j++) {
                    z[j] = gaussian(rng) * channelScale[j];
                }
                for (int j = 0; j < n; j++) {
                    double acc = 0;
                    for (int i = 0; i < n; i++) {
                        acc += z[i] * mixing[i * n + j];
                    }
                    x[t * n + j] = (float) acc;
                }
            }
            return x;
        }
    }

    /** Per-channel mean|x|, mean x² and the covariance XᵀX/N in float64, computed directly. */
    record Stats(double[] meanAbs, double[] meanSquare, double[] covariance) {
        static Stats of(float[] x, int rows, int n) {
            double[] meanAbs = new double[n];
            double[] meanSquare = new double[n];
            double[] cov = new double[n * n];
            for (int t = 0; t < rows; t++) {
                for (int i = 0; i < n; i++) {
                    double xi = x[t * n + i];
                    meanAbs[i] += Math.abs(xi) / rows;
                    meanSquare[i] += xi * xi / rows;
                    for (int j = 0; j < n; j++) {
                        cov[i * n + j] += xi * x[t * n + j] / rows;
                    }
                }
            }
            return new Stats(meanAbs, meanSquare, cov);
        }

        InputScaling scaling(ScaleMode mode) {
            return mode.kind() == ScaleMode.Kind.WHITEN
                    ? InputScaling.whiten(covariance, meanAbs.length, mode.parameter())
                    : InputScaling.fromChannelStatistics(mode, meanAbs, meanSquare);
        }
    }

    static double[] unit(SplittableRandom rng, int len) {
        double[] v = new double[len];
        double norm = 0;
        for (int i = 0; i < len; i++) {
            v[i] = gaussian(rng);
            norm += v[i] * v[i];
        }
        norm = Math.sqrt(norm);
        for (int i = 0; i < len; i++) {
            v[i] /= norm;
        }
        return v;
    }

    static double[] toDouble(float[] a) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i];
        }
        return out;
    }

    static float[] toFloat(double[] a) {
        float[] out = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = (float) a[i];
        }
        return out;
    }

    /** Dense S (n×n) in float64 as the SPEC defines it, independently of InputScaling. */
    static double[] referenceScaling(ScaleMode mode, Stats stats, int n) {
        double[] s = new double[n * n];
        switch (mode.kind()) {
            case NONE:
                for (int j = 0; j < n; j++) {
                    s[j * n + j] = 1;
                }
                return s;
            case MEAN_ABS:
            case RMS: {
                double[] d = new double[n];
                double max = 0;
                for (int j = 0; j < n; j++) {
                    d[j] = mode.kind() == ScaleMode.Kind.RMS ? Math.sqrt(stats.meanSquare()[j])
                            : Math.pow(stats.meanAbs()[j], mode.parameter());
                    max = Math.max(max, d[j]);
                }
                for (int j = 0; j < n; j++) {
                    s[j * n + j] = Math.max(d[j], 1e-6 * max);
                }
                return s;
            }
            default: {  // WHITEN: Cholesky–Banachiewicz of C + λ tr(C)/n I
                double[] c = stats.covariance().clone();
                double tr = 0;
                for (int j = 0; j < n; j++) {
                    tr += c[j * n + j];
                }
                for (int j = 0; j < n; j++) {
                    c[j * n + j] += mode.parameter() * tr / n;
                }
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j <= i; j++) {
                        double sum = c[i * n + j];
                        for (int k = 0; k < j; k++) {
                            sum -= s[i * n + k] * s[j * n + k];
                        }
                        s[i * n + j] = i == j ? Math.sqrt(sum) : sum / s[j * n + j];
                    }
                }
                return s;
            }
        }
    }

    /** P (rows×k) times Q (k×cols) in float64. */
    static double[] multiply(double[] p, int rows, int k, double[] q, int cols) {
        double[] out = new double[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int l = 0; l < k; l++) {
                double a = p[i * k + l];
                for (int j = 0; j < cols; j++) {
                    out[i * cols + j] += a * q[l * cols + j];
                }
            }
        }
        return out;
    }

    static double relativeError(double[] got, double[] want) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < got.length; i++) {
            num += (got[i] - want[i]) * (got[i] - want[i]);
            den += want[i] * want[i];
        }
        return Math.sqrt(num / den);
    }
}
