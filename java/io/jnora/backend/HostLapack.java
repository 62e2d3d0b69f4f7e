package io.jnora.backend;

import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.LAPACK_ROW_MAJOR;
import static org.bytedeco.openblas.global.openblas.LAPACKE_dgesdd;
import static org.bytedeco.openblas.global.openblas.LAPACKE_sgeqrf;
import static org.bytedeco.openblas.global.openblas.LAPACKE_sgesdd;
import static org.bytedeco.openblas.global.openblas.LAPACKE_sorgqr;
import static org.bytedeco.openblas.global.openblas.cblas_sgemm;

import io.jnora.NativeFailureException;

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

    /** Thin SVD of A (m×n) in float32 (sgesdd, divide and conquer); A is overwritten. */
    public static Svd svd(float[] a, int m, int n) {
        ensureLoaded();
        int k = Math.min(m, n);
        float[] s = new float[k];
        float[] u = new float[m * k];
        float[] vt = new float[k * n];
        check(LAPACKE_sgesdd(LAPACK_ROW_MAJOR, (byte) 'S', m, n, a, n, s, u, k, vt, n), "sgesdd", m, n);
        return new Svd(m, n, k, u, s, vt);
    }

    /** Thin SVD of A (m×n) computed in float64 (dgesdd), results rounded to float32. */
    public static Svd svdFloat64(float[] a, int m, int n) {
        ensureLoaded();
        int k = Math.min(m, n);
        double[] ad = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            ad[i] = a[i];
        }
        double[] s = new double[k];
        double[] u = new double[m * k];
        double[] vt = new double[k * n];
        check(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, (byte) 'S', m, n, ad, n, s, u, k, vt, n), "dgesdd", m, n);
        return new Svd(m, n, k, toFloat(u), toFloat(s), toFloat(vt));
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
