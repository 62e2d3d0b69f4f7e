package io.jnora.init;

import static org.bytedeco.openblas.global.openblas.CblasLower;
import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasNonUnit;
import static org.bytedeco.openblas.global.openblas.CblasRight;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.LAPACK_ROW_MAJOR;
import static org.bytedeco.openblas.global.openblas.LAPACKE_dpotrf;
import static org.bytedeco.openblas.global.openblas.cblas_strsm;

import io.jnora.ShapeMismatchException;
import io.jnora.backend.HostLapack;
import io.jnora.stats.ActivationStats;

/**
 * A concrete scaling S (n×n) built from activation statistics (SPEC §2.2): diagonal for NONE,
 * MEAN_ABS and RMS, lower triangular for WHITEN. It multiplies a weight on the right (W S) and
 * divides a factor on the right (V_rᵀ S⁻¹) — the latter by a triangular solve, never an inverse.
 *
 * <p>Thread safety: immutable (its arrays are private and copied out) and thread-safe.
 */
public final class InputScaling {
    /** Entries below this fraction of the largest diagonal entry are raised to it (dead channels). */
    public static final double CLAMP_FRACTION = 1e-6;

    private final int n;
    private final float[] diagonal;  // NONE / MEAN_ABS / RMS
    private final float[] lower;     // WHITEN: L, n×n row-major, zero above the diagonal

    private InputScaling(int n, float[] diagonal, float[] lower) {
        this.n = n;
        this.diagonal = diagonal;
        this.lower = lower;
    }

    /** S = I. */
    public static InputScaling identity(int n) {
        float[] d = new float[n];
        java.util.Arrays.fill(d, 1f);
        return new InputScaling(n, d, null);
    }

    /** S = diag(d), with the clamp of SPEC §2.2 applied. */
    public static InputScaling diagonal(double[] d) {
        double max = 0;
        for (int j = 0; j < d.length; j++) {
            double v = d[j];
            if (!(v >= 0) || Double.isInfinite(v)) {
                throw new IllegalArgumentException("InputScaling.diagonal: entries must be finite and ≥ 0, got " + v
                        + " for channel " + j + " of n = " + d.length);
            }
            max = Math.max(max, v);
        }
        if (max == 0) {
            throw new IllegalArgumentException("InputScaling.diagonal: every one of the n = " + d.length
                    + " channels is zero (no activation seen)");
        }
        double floor = CLAMP_FRACTION * max;
        float[] out = new float[d.length];
        for (int j = 0; j < d.length; j++) {
            out[j] = (float) Math.max(d[j], floor);
        }
        return new InputScaling(d.length, out, null);
    }

    /** S for a scale mode from gathered statistics (WHITEN needs them gathered with the covariance). */
    public static InputScaling from(ScaleMode mode, ActivationStats stats) {
        if (mode.kind() == ScaleMode.Kind.WHITEN) {
            if (!stats.hasCovariance()) {
                // A missing operand of the expected shape, as ActivationStats.merge reports a covariance in one of two.
                throw new ShapeMismatchException("InputScaling.from: " + mode + " needs the " + stats.channels() + "×"
                        + stats.channels() + " covariance, but the statistics over n = " + stats.channels()
                        + " channels were gathered without it (use ActivationStats.create(n, true))");
            }
            return whiten(stats.covariance(), stats.channels(), mode.parameter());
        }
        if (mode.kind() == ScaleMode.Kind.NONE) {
            return identity(stats.channels());
        }
        return fromChannelStatistics(mode, stats.meanAbs(), stats.meanSquare());
    }

    /** S from per-channel statistics for a diagonal mode. */
    public static InputScaling fromChannelStatistics(ScaleMode mode, double[] meanAbs, double[] meanSquare) {
        int n = meanAbs.length;
        if (meanSquare.length != n) {
            throw new ShapeMismatchException("InputScaling.fromChannelStatistics: mean|x_j| has " + n
                    + " channels but mean x_j² has " + meanSquare.length);
        }
        double[] d = new double[n];
        switch (mode.kind()) {
            case NONE:
                return identity(n);
            case MEAN_ABS:
                for (int j = 0; j < n; j++) {
                    d[j] = Math.pow(meanAbs[j], mode.parameter());
                }
                return diagonal(d);
            case RMS:
                for (int j = 0; j < n; j++) {
                    d[j] = Math.sqrt(meanSquare[j]);
                }
                return diagonal(d);
            default:
                throw new IllegalArgumentException("InputScaling.fromChannelStatistics: " + mode + " needs the " + n + "×"
                        + n + " covariance, not per-channel statistics (use InputScaling.whiten or InputScaling.from)");
        }
    }

    /**
     * S = L with L Lᵀ = C + λ·tr(C)/n·I (Cholesky in float64 for stability), its diagonal clamped like
     * the diagonal modes'. {@code covariance} is n×n row-major (symmetric).
     */
    public static InputScaling whiten(double[] covariance, int n, double lambda) {
        if (n < 1 || covariance.length != (long) n * n) {
            throw new ShapeMismatchException("InputScaling.whiten: covariance holds " + covariance.length
                    + " values, expected " + n + "×" + n);
        }
        HostLapack.ensureLoaded();
        double trace = 0;
        for (int j = 0; j < n; j++) {
            trace += covariance[j * n + j];
        }
        double[] c = covariance.clone();
        double ridge = lambda * trace / n;
        for (int j = 0; j < n; j++) {
            c[j * n + j] += ridge;
        }
        int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, (byte) 'L', n, c, n);
        if (info != 0) {
            String where = info > 0 ? "its leading " + info + "×" + info + " minor is not positive" : "dpotrf info " + info;
            throw new IllegalArgumentException("InputScaling.whiten: C + λ·tr(C)/n·I (n = " + n + ") is not positive "
                    + "definite (" + where + "; λ = " + lambda + ", tr(C) = " + trace + "): raise λ or calibrate on more rows");
        }
        float[] l = new float[n * n];
        double maxDiag = 0;
        for (int i = 0; i < n; i++) {
            maxDiag = Math.max(maxDiag, c[i * n + i]);
        }
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double v = c[i * n + j];
                l[i * n + j] = (float) (i == j ? Math.max(v, CLAMP_FRACTION * maxDiag) : v);
            }
        }
        return new InputScaling(n, null, l);
    }

    /** The diagonal of a diagonal scaling, else null (shared, not copied: for the backends). */
    float[] diagonalView() {
        return diagonal;
    }

    /** L of a WHITEN scaling (n×n row-major), else null (shared, not copied). */
    float[] lowerView() {
        return lower;
    }

    public int channels() {
        return n;
    }

    public boolean isDiagonal() {
        return diagonal != null;
    }

    /** The diagonal of S (a copy); for WHITEN, the diagonal of L. */
    public float[] diagonalEntries() {
        if (diagonal != null) {
            return diagonal.clone();
        }
        float[] d = new float[n];
        for (int j = 0; j < n; j++) {
            d[j] = lower[j * n + j];
        }
        return d;
    }

    /** S as a dense n×n row-major matrix (for tests and reports). */
    public float[] dense() {
        if (lower != null) {
            return lower.clone();
        }
        float[] s = new float[n * n];
        for (int j = 0; j < n; j++) {
            s[j * n + j] = diagonal[j];
        }
        return s;
    }

    /** W S for W (rows×n), a new array. */
    public float[] applyRight(float[] w, int rows) {
        requireCols("applyRight", w, rows);
        return diagonal != null ? HostLapack.scaleColumns(w, rows, n, diagonal)
                : HostLapack.multiply(false, false, rows, n, n, w, lower);
    }

    /** V S⁻¹ for V (rows×n), a new array: column division, or the triangular solve X L = V. */
    public float[] solveRight(float[] v, int rows) {
        requireCols("solveRight", v, rows);
        float[] out = v.clone();
        if (diagonal != null) {
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < n; j++) {
                    out[i * n + j] /= diagonal[j];
                }
            }
            return out;
        }
        HostLapack.ensureLoaded();
        if (rows > 0) {
            cblas_strsm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, rows, n, 1f, lower, n, out, n);
        }
        return out;
    }

    private void requireCols(String op, float[] a, int rows) {
        if (a.length != (long) rows * n) {
            throw new ShapeMismatchException("InputScaling." + op + ": operand holds " + a.length + " values, expected "
                    + rows + "×" + n);
        }
    }
}
