package io.jnora.backend;

import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.CblasUpper;
import static org.bytedeco.openblas.global.openblas.cblas_dsyrk;
import static org.bytedeco.openblas.global.openblas.cblas_sgemm;

import io.jnora.Backend;
import io.jnora.NonFiniteInputException;
import io.jnora.Precision;
import io.jnora.io.BFloat16;
import io.jnora.io.Float16;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.ShortPointer;
import org.bytedeco.openblas.global.openblas;

/**
 * The CPU backend: every primitive is one OpenBLAS {@code sgemm} on off-heap memory (no copies
 * across JNI). Matrices live in native memory so that BLAS reads them in place.
 *
 * <p>Thread safety: it holds no state of its own (each call works on the buffers it is given), but it is used
 * through its context, which one thread at a time uses; separate contexts may run on separate threads.
 */
public final class CpuBackend implements ComputeBackend {
    private static final OnceLoader OPENBLAS = new OnceLoader("CPU backend: OpenBLAS", openblas.class);
    /** Values converted to float64 per {@code dsyrk} call (8 MiB), so that XᵀX of a large batch needs bounded memory. */
    private static final int GRAM_BLOCK_DOUBLES = 1 << 20;

    public CpuBackend() {
        ensureOpenBlas();
    }

    /** Loads OpenBLAS (once) or throws BackendUnavailableException; for host linear algebra too. */
    public static void ensureOpenBlas() {
        OPENBLAS.ensureLoaded();
    }

    @Override
    public Backend kind() {
        return Backend.CPU;
    }

    @Override
    public String device() {
        return openblas.OPENBLAS_VERSION.trim() + ", " + Runtime.getRuntime().availableProcessors() + " cores";
    }

    @Override
    public FloatPointer allocate(long elements) {
        return new FloatPointer(Math.max(1, elements));
    }

    @Override
    public void free(FloatPointer memory) {
        memory.close();
    }

    @Override
    public void upload(float[] source, int offset, FloatPointer destination, long elements) {
        destination.position(0).put(source, offset, Math.toIntExact(elements));
    }

    @Override
    public void upload(FloatBuffer source, FloatPointer destination, long elements) {
        FloatBuffer view = destination.position(0).limit(elements).asBuffer();
        view.put(source.duplicate().limit(source.position() + Math.toIntExact(elements)));
        destination.limit(destination.capacity());
    }

    @Override
    public void download(FloatPointer source, long elements, float[] destination, int offset) {
        source.position(0).get(destination, offset, Math.toIntExact(elements));
    }

    @Override
    public void fill(FloatPointer destination, long elements, float value) {
        FloatBuffer view = destination.position(0).limit(elements).asBuffer();
        for (int i = 0; i < elements; i++) {
            view.put(i, value);
        }
        destination.limit(destination.capacity());
    }

    @Override
    public void copy(FloatPointer source, FloatPointer destination, long elements) {
        FloatPointer.memcpy(destination.position(0), source.position(0), elements * Float.BYTES);
    }

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
            FloatPointer a, FloatPointer b, float beta, FloatPointer c) {
        if (m == 0 || n == 0) {
            return;
        }
        int lda = transA ? m : k;
        int ldb = transB ? k : n;
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a, Math.max(1, lda), b, Math.max(1, ldb), beta, c, Math.max(1, n));
    }

    @Override
    public void uploadHalf(short[] source, FloatPointer destination, long elements) {
        new ShortPointer(destination).put(source, 0, Math.toIntExact(elements));
    }

    @Override
    public void downloadHalf(FloatPointer source, long elements, short[] destination) {
        new ShortPointer(source).get(destination, 0, Math.toIntExact(elements));
    }

    /** Half operands widened to float32, one sgemm, the result rounded once: what cuBLAS's 32F compute does. */
    @Override
    public void gemmMixed(boolean transA, boolean transB, int m, int n, int k, float alpha, FloatPointer a,
            FloatPointer b, Precision ab, float beta, FloatPointer c, Precision cp) {
        if (ab == Precision.FLOAT32 && cp == Precision.FLOAT32) {
            gemm(transA, transB, m, n, k, alpha, a, b, beta, c);
            return;
        }
        long sizeA = (long) m * k;
        long sizeB = (long) k * n;
        long sizeC = (long) m * n;
        try (FloatPointer wa = widened(a, ab, sizeA); FloatPointer wb = widened(b, ab, sizeB);
                FloatPointer wc = cp == Precision.FLOAT32 ? null : widened(c, cp, sizeC)) {
            gemm(transA, transB, m, n, k, alpha, wa == null ? a : wa, wb == null ? b : wb, beta, wc == null ? c : wc);
            if (wc != null) {
                convert(wc, Precision.FLOAT32, c, cp, sizeC);
            }
        }
    }

    /** A float32 copy of half storage, or null when it is float32 already (use it as it is). */
    private FloatPointer widened(FloatPointer source, Precision precision, long elements) {
        if (precision == Precision.FLOAT32) {
            return null;
        }
        FloatPointer out = new FloatPointer(Math.max(1, elements));
        convert(source, precision, out, Precision.FLOAT32, elements);
        return out;
    }

    @Override
    public void convert(FloatPointer source, Precision from, FloatPointer destination, Precision to, long elements) {
        int count = Math.toIntExact(elements);
        float[] values = new float[count];
        if (from == Precision.FLOAT32) {
            source.position(0).get(values, 0, count);
        } else {
            short[] bits = new short[count];
            new ShortPointer(source).get(bits, 0, count);
            for (int i = 0; i < count; i++) {
                values[i] = from == Precision.BFLOAT16 ? BFloat16.toFloat(bits[i]) : Float16.toFloat(bits[i]);
            }
        }
        if (to == Precision.FLOAT32) {
            destination.position(0).put(values, 0, count);
        } else {
            short[] bits = new short[count];
            for (int i = 0; i < count; i++) {
                bits[i] = to == Precision.BFLOAT16 ? BFloat16.fromFloat(values[i]) : Float16.fromFloat(values[i]);
            }
            new ShortPointer(destination).put(bits, 0, count);
        }
    }

    @Override
    public void shrink(int rows, int cols, int k, float alpha, FloatPointer x, FloatPointer f,
            boolean fStoredTransposed, FloatPointer z) {
        gemm(false, !fStoredTransposed, rows, cols, k, alpha, x, f, 0f, z);
    }

    @Override
    public void expand(int rows, int cols, int k, float alpha, FloatPointer z, FloatPointer g,
            boolean gStoredTransposed, float beta, FloatPointer y) {
        gemm(false, !gStoredTransposed, rows, cols, k, alpha, z, g, beta, y);
    }

    @Override
    public void weightGrad(int rows, int pCols, int qCols, FloatPointer p, FloatPointer q,
            FloatPointer g) {
        gemm(true, false, pCols, qCols, rows, 1f, p, q, 0f, g);
    }

    @Override
    public void innerForward(int rows, int r, int rIn, float s, FloatPointer z1,
            FloatPointer innerA, FloatPointer innerB, FloatPointer z2, FloatPointer z3) {
        gemm(false, true, rows, rIn, r, 1f, z1, innerA, 0f, z2);
        gemm(false, true, rows, r, rIn, s, z2, innerB, 0f, z3);
    }

    @Override
    public void innerBackward(int rows, int r, int rIn, FloatPointer dz3, FloatPointer innerA,
            FloatPointer innerB, FloatPointer dz2, FloatPointer dz1) {
        gemm(false, false, rows, rIn, r, 1f, dz3, innerB, 0f, dz2);
        gemm(false, false, rows, r, rIn, 1f, dz2, innerA, 0f, dz1);
    }

    @Override
    public void columnStatistics(int rows, int cols, FloatPointer x, double[] sumAbs, double[] sumSq,
            double[] maxAbs, double[] gram) {
        if (rows == 0 || cols == 0) {
            return;
        }
        FloatBuffer view = x.position(0).limit((long) rows * cols).asBuffer();
        x.limit(x.capacity());
        columnStatistics("columnStatistics", view, rows, cols, sumAbs, sumSq, maxAbs, gram);
    }

    /**
     * {@link #columnStatistics(int, int, FloatPointer, double[], double[], double[], double[])} on
     * host data: X (rows×cols) is {@code x}'s elements from its position on, row-major. Shared with
     * {@code ActivationStats}' host path so that host arrays and CPU matrices give the same sums. The
     * batch's sums are formed in float64 (a float squared is exact in double) and added only once every
     * element has been seen finite; a non-finite element throws {@link NonFiniteInputException} naming
     * {@code operation} and the element [row, col]. XᵀX goes through OpenBLAS {@code dsyrk} on row
     * blocks converted to float64 (at most ~8 MiB at a time), then into {@code gram}'s upper triangle.
     */
    public static void columnStatistics(String operation, FloatBuffer x, int rows, int cols,
            double[] sumAbs, double[] sumSq, double[] maxAbs, double[] gram) {
        if (rows == 0 || cols == 0) {
            return;
        }
        final int start = x.position();
        double[] batchAbs = new double[cols];
        double[] batchSq = new double[cols];
        float[] batchMax = new float[cols];
        for (int t = 0; t < rows; t++) {
            int row = start + t * cols;
            for (int j = 0; j < cols; j++) {
                float v = x.get(row + j);
                if (!Float.isFinite(v)) {
                    throw new NonFiniteInputException(operation + ": element [" + t + ", " + j + "] of the "
                            + rows + "×" + cols + " batch is " + v + " (inputs must be finite)");
                }
                double d = v;
                batchAbs[j] += Math.abs(d);
                batchSq[j] += d * d;
                batchMax[j] = Math.max(batchMax[j], Math.abs(v));
            }
        }
        for (int j = 0; j < cols; j++) {
            sumAbs[j] += batchAbs[j];
            sumSq[j] += batchSq[j];
            maxAbs[j] = Math.max(maxAbs[j], batchMax[j]);
        }
        if (gram != null) {
            addGram(x, start, rows, cols, gram);
        }
    }

    private static void addGram(FloatBuffer x, int start, int rows, int cols, double[] gram) {
        OPENBLAS.ensureLoaded();
        int block = (int) Math.min(rows, Math.max(64, GRAM_BLOCK_DOUBLES / cols));
        try (DoublePointer blockRows = new DoublePointer((long) block * cols);
                DoublePointer batchGram = new DoublePointer((long) cols * cols).zero()) {
            DoubleBuffer converted = blockRows.asBuffer();
            for (int t0 = 0; t0 < rows; t0 += block) {
                int b = Math.min(block, rows - t0);
                int from = start + t0 * cols;
                for (int i = 0; i < b * cols; i++) {
                    converted.put(i, x.get(from + i));
                }
                // Row-major, Trans: C (cols×cols, upper) += Bᵀ B for the b×cols block B.
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, cols, b, 1.0, blockRows, cols, 1.0,
                        batchGram, cols);
            }
            DoubleBuffer g = batchGram.asBuffer();
            for (int i = 0; i < cols; i++) {
                int rowStart = i * cols;
                for (int j = i; j < cols; j++) {
                    gram[rowStart + j] += g.get(rowStart + j);
                }
            }
        }
    }

    @Override
    public SvdFactors truncatedSvdOfScaled(float[] w, int m, int n, float[] scaleDiagonal, float[] scaleLower, int rank,
            SvdPlan plan) {
        return HostSvd.ofScaled(w, m, n, scaleDiagonal, scaleLower, rank, plan);
    }

    /**
     * Plain Java over the native buffers, tensor by tensor, element by element: float32 operations
     * in the order of adamw.cu's kernel (Java never fuses a multiply and an add), so the result is
     * deterministic and equal to the GPU's for equal inputs.
     */
    @Override
    public void adamwStep(FloatPointer[] params, FloatPointer[] grads, FloatPointer[] expAvg, FloatPointer[] expAvgSq,
            long[] sizes, float lr, float beta1, float beta2, float eps, float weightDecay, float gradScale, int step) {
        AdamWScalars s = AdamWScalars.of(lr, beta1, beta2, eps, weightDecay, gradScale, step);
        for (int t = 0; t < params.length; t++) {
            int n = Math.toIntExact(sizes[t]);
            if (n == 0) {
                continue;
            }
            FloatBuffer p = view(params[t], n);
            FloatBuffer g = view(grads[t], n);
            FloatBuffer m = view(expAvg[t], n);
            FloatBuffer v = view(expAvgSq[t], n);
            for (int i = 0; i < n; i++) {
                float gi = g.get(i) * s.gradScale();
                float pi = p.get(i) * s.decay();
                float mi = s.beta1() * m.get(i) + s.oneMinusBeta1() * gi;
                float vi = s.beta2() * v.get(i) + (s.oneMinusBeta2() * gi) * gi;
                // The float square root of a float, correctly rounded: as __fsqrt_rn on the GPU.
                float denom = (float) Math.sqrt(vi) / s.biasCorrection2Sqrt() + s.eps();
                p.put(i, pi - s.stepSize() * (mi / denom));
                m.put(i, mi);
                v.put(i, vi);
            }
        }
    }

    @Override
    public double sumOfSquares(FloatPointer[] tensors, long[] sizes) {
        double total = 0;
        for (int t = 0; t < tensors.length; t++) {
            int n = Math.toIntExact(sizes[t]);
            if (n == 0) {
                continue;
            }
            FloatBuffer x = view(tensors[t], n);
            for (int i = 0; i < n; i++) {
                double v = x.get(i);
                total += v * v;
            }
        }
        return total;
    }

    @Override
    public void multiplyAdd(long elements, float alpha, FloatPointer a, FloatPointer b, float beta, FloatPointer out) {
        int n = Math.toIntExact(elements);
        if (n == 0) {
            return;
        }
        FloatBuffer av = view(a, n);
        FloatBuffer bv = b == null ? null : view(b, n);
        FloatBuffer ov = view(out, n);
        for (int i = 0; i < n; i++) {
            float t = alpha * av.get(i);
            if (bv != null) {
                t = t * bv.get(i);
            }
            if (beta != 0f) {
                t = t + beta * ov.get(i);
            }
            ov.put(i, t);
        }
    }

    /** The first {@code n} floats of native memory as a buffer (the pointer's limit is restored). */
    private static FloatBuffer view(FloatPointer memory, int n) {
        FloatBuffer view = memory.position(0).limit(n).asBuffer();
        memory.limit(memory.capacity());
        return view;
    }

    @Override
    public AdapterTable createAdapterTable(int capacity) {
        return new CpuAdapterTable(capacity);
    }

    /** The CPU has no graphs: a replay runs the work again, the same calls in the same order. */
    @Override
    public CapturedWork capture(Runnable work) {
        return new CapturedWork() {
            private boolean closed;

            @Override
            public void replay() {
                if (closed) {
                    throw new IllegalStateException("CapturedWork is closed");
                }
                work.run();
            }

            @Override
            public void close() {
                closed = true;
            }
        };
    }

    @Override
    public RowIndex createRowIndex(int capacity, AdapterTable table) {
        return new CpuRowIndex(capacity, table.capacity());
    }

    /**
     * The reference: rows gathered per slot, one shrink and one expand GEMM per slot, added back. Half
     * storage is widened first (X, Y, each slot's factors) and Y rounded once at the end, where the
     * CUDA kernels round it.
     */
    @Override
    public void groupedLowRank(Precision precision, int rows, int n, int m, FloatPointer x, RowIndex rowAdapter,
            AdapterTable table, FloatPointer z, FloatPointer y) {
        CpuAdapterTable t = (CpuAdapterTable) table;
        CpuRowIndex index = (CpuRowIndex) rowAdapter;
        if (index.rows() != rows) {
            throw new IllegalArgumentException("groupedLowRank: " + rows + " rows but the row index holds " + index.rows());
        }
        if (!precision.isHalf()) {
            groupedLowRankFloat(Precision.FLOAT32, rows, n, m, x, index, t, y);
            return;
        }
        try (FloatPointer xw = widened(x, precision, (long) rows * n);
                FloatPointer yw = widened(y, precision, (long) rows * m)) {
            groupedLowRankFloat(precision, rows, n, m, xw, index, t, yw);
            convert(yw, Precision.FLOAT32, y, precision, (long) rows * m);
        }
    }

    /**
     * X and Y float32; the table's factors in {@code factors}. Per slot with rows: its rows gathered
     * into one block, one shrink and one expand GEMM, the result added back to the rows. The blocks
     * are kept between calls (this backend is used by one thread at a time), so a call allocates only
     * when the batch outgrows them.
     */
    private void groupedLowRankFloat(Precision factors, int rows, int n, int m, FloatPointer x, CpuRowIndex index,
            CpuAdapterTable t, FloatPointer y) {
        java.nio.FloatBuffer xs = x.position(0).limit((long) rows * n).asBuffer();
        java.nio.FloatBuffer ys = y.position(0).limit((long) rows * m).asBuffer();
        float[] row = new float[Math.max(n, m)];
        for (int slot = 0; slot < t.capacity(); slot++) {
            int r = t.ranks[slot];
            int count = index.countOf(slot);
            if (r == 0 || count == 0) {
                continue;
            }
            FloatPointer xg = groupScratch(0, (long) count * n);
            FloatPointer zg = groupScratch(1, (long) count * r);
            FloatPointer dg = groupScratch(2, (long) count * m);
            java.nio.FloatBuffer xgb = xg.position(0).limit((long) count * n).asBuffer();
            for (int i = 0; i < count; i++) {
                xs.get(index.rowOf(slot, i) * n, row, 0, n);
                xgb.put(i * n, row, 0, n);
            }
            try (FloatPointer aw = widened(t.a[slot], factors, (long) r * n);
                    FloatPointer bw = widened(t.b[slot], factors, (long) m * r)) {
                gemm(false, true, count, r, n, 1f, xg, aw == null ? t.a[slot] : aw, 0f, zg);
                gemm(false, true, count, m, r, t.scales[slot], zg, bw == null ? t.b[slot] : bw, 0f, dg);
            }
            java.nio.FloatBuffer dgb = dg.position(0).limit((long) count * m).asBuffer();
            for (int i = 0; i < count; i++) {
                int base = index.rowOf(slot, i) * m;
                dgb.get(i * m, row, 0, m);
                for (int j = 0; j < m; j++) {
                    ys.put(base + j, ys.get(base + j) + row[j]);
                }
            }
        }
        x.limit(x.capacity());
        y.limit(y.capacity());
    }

    private final FloatPointer[] groupScratch = new FloatPointer[3];

    /** Scratch block {@code which} of at least {@code elements} floats, kept for the next calls. */
    private FloatPointer groupScratch(int which, long elements) {
        FloatPointer p = groupScratch[which];
        if (p == null || p.capacity() < elements) {
            if (p != null) {
                p.close();
            }
            p = new FloatPointer(Math.max(1, elements));
            groupScratch[which] = p;
        }
        return p.position(0).limit(p.capacity());
    }

    @Override
    public void synchronize() {
        // OpenBLAS calls return when done.
    }

    @Override
    public void close() {
        // Beyond the matrices, which their owner frees, only the grouped call's scratch blocks.
        for (int i = 0; i < groupScratch.length; i++) {
            if (groupScratch[i] != null) {
                groupScratch[i].close();
                groupScratch[i] = null;
            }
        }
    }
}
