package io.jnora.backend;

import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_N;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_T;
import static org.bytedeco.cuda.global.cublas.cublasCreate_v2;
import static org.bytedeco.cuda.global.cublas.CUBLAS_FILL_MODE_LOWER;
import static org.bytedeco.cuda.global.cublas.cublasDestroy_v2;
import static org.bytedeco.cuda.global.cublas.cublasDsyrk_v2;
import static org.bytedeco.cuda.global.cublas.CUBLAS_DEFAULT_MATH;
import static org.bytedeco.cuda.global.cublas.CUBLAS_TF32_TENSOR_OP_MATH;
import static org.bytedeco.cuda.global.cublas.CUBLAS_COMPUTE_32F;
import static org.bytedeco.cuda.global.cublas.CUBLAS_GEMM_DEFAULT;
import static org.bytedeco.cuda.global.cublas.cublasGemmEx;
import static org.bytedeco.cuda.global.cublas.cublasSetMathMode;
import static org.bytedeco.cuda.global.cublas.cublasSetWorkspace_v2;
import static org.bytedeco.cuda.global.cublas.cublasSetStream_v2;
import static org.bytedeco.cuda.global.cublas.cublasSgemm_v2;
import static org.bytedeco.cuda.global.cudart.CUDA_R_16BF;
import static org.bytedeco.cuda.global.cudart.CUDA_R_16F;
import static org.bytedeco.cuda.global.cudart.CUDA_R_32F;
import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaFreeHost;
import static org.bytedeco.cuda.global.cudart.cudaGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMallocHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemsetAsync;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaStreamNonBlocking;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaStreamSynchronize;

import io.jnora.Backend;
import io.jnora.NativeFailureException;
import io.jnora.NonFiniteInputException;
import io.jnora.Precision;
import io.jnora.binding.JnoraNative;
import java.nio.FloatBuffer;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.ShortPointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * The CUDA backend: device memory and copies through the cudart presets, the base and the
 * effective-factor GEMMs through cuBLAS, the low-rank chain through our kernels (libjnora). One
 * stream carries everything, in order. Not thread-safe: one context per thread.
 */
public final class CudaBackend implements ComputeBackend {
    private final String device;
    // Device and pinned allocations not yet freed: what leak tests compare before and after.
    private final java.util.concurrent.atomic.AtomicLong liveAllocations = new java.util.concurrent.atomic.AtomicLong();
    private final CUstream_st stream;
    private final boolean ownsStream;
    private final cublasContext cublas = new cublasContext();
    // cuBLAS's workspace, given to it rather than left to its own: without one, cuBLAS 12.2+ allocates
    // with cudaMallocAsync inside a stream capture, which puts memory nodes into the graph (and those
    // are refused in child graphs). 32 MiB is what the cuBLAS documentation asks for on Hopper.
    private static final long CUBLAS_WORKSPACE_BYTES = 32L << 20;
    private Pointer cublasWorkspace;
    private final JnoraNative.jnora_context kernels = new JnoraNative.jnora_context();
    private final FloatPointer alphaHost = new FloatPointer(1);
    private final FloatPointer betaHost = new FloatPointer(1);
    // Activation statistics (columnStatistics): device outputs, the kernel's workspace and the XᵀX
    // scratch, each grown to the largest batch seen and then reused; freed on close.
    private DoublePointer statsSumAbs;
    private DoublePointer statsSumSq;
    private FloatPointer statsMaxAbs;
    private int statsColumns;
    private Pointer statsWorkspace;
    private long statsWorkspaceBytes;
    private final DeviceScratch gramScratch = new DeviceScratch("XᵀX in float64");
    private final DeviceScratch widenScratch = new DeviceScratch("a batch widened to float64");
    private final DeviceScratch decodeScratch = new DeviceScratch("split-K partial sums of the decode forward");
    private boolean fusedDecode = true;
    // Training (adamw.cu): the multi-tensor workspace (the device table of pointers and sizes plus
    // the sum's partials), grown to the longest list seen, and the sum of squares' device result.
    private Pointer multiTensorWorkspace;
    private long multiTensorWorkspaceBytes;
    private DoublePointer sumResult;
    private CudaSvd svd;  // made on first use: it loads cuSOLVER
    // CUDA graphs still open (capture()) hold the addresses of the scratch above as recorded: scratch
    // outgrown meanwhile is freed when the last graph is closed, so a replay never reads freed memory.
    private int openGraphs;
    private final java.util.List<Pointer> freedAfterGraphs = new java.util.ArrayList<>();
    private boolean closed;

    /** Only after {@link CudaProbe#probe()} said CUDA is available: this touches the presets. */
    public CudaBackend(String device) {
        this(device, null);
    }

    /**
     * The same on the caller's stream ({@code cudaStream_t} as an address; 0 is the legacy default
     * stream), which this backend uses but never destroys; {@code null} makes a stream of its own.
     */
    public CudaBackend(String device, Long callerStream) {
        this.device = device;
        ownsStream = callerStream == null;
        if (ownsStream) {
            stream = new CUstream_st();
            // Non-blocking: legacy default-stream work of other threads neither waits for ours nor
            // invalidates a graph capture on it; everything we do is ordered on this stream alone.
            cuda(cudaStreamCreateWithFlags(stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
        } else {
            long address = callerStream;
            stream = new CUstream_st(new Pointer() {
                {
                    this.address = address;  // Pointer's field is protected: set through a subclass
                }
            });
        }
        try {
            cublasCheck(cublasCreate_v2(cublas), "cublasCreate");
            cublasCheck(cublasSetStream_v2(cublas, stream), "cublasSetStream");
            // After cublasSetStream, which resets the workspace to cuBLAS's default.
            cublasWorkspace = deviceBytes(CUBLAS_WORKSPACE_BYTES, "the cuBLAS workspace");
            cublasCheck(cublasSetWorkspace_v2(cublas, cublasWorkspace, CUBLAS_WORKSPACE_BYTES), "cublasSetWorkspace");
            NativeLibrary.check(JnoraNative.jnora_create(kernels), "jnora_create");
            NativeLibrary.check(JnoraNative.jnora_set_stream(kernels, stream), "jnora_set_stream");
        } catch (RuntimeException e) {
            // Give back what was made before the failure: nobody else holds these handles.
            if (!kernels.isNull()) {
                JnoraNative.jnora_destroy(kernels);
            }
            if (!cublas.isNull()) {
                cublasDestroy_v2(cublas);
            }
            if (cublasWorkspace != null && !cublasWorkspace.isNull()) {
                deviceFree(cublasWorkspace);
            }
            if (ownsStream) {
                cudaStreamDestroy(stream);
            }
            alphaHost.close();
            betaHost.close();
            throw e;
        }
    }

    static void cuda(int error, String call) {
        if (error != 0) {
            throw new NativeFailureException(call + ": CUDA error " + error + " (" + cudaGetErrorString(error).getString() + ")");
        }
    }

    private static void cublasCheck(int status, String call) {
        if (status != 0) {
            throw new NativeFailureException(call + ": cuBLAS status " + status);
        }
    }

    @Override
    public Backend kind() {
        return Backend.CUDA;
    }

    @Override
    public String device() {
        return device;
    }

    @Override
    public void uploadHalf(short[] source, FloatPointer destination, long elements) {
        try (ShortPointer staging = new ShortPointer(Math.max(1, elements))) {
            staging.put(source, 0, Math.toIntExact(elements));
            cuda(cudaMemcpyAsync(destination.position(0), staging, elements * 2, cudaMemcpyHostToDevice, stream),
                    "cudaMemcpyAsync(host to device)");
            synchronize();  // the staging buffer is freed on return
        }
    }

    @Override
    public void downloadHalf(FloatPointer source, long elements, short[] destination) {
        try (ShortPointer staging = new ShortPointer(Math.max(1, elements))) {
            cuda(cudaMemcpyAsync(staging, source.position(0), elements * 2, cudaMemcpyDeviceToHost, stream),
                    "cudaMemcpyAsync(device to host)");
            synchronize();
            staging.get(destination, 0, Math.toIntExact(elements));
        }
    }

    /** cublasGemmEx: half or float32 operands, float32 accumulation (CUBLAS_COMPUTE_32F). */
    @Override
    public void gemmMixed(boolean transA, boolean transB, int m, int n, int k, float alpha, FloatPointer a,
            FloatPointer b, Precision ab, float beta, FloatPointer c, Precision cp) {
        if (m == 0 || n == 0) {
            return;
        }
        int lda = Math.max(1, transA ? m : k);
        int ldb = Math.max(1, transB ? k : n);
        alphaHost.put(0, alpha);
        betaHost.put(0, beta);
        cublasCheck(cublasGemmEx(cublas, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
                alphaHost, b.position(0), cudaType(ab), ldb, a.position(0), cudaType(ab), lda, betaHost, c.position(0),
                cudaType(cp), n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), "cublasGemmEx");
    }

    private static int cudaType(Precision p) {
        return switch (p) {
            case FLOAT32 -> CUDA_R_32F;
            case BFLOAT16 -> CUDA_R_16BF;
            case FLOAT16 -> CUDA_R_16F;
        };
    }

    private static int jnoraPrecision(Precision p) {
        return switch (p) {
            case FLOAT32 -> JnoraNative.JNORA_FLOAT32;
            case BFLOAT16 -> JnoraNative.JNORA_BFLOAT16;
            case FLOAT16 -> JnoraNative.JNORA_FLOAT16;
        };
    }

    @Override
    public void convert(FloatPointer source, Precision from, FloatPointer destination, Precision to, long elements) {
        NativeLibrary.check(JnoraNative.jnora_convert(kernels, elements, jnoraPrecision(from), source.position(0),
                jnoraPrecision(to), destination.position(0)), "jnora_convert");
    }

    @Override
    public boolean allowTf32(boolean allowed) {
        cublasCheck(cublasSetMathMode(cublas, allowed ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
                "cublasSetMathMode");
        return true;
    }

    @Override
    public FloatPointer allocate(long elements) {
        Pointer raw = new Pointer();
        cuda(cudaMalloc(raw, Math.max(1, elements) * Float.BYTES), "cudaMalloc(" + elements + " floats)");
        liveAllocations.incrementAndGet();
        return new FloatPointer(raw).capacity(Math.max(1, elements));
    }

    @Override
    public void free(FloatPointer memory) {
        cuda(deviceFree(memory.position(0)), "cudaFree");
    }

    @Override
    public void upload(float[] source, int offset, FloatPointer destination, long elements) {
        try (FloatPointer staging = new FloatPointer(Math.max(1, elements))) {
            staging.put(source, offset, Math.toIntExact(elements));
            copyHostToDevice(staging, destination, elements);
        }
    }

    @Override
    public void upload(FloatBuffer source, FloatPointer destination, long elements) {
        try (FloatPointer staging = new FloatPointer(Math.max(1, elements))) {
            staging.asBuffer().put(source.duplicate().limit(source.position() + Math.toIntExact(elements)));
            copyHostToDevice(staging, destination, elements);
        }
    }

    private void copyHostToDevice(FloatPointer staging, FloatPointer destination, long elements) {
        cuda(cudaMemcpyAsync(destination.position(0), staging.position(0), elements * Float.BYTES,
                cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync(host to device)");
        synchronize();  // the staging buffer is freed on return
    }

    @Override
    public void download(FloatPointer source, long elements, float[] destination, int offset) {
        try (FloatPointer staging = new FloatPointer(Math.max(1, elements))) {
            cuda(cudaMemcpyAsync(staging, source.position(0), elements * Float.BYTES,
                    cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync(device to host)");
            synchronize();
            staging.get(destination, offset, Math.toIntExact(elements));
        }
    }

    @Override
    public void fill(FloatPointer destination, long elements, float value) {
        int bits = Float.floatToRawIntBits(value);
        if (bits == 0 || bits == -1) {  // 0.0f, or the all-ones NaN used to poison outputs
            cuda(cudaMemsetAsync(destination.position(0), bits & 0xFF, elements * Float.BYTES, stream),
                    "cudaMemsetAsync");
            return;
        }
        float[] host = new float[Math.toIntExact(elements)];
        java.util.Arrays.fill(host, value);
        upload(host, 0, destination, elements);
    }

    @Override
    public void copy(FloatPointer source, FloatPointer destination, long elements) {
        cuda(cudaMemcpyAsync(destination.position(0), source.position(0), elements * Float.BYTES,
                cudaMemcpyDeviceToDevice, stream), "cudaMemcpyAsync(device to device)");
    }

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
            FloatPointer a, FloatPointer b, float beta, FloatPointer c) {
        if (m == 0 || n == 0) {
            return;
        }
        // Row-major C = op(A) op(B) is column-major Cᵀ = op(B)ᵀ op(A)ᵀ: swap the operands.
        int lda = Math.max(1, transA ? m : k);
        int ldb = Math.max(1, transB ? k : n);
        alphaHost.put(0, alpha);
        betaHost.put(0, beta);
        cublasCheck(cublasSgemm_v2(cublas, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N,
                n, m, k, alphaHost, b, ldb, a, lda, betaHost, c, n), "cublasSgemm");
    }

    /**
     * Above this many multiply-adds a low-rank GEMM goes to cuBLAS (tensor-core paths, TF32 when
     * allowed, tuned tiles); below it our kernels, whose single small launch wins on latency. 2^22 is
     * T = 16 at r = 64 and n = 4096: the decode-to-prefill boundary of the shapes that matter.
     */
    private static final long CUBLAS_MIN_MACS = 1L << 22;

    private static boolean large(long rows, long cols, long k) {
        return rows * cols * k >= CUBLAS_MIN_MACS;
    }

    @Override
    public void shrink(int rows, int cols, int k, float alpha, FloatPointer x, FloatPointer f,
            boolean fStoredTransposed, FloatPointer z) {
        if (large(rows, cols, k)) {  // Z = α X Fᵀ, F stored cols×k (or k×cols: then Z = α X F)
            gemm(false, !fStoredTransposed, rows, cols, k, alpha, x, f, 0f, z);
            return;
        }
        NativeLibrary.check(JnoraNative.jnora_shrink(kernels, rows, cols, k, alpha, x, Math.max(1, k), f,
                fStoredTransposed ? 1 : k, fStoredTransposed ? cols : 1, z, cols), "jnora_shrink");
    }

    @Override
    public void expand(int rows, int cols, int k, float alpha, FloatPointer z, FloatPointer g,
            boolean gStoredTransposed, float beta, FloatPointer y) {
        if (large(rows, cols, k)) {  // Y = α Z Gᵀ + β Y, G stored cols×k (or k×cols)
            gemm(false, !gStoredTransposed, rows, cols, k, alpha, z, g, beta, y);
            return;
        }
        NativeLibrary.check(JnoraNative.jnora_expand(kernels, rows, cols, k, alpha, z, Math.max(1, k), g,
                gStoredTransposed ? 1 : k, gStoredTransposed ? cols : 1, beta, y, cols), "jnora_expand");
    }

    @Override
    public void weightGrad(int rows, int pCols, int qCols, FloatPointer p, FloatPointer q,
            FloatPointer g) {
        if (large(rows, pCols, qCols)) {  // G = Pᵀ Q
            gemm(true, false, pCols, qCols, rows, 1f, p, q, 0f, g);
            return;
        }
        NativeLibrary.check(JnoraNative.jnora_weight_grad(kernels, rows, pCols, qCols, p, pCols, q, qCols, g, qCols),
                "jnora_weight_grad");
    }

    /** The row-transform kernel keeps r + r_in floats of a row in shared memory (48 KiB by default). */
    private static final int MAX_ROW_TRANSFORM_FLOATS = 12 * 1024;

    @Override
    public void innerForward(int rows, int r, int rIn, float s, FloatPointer z1,
            FloatPointer innerA, FloatPointer innerB, FloatPointer z2, FloatPointer z3) {
        if (r + rIn > MAX_ROW_TRANSFORM_FLOATS) {  // beyond the kernel's shared memory: two GEMMs
            gemm(false, true, rows, rIn, r, 1f, z1, innerA, 0f, z2);
            gemm(false, true, rows, r, rIn, s, z2, innerB, 0f, z3);
            return;
        }
        NativeLibrary.check(JnoraNative.jnora_inner_forward(kernels, rows, r, rIn, s, z1, r, innerA, innerB,
                z2, rIn, z3, r), "jnora_inner_forward");
    }

    @Override
    public void innerBackward(int rows, int r, int rIn, FloatPointer dz3, FloatPointer innerA,
            FloatPointer innerB, FloatPointer dz2, FloatPointer dz1) {
        if (r + rIn > MAX_ROW_TRANSFORM_FLOATS) {
            gemm(false, false, rows, rIn, r, 1f, dz3, innerB, 0f, dz2);
            gemm(false, false, rows, r, rIn, 1f, dz2, innerA, 0f, dz1);
            return;
        }
        NativeLibrary.check(JnoraNative.jnora_inner_backward(kernels, rows, r, rIn, dz3, r, innerA, innerB,
                dz2, rIn, dz1, r), "jnora_inner_backward");
    }

    /**
     * One pass of {@code jnora_activation_stats} over the batch on the device, then 3·cols values
     * come back; with {@code gram}, XᵀX in float64: X widened to double in blocks of ≤ 64 MiB, then
     * cuBLAS Dsyrk (one triangle; beta = 0 on the first block) into a device scratch, and cols² doubles
     * come back. Everything is checked before anything is added: a non-finite element
     * shows as a non-finite column sum (the device cannot say which row).
     */
    @Override
    public void columnStatistics(int rows, int cols, FloatPointer x, double[] sumAbs, double[] sumSq,
            double[] maxAbs, double[] gram) {
        if (rows == 0 || cols == 0) {
            return;
        }
        long workspaceBytes;
        try (SizeTPointer bytes = new SizeTPointer(1)) {
            NativeLibrary.check(JnoraNative.jnora_activation_stats_workspace_size(rows, cols, bytes),
                    "jnora_activation_stats_workspace_size");
            workspaceBytes = bytes.get();
        }
        ensureStatsBuffers(cols, workspaceBytes);
        NativeLibrary.check(JnoraNative.jnora_activation_stats(kernels, rows, cols, x.position(0), cols,
                statsSumAbs, statsSumSq, statsMaxAbs, statsWorkspace, statsWorkspaceBytes), "jnora_activation_stats");
        long gramElements = (long) cols * cols;
        if (gram != null) {
            accumulateGramOnDevice(rows, cols, x);
        }
        try (DoublePointer hostAbs = new DoublePointer(cols); DoublePointer hostSq = new DoublePointer(cols);
                FloatPointer hostMax = new FloatPointer(cols);
                DoublePointer hostGram = gram == null ? null : new DoublePointer(gramElements)) {
            toHost(hostAbs, statsSumAbs, (long) cols * Double.BYTES);
            toHost(hostSq, statsSumSq, (long) cols * Double.BYTES);
            toHost(hostMax, statsMaxAbs, (long) cols * Float.BYTES);
            if (hostGram != null) {
                toHost(hostGram, gramScratch.pointer(), gramElements * Double.BYTES);
            }
            synchronize();
            double[] batchAbs = new double[cols];
            double[] batchSq = new double[cols];
            float[] batchMax = new float[cols];
            hostAbs.get(batchAbs);
            hostSq.get(batchSq);
            hostMax.get(batchMax);
            for (int j = 0; j < cols; j++) {
                if (!Double.isFinite(batchAbs[j]) || !Double.isFinite(batchSq[j])) {
                    throw new NonFiniteInputException("columnStatistics: column " + j + " of the " + rows + "×"
                            + cols + " batch holds a non-finite value (its sum of |x| is " + batchAbs[j]
                            + "; inputs must be finite)");
                }
            }
            double[] batchGram = null;
            if (hostGram != null) {
                batchGram = new double[Math.toIntExact(gramElements)];
                hostGram.get(batchGram);
            }
            for (int j = 0; j < cols; j++) {
                sumAbs[j] += batchAbs[j];
                sumSq[j] += batchSq[j];
                maxAbs[j] = Math.max(maxAbs[j], batchMax[j]);
            }
            if (batchGram != null) {
                for (int i = 0; i < cols; i++) {
                    for (int j = i; j < cols; j++) {
                        gram[i * cols + j] += batchGram[i * cols + j];
                    }
                }
            }
        }
    }

    /** One launch of {@code jnora_adamw_step} for the whole list; the host arrays of device pointers are copied by it. */
    @Override
    public void adamwStep(FloatPointer[] params, FloatPointer[] grads, FloatPointer[] expAvg, FloatPointer[] expAvgSq,
            long[] sizes, float lr, float beta1, float beta2, float eps, float weightDecay, float gradScale, int step) {
        int count = params.length;
        ensureMultiTensorWorkspace(count);
        try (PointerPointer<FloatPointer> p = table(params); PointerPointer<FloatPointer> g = table(grads);
                PointerPointer<FloatPointer> m = table(expAvg); PointerPointer<FloatPointer> v = table(expAvgSq);
                LongPointer n = new LongPointer(sizes)) {
            NativeLibrary.check(JnoraNative.jnora_adamw_step(kernels, count, p, g, m, v, n, lr, beta1, beta2, eps,
                    weightDecay, gradScale, step, multiTensorWorkspace, multiTensorWorkspaceBytes), "jnora_adamw_step");
        }
    }

    /** The deterministic two-stage reduction of {@code jnora_sum_of_squares}; one double comes back. */
    @Override
    public double sumOfSquares(FloatPointer[] tensors, long[] sizes) {
        int count = tensors.length;
        ensureMultiTensorWorkspace(count);
        if (sumResult == null) {
            sumResult = new DoublePointer(deviceBytes(Double.BYTES, "the sum of squares"));
        }
        try (PointerPointer<FloatPointer> x = table(tensors); LongPointer n = new LongPointer(sizes);
                DoublePointer host = new DoublePointer(1)) {
            NativeLibrary.check(JnoraNative.jnora_sum_of_squares(kernels, count, x, n, sumResult, multiTensorWorkspace,
                    multiTensorWorkspaceBytes), "jnora_sum_of_squares");
            copyToHost(sumResult, host, Double.BYTES);
            return host.get(0);
        }
    }

    @Override
    public void multiplyAdd(long elements, float alpha, FloatPointer a, FloatPointer b, float beta, FloatPointer out) {
        NativeLibrary.check(JnoraNative.jnora_multiply_add(kernels, elements, alpha, a.position(0),
                b == null ? null : b.position(0), beta, out.position(0)), "jnora_multiply_add");
    }

    /** A host array of the device addresses (each pointer at position 0), as the C API takes a tensor list. */
    private static PointerPointer<FloatPointer> table(FloatPointer[] tensors) {
        for (FloatPointer t : tensors) {
            t.position(0);
        }
        return new PointerPointer<>(tensors);
    }

    private void ensureMultiTensorWorkspace(int count) {
        long bytes;
        try (SizeTPointer size = new SizeTPointer(1)) {
            NativeLibrary.check(JnoraNative.jnora_multi_tensor_workspace_size(count, size),
                    "jnora_multi_tensor_workspace_size");
            bytes = size.get();
        }
        if (multiTensorWorkspace == null || bytes > multiTensorWorkspaceBytes) {
            if (multiTensorWorkspace != null) {
                freeOutgrown(multiTensorWorkspace);
                multiTensorWorkspace = null;
            }
            multiTensorWorkspace = deviceBytes(bytes, "the multi-tensor workspace");
            multiTensorWorkspaceBytes = bytes;
        }
    }

    @Override
    public SvdFactors truncatedSvdOfScaled(float[] w, int m, int n, float[] scaleDiagonal, float[] scaleLower, int rank,
            SvdPlan plan) {
        if (plan.float64()) {
            // A float64 SVD is asked for accuracy, not speed; the host's dgesdd gives it.
            return HostSvd.ofScaled(w, m, n, scaleDiagonal, scaleLower, rank, plan);
        }
        if (svd == null) {
            svd = new CudaSvd(this, cublas, stream);
        }
        return svd.scaledTruncatedSvd(w, m, n, scaleDiagonal, scaleLower, rank, plan);
    }

    @Override
    public AdapterTable createAdapterTable(int capacity) {
        return new CudaAdapterTable(this, capacity);
    }

    /** jnora_decode_forward(_half): two launches for T ≤ 16, no pass over Y besides its write. */
    @Override
    public boolean fusedDecodeForward(Precision precision, int rows, int m, int n, FloatPointer x, FloatPointer w, int k,
            float scale, FloatPointer a, FloatPointer b, FloatPointer y) {
        if (!fusedDecode || rows < 1 || rows > JnoraNative.JNORA_DECODE_MAX_ROWS || k > JnoraNative.JNORA_DECODE_MAX_RANK) {
            return false;
        }
        int splits = JnoraNative.jnora_decode_splits(rows, n, k);
        FloatPointer z = new FloatPointer(decodeScratch.ensure((long) splits * rows * Math.max(k, 1) * Float.BYTES));
        if (precision == Precision.FLOAT32) {
            NativeLibrary.check(JnoraNative.jnora_decode_forward(kernels, rows, m, n, x.position(0), n, w.position(0), n,
                    k, scale, a.position(0), n, b.position(0), k, splits, z, y.position(0), m), "jnora_decode_forward");
        } else {
            NativeLibrary.check(JnoraNative.jnora_decode_forward_half(kernels, jnoraPrecision(precision), rows, m, n,
                    x.position(0), n, w.position(0), n, k, scale, a.position(0), n, b.position(0), k, splits, z,
                    y.position(0), m), "jnora_decode_forward_half");
        }
        return true;
    }

    @Override
    public void useFusedDecode(boolean enabled) {
        fusedDecode = enabled;
    }

    @Override
    public CapturedWork capture(Runnable work) {
        return new CudaGraphCapture(this, work);
    }

    @Override
    public RowIndex createRowIndex(int capacity, AdapterTable table) {
        return new CudaRowIndex(this, capacity, table.capacity());
    }

    /**
     * Whether a batch of this many rows goes to the segment-grouped (SGMV) kernels rather than the
     * row-at-a-time (BGMV) ones: past decode sizes, where rows share adapters and reading an adapter's
     * factors once per tile of rows instead of once per row is what keeps the adapter term near one
     * pass over X and Y. A function of the row count only, so a shape always runs the same kernels.
     */
    static boolean segmented(int rows) {
        return rows > JnoraNative.JNORA_DECODE_MAX_ROWS;
    }

    /** grouped_expand stages a row of z (maxRank floats) in the 48 KiB of shared memory a launch gets by default. */
    @Override
    public int maxGroupedRank() {
        return 48 * 1024 / Float.BYTES;
    }

    private static int groupedSplits(int rows, int n, int maxRank) {
        return segmented(rows) ? JnoraNative.jnora_segmented_splits(rows, n, maxRank)
                : JnoraNative.jnora_grouped_splits(rows, n, maxRank);
    }

    /** Split-K planes (jnora_grouped_splits / jnora_segmented_splits): splits × rows × maxRank. */
    @Override
    public long groupedScratchElements(int rows, int n, int maxRank) {
        return (long) groupedSplits(rows, n, maxRank) * rows * maxRank;
    }

    /**
     * Two launches for the whole batch, reading the row index and the tables on the device: no upload,
     * no synchronisation, so the call can be captured in a CUDA graph (at a fixed batch size and
     * largest rank: those set the grid). Decode-sized batches run row at a time with split-K
     * (jnora_grouped_*); larger ones on the row index's segment layout (jnora_segmented_*).
     */
    @Override
    public void groupedLowRank(Precision precision, int rows, int n, int m, FloatPointer x, RowIndex rowAdapter,
            AdapterTable table, FloatPointer z, FloatPointer y) {
        CudaAdapterTable t = (CudaAdapterTable) table;
        CudaRowIndex index = (CudaRowIndex) rowAdapter;
        int maxRank = t.maxRank();
        if (rows == 0 || maxRank == 0) {
            return;
        }
        if (index.rows() != rows) {
            throw new IllegalArgumentException("groupedLowRank: " + rows + " rows but the row index holds " + index.rows());
        }
        if (index.adapters() != t.capacity()) {
            throw new IllegalArgumentException("groupedLowRank: the row index was made for a table of "
                    + index.adapters() + " slots, this table has " + t.capacity());
        }
        int splits = groupedSplits(rows, n, maxRank);
        if (z.capacity() < (long) splits * rows * maxRank) {
            throw new IllegalArgumentException("groupedLowRank: scratch of " + z.capacity() + " floats, "
                    + splits + "×" + rows + "×" + maxRank + " needed (groupedScratchElements)");
        }
        PointerPointer<?> aPtrs = new PointerPointer<>(t.deviceA);
        PointerPointer<?> bPtrs = new PointerPointer<>(t.deviceB);
        // JavaCPP adds a pointer's position to its address, in bytes where the parameter is void*
        // (the half entry points): every position must be 0 here.
        x.position(0);
        y.position(0);
        z.position(0);
        if (segmented(rows)) {
            int maxTiles = JnoraNative.jnora_segment_tiles_capacity(rows, t.capacity());
            // The rows gathered by adapter, on the device from the uploaded slots: one small launch
            // before the shrink, recorded with it in a captured step.
            NativeLibrary.check(JnoraNative.jnora_segment_layout_device(kernels, rows, index.device, t.capacity(),
                    index.deviceOrder, index.deviceTiles, maxTiles, index.deviceWorkspace), "jnora_segment_layout_device");
            if (precision.isHalf()) {
                int p = jnoraPrecision(precision);
                NativeLibrary.check(JnoraNative.jnora_segmented_shrink_half(kernels, p, rows, n, x, n, index.deviceOrder,
                        index.deviceTiles, maxTiles, t.capacity(), aPtrs, t.deviceRanks, maxRank, splits, z, maxRank),
                        "jnora_segmented_shrink_half");
                NativeLibrary.check(JnoraNative.jnora_segmented_expand_half(kernels, p, rows, m, z, maxRank, splits,
                        index.deviceOrder, index.deviceTiles, maxTiles, t.capacity(), bPtrs, t.deviceRanks,
                        t.deviceScales, y, m), "jnora_segmented_expand_half");
                return;
            }
            NativeLibrary.check(JnoraNative.jnora_segmented_shrink(kernels, rows, n, x, n, index.deviceOrder,
                    index.deviceTiles, maxTiles, t.capacity(), aPtrs, t.deviceRanks, maxRank, splits, z, maxRank),
                    "jnora_segmented_shrink");
            NativeLibrary.check(JnoraNative.jnora_segmented_expand(kernels, rows, m, z, maxRank, splits,
                    index.deviceOrder, index.deviceTiles, maxTiles, t.capacity(), bPtrs, t.deviceRanks,
                    t.deviceScales, y, m), "jnora_segmented_expand");
            return;
        }
        if (precision.isHalf()) {
            int p = jnoraPrecision(precision);
            NativeLibrary.check(JnoraNative.jnora_grouped_shrink_half(kernels, p, rows, n, x, n, index.device,
                    t.capacity(), aPtrs, t.deviceRanks, maxRank, splits, z, maxRank), "jnora_grouped_shrink_half");
            NativeLibrary.check(JnoraNative.jnora_grouped_expand_half(kernels, p, rows, m, z, maxRank, splits,
                    index.device, t.capacity(), bPtrs, t.deviceRanks, t.deviceScales, y, m),
                    "jnora_grouped_expand_half");
            return;
        }
        NativeLibrary.check(JnoraNative.jnora_grouped_shrink(kernels, rows, n, x, n, index.device, t.capacity(), aPtrs,
                t.deviceRanks, maxRank, splits, z, maxRank), "jnora_grouped_shrink");
        NativeLibrary.check(JnoraNative.jnora_grouped_expand(kernels, rows, m, z, maxRank, splits, index.device,
                t.capacity(), bPtrs, t.deviceRanks, t.deviceScales, y, m), "jnora_grouped_expand");
    }

    CUstream_st stream() {
        return stream;
    }

    /** Host to device, asynchronous on the stream (the caller keeps the host memory alive until a sync). */
    void copyToDevice(Pointer host, Pointer device, long bytes) {
        cuda(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync(host to device)");
    }

    Pointer deviceBytesForTable(long bytes, String what) {
        return deviceBytes(bytes, what);
    }

    void freeDeviceBytes(Pointer p) {
        cuda(deviceFree(p), "cudaFree");
    }

    /** Backend scratch replaced by a larger one: freed now, or after the last open graph (see openGraphs). */
    private void freeOutgrown(Pointer p) {
        if (openGraphs > 0) {
            freedAfterGraphs.add(p);
        } else {
            cuda(deviceFree(p), "cudaFree");
        }
    }

    /** A CUDA graph was instantiated ({@link CudaGraphCapture}). */
    void graphOpened() {
        openGraphs++;
    }

    /** A CUDA graph was destroyed (after its replays finished): the scratch it could read may go. */
    void graphClosed() {
        if (--openGraphs == 0) {
            for (Pointer p : freedAfterGraphs) {
                deviceFree(p);
            }
            freedAfterGraphs.clear();
        }
    }

    /** Copies device bytes to host memory and waits for them. */
    void copyToHost(Pointer device, Pointer host, long bytes) {
        toHost(host, device, bytes);
        synchronize();
    }

    private void toHost(Pointer host, Pointer device, long bytes) {
        cuda(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync(device to host)");
    }

    private Pointer deviceBytes(long bytes, String what) {
        Pointer raw = new Pointer();
        cuda(cudaMalloc(raw, Math.max(1, bytes)), "cudaMalloc(" + bytes + " bytes for " + what + ")");
        liveAllocations.incrementAndGet();
        return raw;
    }

    /** cudaFree, counted: every device allocation of the backend goes through deviceBytes/allocate and here. */
    private int deviceFree(Pointer p) {
        int status = cudaFree(p);
        if (status == 0 && p != null && !p.isNull()) {
            liveAllocations.decrementAndGet();
        }
        return status;
    }

    /** Pinned host memory (cudaMallocHost), counted with the device allocations. */
    Pointer pinnedHost(long bytes, String what) {
        Pointer host = new Pointer();
        cuda(cudaMallocHost(host, Math.max(1, bytes)), "cudaMallocHost(" + bytes + " bytes for " + what + ")");
        liveAllocations.incrementAndGet();
        return host;
    }

    void freePinnedHost(Pointer host) {
        if (host != null && !host.isNull() && cudaFreeHost(host) == 0) {
            liveAllocations.decrementAndGet();
        }
    }

    @Override
    public long liveAllocations() {
        return liveAllocations.get();
    }

    private void ensureStatsBuffers(int cols, long workspaceBytes) {
        if (cols > statsColumns) {
            freeStatsColumns();
            statsSumAbs = new DoublePointer(deviceBytes((long) cols * Double.BYTES, "sum |x|"));
            statsSumSq = new DoublePointer(deviceBytes((long) cols * Double.BYTES, "sum x²"));
            statsMaxAbs = new FloatPointer(deviceBytes((long) cols * Float.BYTES, "max |x|"));
            statsColumns = cols;
        }
        if (workspaceBytes > statsWorkspaceBytes || statsWorkspace == null) {
            if (statsWorkspace != null) {
                cuda(deviceFree(statsWorkspace), "cudaFree");
                statsWorkspace = null;
            }
            statsWorkspace = deviceBytes(workspaceBytes, "the activation-statistics workspace");
            statsWorkspaceBytes = workspaceBytes;
        }
    }

    /**
     * XᵀX of the batch summed in float64 on the device (SPEC §2.1, as the CPU's dsyrk): row blocks
     * of X widened to double, then DSYRK accumulating into the lower triangle of the column-major
     * c×c result — which, read row-major, is the upper triangle the contract asks for.
     */
    private void accumulateGramOnDevice(int rows, int cols, FloatPointer x) {
        DoublePointer g = new DoublePointer(gramScratch.ensure((long) cols * cols * Double.BYTES));
        int blockRows = (int) Math.max(1, Math.min(rows, (8L << 20) / cols));  // ≤ 64 MiB of doubles
        DoublePointer wide = new DoublePointer(widenScratch.ensure((long) blockRows * cols * Double.BYTES));
        try (DoublePointer one = new DoublePointer(1.0); DoublePointer zero = new DoublePointer(0.0)) {
            for (int start = 0; start < rows; start += blockRows) {
                int count = Math.min(blockRows, rows - start);
                FloatPointer block = x.position(0).getPointer((long) start * cols);  // rows start.. of X
                NativeLibrary.check(JnoraNative.jnora_widen_to_double(kernels, count, cols, block, cols, wide),
                        "jnora_widen_to_double");
                // Column-major Xᵀ (c × count, ld c) times its transpose is XᵀX.
                cublasCheck(cublasDsyrk_v2(cublas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, cols, count, one, wide, cols,
                        start == 0 ? zero : one, g, cols), "cublasDsyrk");
            }
        }
    }

    /** Grow-only device scratch owned by the backend. */
    private final class DeviceScratch {
        private final String what;
        private Pointer memory;
        private long bytes;

        DeviceScratch(String what) {
            this.what = what;
        }

        Pointer ensure(long needed) {
            if (needed > bytes) {
                if (memory != null) {
                    freeOutgrown(memory);
                    memory = null;
                    bytes = 0;
                }
                memory = deviceBytes(needed, what);
                bytes = needed;
            }
            return memory;
        }

        Pointer pointer() {
            return memory;
        }

        void free() {
            if (memory != null) {
                deviceFree(memory);
                memory = null;
                bytes = 0;
            }
        }
    }

    private void freeStatsColumns() {
        for (Pointer p : new Pointer[] {statsSumAbs, statsSumSq, statsMaxAbs}) {
            if (p != null) {
                deviceFree(p);
            }
        }
        statsSumAbs = null;
        statsSumSq = null;
        statsMaxAbs = null;
        statsColumns = 0;
    }

    @Override
    public void synchronize() {
        cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (svd != null) {
            svd.close();
        }
        freeStatsColumns();
        if (statsWorkspace != null) {
            deviceFree(statsWorkspace);
        }
        gramScratch.free();
        widenScratch.free();
        decodeScratch.free();
        for (Pointer p : freedAfterGraphs) {
            deviceFree(p);
        }
        freedAfterGraphs.clear();
        if (multiTensorWorkspace != null) {
            deviceFree(multiTensorWorkspace);
        }
        if (sumResult != null) {
            deviceFree(sumResult);
        }
        JnoraNative.jnora_destroy(kernels);
        cublasDestroy_v2(cublas);
        deviceFree(cublasWorkspace);  // after the handle that used it
        if (ownsStream) {
            cudaStreamDestroy(stream);
        }
        alphaHost.close();
        betaHost.close();
    }
}
