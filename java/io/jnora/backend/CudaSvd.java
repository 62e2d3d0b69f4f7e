package io.jnora.backend;

import static org.bytedeco.cuda.global.cublas.CUBLAS_DEFAULT_MATH;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_N;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_T;
import static org.bytedeco.cuda.global.cublas.CUBLAS_SIDE_LEFT;
import static org.bytedeco.cuda.global.cublas.cublasGetMathMode;
import static org.bytedeco.cuda.global.cublas.cublasSdgmm;
import static org.bytedeco.cuda.global.cublas.cublasSetMathMode;
import static org.bytedeco.cuda.global.cublas.cublasSgeam;
import static org.bytedeco.cuda.global.cublas.cublasSgemm_v2;
import static org.bytedeco.cuda.global.cusolver.cusolverDnCreate;
import static org.bytedeco.cuda.global.cusolver.cusolverDnDestroy;
import static org.bytedeco.cuda.global.cusolver.cusolverDnSetStream;
import static org.bytedeco.cuda.global.cusolver.cusolverDnSgeqrf;
import static org.bytedeco.cuda.global.cusolver.cusolverDnSgeqrf_bufferSize;
import static org.bytedeco.cuda.global.cusolver.cusolverDnSgesvd;
import static org.bytedeco.cuda.global.cusolver.cusolverDnSgesvd_bufferSize;
import static org.bytedeco.cuda.global.cusolver.cusolverDnSorgqr;
import static org.bytedeco.cuda.global.cusolver.cusolverDnSorgqr_bufferSize;

import io.jnora.NativeFailureException;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.cusolver.cusolverDnContext;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;

/**
 * Truncated SVDs of W·S on the device (SPEC §2.2) with cuBLAS and cuSOLVER: W is uploaded once,
 * scaled, decomposed, and only U_r, σ_r and V_rᵀ come back.
 *
 * <p>Layout: cuSOLVER is column-major. A row-major m×n matrix in device memory is, read
 * column-major, its transpose N = (W S)ᵀ (n×m, leading dimension n), so everything below works on
 * N without copying: the right singular vectors of N are the left ones of W S and vice versa.
 */
final class CudaSvd implements AutoCloseable {
    private final CudaBackend backend;
    private final cublasContext cublas;
    private final cusolverDnContext solver = new cusolverDnContext();
    private final FloatPointer one = new FloatPointer(1f);
    private final FloatPointer zero = new FloatPointer(0f);

    CudaSvd(CudaBackend backend, cublasContext cublas, CUstream_st stream) {
        Loader.load(org.bytedeco.cuda.global.cusolver.class);
        this.backend = backend;
        this.cublas = cublas;
        try {
            solverCheck(cusolverDnCreate(solver), "cusolverDnCreate");
            solverCheck(cusolverDnSetStream(solver, stream), "cusolverDnSetStream");
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Device buffers of one call, freed together. */
    private final class Scratch implements AutoCloseable {
        private final List<FloatPointer> buffers = new ArrayList<>();

        FloatPointer floats(long count) {
            FloatPointer p = backend.allocate(count);
            buffers.add(p);
            return p;
        }

        FloatPointer upload(float[] host) {
            FloatPointer p = floats(host.length);
            backend.upload(host, 0, p, host.length);
            return p;
        }

        @Override
        public void close() {
            RuntimeException first = null;
            for (FloatPointer p : buffers) {
                try {
                    backend.free(p);
                } catch (RuntimeException e) {  // free the rest, report the first failure
                    first = first == null ? e : first;
                }
            }
            if (first != null) {
                throw first;
            }
        }
    }

    /**
     * The SVD's own products (W·L, the sketch and power steps, Qᵀ M, U = Q VTbᵀ) run in full float32
     * (SPEC §1: SVD is float32) even on a context that allowed TF32 for its layers: the shared cuBLAS
     * handle's math mode is set to the default for the call and restored after, also on failure.
     */
    SvdFactors scaledTruncatedSvd(float[] w, int m, int n, float[] diagonal, float[] lower, int rank, SvdPlan plan) {
        int previousMode;
        try (IntPointer mode = new IntPointer(1)) {
            blas(cublasGetMathMode(cublas, mode), "cublasGetMathMode");
            previousMode = mode.get();
        }
        blas(cublasSetMathMode(cublas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode(CUBLAS_DEFAULT_MATH)");
        RuntimeException failure = null;
        try {
            return scaledTruncatedSvdFloat32(w, m, n, diagonal, lower, rank, plan);
        } catch (RuntimeException e) {
            failure = e;
            throw e;
        } finally {
            int status = cublasSetMathMode(cublas, previousMode);
            if (status != 0) {
                NativeFailureException restore = new NativeFailureException("cublasSetMathMode (restoring the context's "
                        + "math mode " + previousMode + " after the SVD): cuBLAS status " + status);
                if (failure == null) {
                    throw restore;
                }
                failure.addSuppressed(restore);
            }
        }
    }

    private SvdFactors scaledTruncatedSvdFloat32(float[] w, int m, int n, float[] diagonal, float[] lower, int rank,
            SvdPlan plan) {
        try (Scratch s = new Scratch(); IntPointer info = new IntPointer(1)) {
            FloatPointer dw = s.upload(w);
            FloatPointer scaled = s.floats((long) m * n);  // row-major W S = column-major N (n×m)
            if (diagonal != null) {
                // Column j of W S is column j of W times d_j: row j of N, a left diagonal product.
                FloatPointer d = s.upload(diagonal);
                blas(cublasSdgmm(cublas, CUBLAS_SIDE_LEFT, n, m, dw, n, d, 1, scaled, n), "cublasSdgmm");
            } else {
                backend.gemm(false, false, m, n, n, 1f, dw, s.upload(lower), 0f, scaled);
            }
            SvdFactors out = plan.randomized()
                    ? randomized(s, info, scaled, m, n, rank, plan)
                    : exact(s, info, scaled, m, n, rank);
            backend.synchronize();
            return out;
        }
    }

    /**
     * HMT exactly as {@link HostSvd#randomized} computes it (same Ω, same side), with M = W S read
     * through N = Mᵀ: Y = MΩ (m×ℓ), power steps Z = MᵀQ, Q = MZ with QR each half-step, then the SVD
     * of Bᵀ = (QᵀM)ᵀ = NQ (n×ℓ, tall, so gesvd applies): Bᵀ = Ub Σ VTb gives U = Q VTbᵀ, Vᵀ = Ubᵀ.
     */
    private SvdFactors randomized(Scratch s, IntPointer info, FloatPointer nMat, int m, int n, int rank, SvdPlan plan) {
        int l = Math.min(rank + plan.oversampling(), Math.min(m, n));
        // The host's row-major n×ℓ Ω, read column-major, is Ωᵀ (ℓ×n, ld ℓ).
        FloatPointer omega = s.upload(HostSvd.gaussian(n * l, plan.seed()));
        FloatPointer y = s.floats((long) m * l);                                 // Q: m×ℓ, ld m
        FloatPointer z = s.floats((long) n * l);                                 // n×ℓ, ld n
        gemm(true, true, m, l, n, nMat, n, omega, l, y, m);                      // Y = M Ω = Nᵀ (Ωᵀ)ᵀ
        orthonormalize(s, info, y, m, l);
        for (int it = 0; it < plan.powerIterations(); it++) {
            gemm(false, false, n, l, m, nMat, n, y, m, z, n);                    // Z = Mᵀ Q = N Q
            orthonormalize(s, info, z, n, l);
            gemm(true, false, m, l, n, nMat, n, z, n, y, m);                     // Q = M Z = Nᵀ Z
            orthonormalize(s, info, y, m, l);
        }
        gemm(false, false, n, l, m, nMat, n, y, m, z, n);                        // Bᵀ = N Q (n×ℓ)
        FloatPointer sigma = s.floats(l);
        FloatPointer ub = s.floats((long) n * l);
        FloatPointer vtb = s.floats((long) l * l);
        gesvd(s, info, z, n, l, sigma, ub, vtb);
        FloatPointer u = s.floats((long) m * l);
        gemm(false, true, m, l, l, y, m, vtb, l, u, m);                          // U = Q VTbᵀ (m×ℓ)
        return new SvdFactors(m, n, rank, columnMajorColumnsToRowMajor(u, m, rank), download(sigma, rank),
                download(ub, (long) rank * n));                                  // columns of Ub = rows of Vᵀ
    }

    /** gesvd needs rows ≥ cols: N (n×m) itself when n ≥ m, else its transpose, W S as column-major m×n. */
    private SvdFactors exact(Scratch s, IntPointer info, FloatPointer nMat, int m, int n, int rank) {
        int k = Math.min(m, n);
        FloatPointer sigma = s.floats(k);
        if (n >= m) {
            FloatPointer un = s.floats((long) n * k);   // left vectors of N = V of W S; column k = row k of Vᵀ
            FloatPointer vtn = s.floats((long) k * m);  // Vᵀ of N = Uᵀ of W S: column-major k×m is row-major U (m×k)
            gesvd(s, info, nMat, n, m, sigma, un, vtn);
            float[] uFull = download(vtn, (long) k * m);
            float[] u = new float[m * rank];
            for (int i = 0; i < m; i++) {
                System.arraycopy(uFull, i * k, u, i * rank, rank);
            }
            return new SvdFactors(m, n, rank, u, download(sigma, rank), download(un, (long) rank * n));
        }
        FloatPointer ws = s.floats((long) m * n);       // W S column-major (m×n, ld m)
        // B is given as valid data (nMat again) so that nothing uninitialised is ever read, even with β = 0.
        blas(cublasSgeam(cublas, CUBLAS_OP_T, CUBLAS_OP_T, m, n, one, nMat, n, zero, nMat, n, ws, m), "cublasSgeam");
        FloatPointer uw = s.floats((long) m * k);       // U of W S, column-major m×k
        FloatPointer vtw = s.floats((long) k * n);      // Vᵀ of W S, column-major k×n
        gesvd(s, info, ws, m, n, sigma, uw, vtw);
        float[] vtFull = download(vtw, (long) k * n);
        float[] vt = new float[rank * n];
        for (int kk = 0; kk < rank; kk++) {
            for (int j = 0; j < n; j++) {
                vt[kk * n + j] = vtFull[j * k + kk];
            }
        }
        return new SvdFactors(m, n, rank, columnMajorColumnsToRowMajor(uw, m, rank), download(sigma, rank), vt);
    }

    /** Column-major C (rows×cols) = op(A) op(B), cuBLAS's own convention. */
    private void gemm(boolean transA, boolean transB, int rows, int cols, int inner, FloatPointer a, int lda,
            FloatPointer b, int ldb, FloatPointer c, int ldc) {
        blas(cublasSgemm_v2(cublas, transA ? CUBLAS_OP_T : CUBLAS_OP_N, transB ? CUBLAS_OP_T : CUBLAS_OP_N, rows, cols,
                inner, one, a, lda, b, ldb, zero, c, ldc), "cublasSgemm");
    }

    /** The columns of a column-major rows×cols matrix (rows ≥ cols) replaced by an orthonormal basis: geqrf + orgqr. */
    private void orthonormalize(Scratch s, IntPointer info, FloatPointer a, int rows, int cols) {
        try (IntPointer lwork = new IntPointer(1)) {
            solverCheck(cusolverDnSgeqrf_bufferSize(solver, rows, cols, a, rows, lwork), "cusolverDnSgeqrf_bufferSize");
            int geqrf = lwork.get();
            FloatPointer tau = s.floats(cols);
            solverCheck(cusolverDnSorgqr_bufferSize(solver, rows, cols, cols, a, rows, tau, lwork), "cusolverDnSorgqr_bufferSize");
            int size = Math.max(1, Math.max(geqrf, lwork.get()));
            FloatPointer work = s.floats(size);
            IntPointer devInfoInt = new IntPointer(s.floats(1));
            solverCheck(cusolverDnSgeqrf(solver, rows, cols, a, rows, tau, work, size, devInfoInt), "cusolverDnSgeqrf");
            requireInfo(devInfoInt, info, "cusolverDnSgeqrf", rows, cols);
            solverCheck(cusolverDnSorgqr(solver, rows, cols, cols, a, rows, tau, work, size, devInfoInt), "cusolverDnSorgqr");
            requireInfo(devInfoInt, info, "cusolverDnSorgqr", rows, cols);
        }
    }

    /** Thin SVD of a column-major rows×cols matrix (rows ≥ cols), overwritten: U (rows×cols), Vᵀ (cols×cols). */
    private void gesvd(Scratch s, IntPointer info, FloatPointer a, int rows, int cols, FloatPointer sigma, FloatPointer u,
            FloatPointer vt) {
        try (IntPointer lwork = new IntPointer(1)) {
            solverCheck(cusolverDnSgesvd_bufferSize(solver, rows, cols, lwork), "cusolverDnSgesvd_bufferSize");
            FloatPointer work = s.floats(Math.max(1, lwork.get()));
            FloatPointer rwork = s.floats(Math.max(1, cols));
            IntPointer devInfo = new IntPointer(s.floats(1));
            solverCheck(cusolverDnSgesvd(solver, (byte) 'S', (byte) 'S', rows, cols, a, rows, sigma, u, rows, vt, cols, work,
                    lwork.get(), rwork, devInfo), "cusolverDnSgesvd");
            requireInfo(devInfo, info, "cusolverDnSgesvd", rows, cols);
        }
    }

    private void requireInfo(IntPointer deviceInfo, IntPointer host, String routine, int rows, int cols) {
        backend.copyToHost(deviceInfo, host, Integer.BYTES);
        if (host.get() != 0) {
            throw new NativeFailureException(routine + " on a " + rows + "×" + cols + " matrix returned info = " + host.get()
                    + (host.get() > 0 ? " (did not converge)" : " (illegal argument)"));
        }
    }

    private float[] columnMajorColumnsToRowMajor(FloatPointer a, int rows, int cols) {
        float[] columns = download(a, (long) rows * cols);  // the first `cols` columns are contiguous
        float[] out = new float[rows * cols];
        for (int j = 0; j < cols; j++) {
            for (int i = 0; i < rows; i++) {
                out[i * cols + j] = columns[j * rows + i];
            }
        }
        return out;
    }

    private float[] download(FloatPointer device, long count) {
        float[] host = new float[Math.toIntExact(count)];
        backend.download(device, count, host, 0);
        return host;
    }

    private static void blas(int status, String call) {
        if (status != 0) {
            throw new NativeFailureException(call + ": cuBLAS status " + status);
        }
    }

    private static void solverCheck(int status, String call) {
        if (status != 0) {
            throw new NativeFailureException(call + ": cuSOLVER status " + status);
        }
    }

    @Override
    public void close() {
        if (!solver.isNull()) {
            cusolverDnDestroy(solver);
        }
        one.close();
        zero.close();
    }
}
