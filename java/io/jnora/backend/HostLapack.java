package io.jnora.backend;

import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.LAPACK_ROW_MAJOR;
import static org.bytedeco.openblas.global.openblas.LAPACKE_dgesdd;
import static org.bytedeco.openblas.global.openblas.LAPACKE_dgesvd;
import static org.bytedeco.openblas.global.openblas.LAPACKE_sgeqrf;
import static org.bytedeco.openblas.global.openblas.LAPACKE_sgesdd;
import static org.bytedeco.openblas.global.openblas.LAPACKE_sgesvd;
import static org.bytedeco.openblas.global.openblas.LAPACKE_sorgqr;
import static org.bytedeco.openblas.global.openblas.cblas_sgemm;

import io.jnora.NativeFailureException;
import org.bytedeco.javacpp.FloatPointer;

/**
 * Row-major dense linear algebra on host float arrays through OpenBLAS/LAPACK, for the one-off
 * work of initialisation (products, QR, SVD). Internal to the library. Not a hot path: JNI copies
 * the arrays in and out.
 *
 * <p>Thread safety: stateless; concurrent calls on different arrays share nothing in jnora (OpenBLAS's threaded
 * build is itself thread-safe).
 */
public final class HostLapack {
    private HostLapack() {}

    public static void ensureLoaded() {
        CpuBackend.ensureOpenBlas();
    }

    /** op(A) (m×k) times op(B) (k×n), a new m×n array. */
    public static float[] multiply(boolean transA, boolean transB, int m, int n, int k, float[] a, float[] b) {
        ensureLoaded();
        float[] c = new float[m * n];
        if (m == 0 || n == 0) {
            return c;
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k,
                1f, a, Math.max(1, transA ? m : k), b, Math.max(1, transB ? k : n), 0f, c, Math.max(1, n));
        return c;
    }

    /**
     * C = op(A) (m×k) times op(B) (k×n) on off-heap memory: no JNI copies in and out, for products
     * that reuse a large operand (the randomized SVD reads W six times).
     */
    public static void multiply(boolean transA, boolean transB, int m, int n, int k, FloatPointer a, FloatPointer b,
            FloatPointer c) {
        ensureLoaded();
        if (m == 0 || n == 0) {
            return;
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k,
                1f, a, Math.max(1, transA ? m : k), b, Math.max(1, transB ? k : n), 0f, c, Math.max(1, n));
    }

    /** {@link #orthonormalizeColumns(float[], int, int)} on off-heap memory; tau holds at least cols floats. */
    public static void orthonormalizeColumns(FloatPointer y, int rows, int cols, FloatPointer tau) {
        ensureLoaded();
        check(LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, rows, cols, y, cols, tau), "sgeqrf", rows, cols);
        check(LAPACKE_sorgqr(LAPACK_ROW_MAJOR, rows, cols, cols, y, cols, tau), "sorgqr", rows, cols);
    }

    /** W·diag(d) for W (rows×cols): each column scaled, a new array. */
    public static float[] scaleColumns(float[] w, int rows, int cols, float[] d) {
        float[] out = new float[w.length];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                out[i * cols + j] = w[i * cols + j] * d[j];
            }
        }
        return out;
    }

    /**
     * Orthonormal basis of the columns of Y (rows×cols, rows ≥ cols), in place: Householder QR
     * (sgeqrf) then the explicit Q (sorgqr). This is the re-orthonormalisation of HMT's power steps.
     */
    public static void orthonormalizeColumns(float[] y, int rows, int cols) {
        ensureLoaded();
        float[] tau = new float[Math.max(1, cols)];
        check(LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, rows, cols, y, cols, tau), "sgeqrf", rows, cols);
        check(LAPACKE_sorgqr(LAPACK_ROW_MAJOR, rows, cols, cols, y, cols, tau), "sorgqr", rows, cols);
    }

    /**
     * A LAPACKE thin-SVD driver (jobz / jobu = jobvt = 'S') on a row-major m×n array it may overwrite:
     * U (m×k), σ (k), Vᵀ (k×n) with k = min(m, n); returns LAPACK's info.
     */
    @FunctionalInterface
    interface FloatSvdDriver {
        int run(int m, int n, float[] a, float[] sigma, float[] u, float[] vt);
    }

    /** {@link FloatSvdDriver} in float64. */
    @FunctionalInterface
    interface DoubleSvdDriver {
        int run(int m, int n, double[] a, double[] sigma, double[] u, double[] vt);
    }

    static final FloatSvdDriver SGESDD = (m, n, a, s, u, vt) ->
            LAPACKE_sgesdd(LAPACK_ROW_MAJOR, (byte) 'S', m, n, a, n, s, u, Math.min(m, n), vt, n);
    static final FloatSvdDriver SGESVD = (m, n, a, s, u, vt) -> LAPACKE_sgesvd(LAPACK_ROW_MAJOR, (byte) 'S', (byte) 'S',
            m, n, a, n, s, u, Math.min(m, n), vt, n, new float[Math.max(1, Math.min(m, n) - 1)]);
    static final DoubleSvdDriver DGESDD = (m, n, a, s, u, vt) ->
            LAPACKE_dgesdd(LAPACK_ROW_MAJOR, (byte) 'S', m, n, a, n, s, u, Math.min(m, n), vt, n);
    static final DoubleSvdDriver DGESVD = (m, n, a, s, u, vt) -> LAPACKE_dgesvd(LAPACK_ROW_MAJOR, (byte) 'S', (byte) 'S',
            m, n, a, n, s, u, Math.min(m, n), vt, n, new double[Math.max(1, Math.min(m, n) - 1)]);

    /**
     * Thin SVD of A (m×n) in float32: sgesdd (divide and conquer), or, where that does not converge
     * (info > 0, which LAPACK allows on hard matrices), sgesvd (QR iteration: slower, more robust).
     * A is left unchanged.
     */
    public static Svd svd(float[] a, int m, int n) {
        return svd(a, m, n, SGESDD, SGESVD);
    }

    static Svd svd(float[] a, int m, int n, FloatSvdDriver divideAndConquer, FloatSvdDriver qrIteration) {
        ensureLoaded();
        int k = Math.min(m, n);
        float[] s = new float[k];
        float[] u = new float[m * k];
        float[] vt = new float[k * n];
        int info = divideAndConquer.run(m, n, a.clone(), s, u, vt);
        if (info > 0) {
            check(qrIteration.run(m, n, a.clone(), s, u, vt), "sgesvd (after sgesdd did not converge, info = " + info + ")",
                    m, n);
        } else {
            check(info, "sgesdd", m, n);
        }
        return new Svd(m, n, k, u, s, vt);
    }

    /**
     * Thin SVD of A (m×n) computed in float64, results rounded to float32: dgesdd, or dgesvd where
     * that does not converge (as {@link #svd}). A is left unchanged.
     */
    public static Svd svdFloat64(float[] a, int m, int n) {
        return svdFloat64(a, m, n, DGESDD, DGESVD);
    }

    static Svd svdFloat64(float[] a, int m, int n, DoubleSvdDriver divideAndConquer, DoubleSvdDriver qrIteration) {
        ensureLoaded();
        int k = Math.min(m, n);
        double[] s = new double[k];
        double[] u = new double[m * k];
        double[] vt = new double[k * n];
        int info = divideAndConquer.run(m, n, toDouble(a), s, u, vt);
        if (info > 0) {
            check(qrIteration.run(m, n, toDouble(a), s, u, vt), "dgesvd (after dgesdd did not converge, info = " + info
                    + ")", m, n);
        } else {
            check(info, "dgesdd", m, n);
        }
        return new Svd(m, n, k, toFloat(u), toFloat(s), toFloat(vt));
    }

    private static double[] toDouble(float[] values) {
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i];
        }
        return out;
    }

    public static float[] toFloat(double[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (float) values[i];
        }
        return out;
    }

    public static void check(int info, String routine, int m, int n) {
        if (info != 0) {
            throw new NativeFailureException("LAPACK " + routine + " on a " + m + "×" + n + " matrix returned info = "
                    + info + (info > 0 ? " (did not converge / not positive definite)" : " (illegal argument)"));
        }
    }

    /** A thin SVD: U (m×k), singular values descending (k), Vᵀ (k×n), row-major. */
    public record Svd(int m, int n, int k, float[] u, float[] sigma, float[] vt) {}
}
