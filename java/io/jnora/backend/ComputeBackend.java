package io.jnora.backend;

import io.jnora.Backend;
import java.nio.FloatBuffer;
import org.bytedeco.javacpp.FloatPointer;

/**
 * The primitives a nested layer is built from, implemented once per backend. Internal: the API in
 * {@code io.jnora} validates every shape before calling here, so implementations trust their
 * arguments. All matrices are dense and row-major (leading dimension = columns); pointers are host
 * memory on the CPU backend and device memory on the CUDA backend. Calls are ordered; results are
 * visible to the host after {@link #synchronize()} (downloads synchronise themselves).
 *
 * <p>Thread safety: implementations are not thread-safe: one backend, one stream, used by one thread at a time
 * (its context's).
 */
public interface ComputeBackend extends AutoCloseable {
    Backend kind();

    /** The device or library doing the arithmetic, for {@code jnora info}. */
    String device();

    /**
     * Lets float32 GEMMs use TF32 tensor cores (10-bit mantissa products, float32 accumulation;
     * SPEC §4 allows 3e-4 against the reference instead of 1e-4). Returns whether the backend has
     * such a mode: the CPU does not, and computes in float32 whatever is asked.
     */
    default boolean allowTf32(boolean allowed) {
        return false;
    }

    FloatPointer allocate(long elements);

    /** Copies 16-bit elements (a half precision's bit patterns) into 2-byte storage. */
    void uploadHalf(short[] source, FloatPointer destination, long elements);

    /** Copies 16-bit elements out of 2-byte storage. */
    void downloadHalf(FloatPointer source, long elements, short[] destination);

    /**
     * C = α·op(A)·op(B) + β·C as {@link #gemm}, with A and B of precision {@code ab} and C of {@code
     * c}, accumulated in float32 (half results rounded to nearest once). Half storage holds 2-byte
     * elements.
     */
    void gemmMixed(boolean transA, boolean transB, int m, int n, int k, float alpha, FloatPointer a, FloatPointer b,
            io.jnora.Precision ab, float beta, FloatPointer c, io.jnora.Precision cp);

    /** Converts {@code elements} values between precisions (rounding to nearest, ties to even). */
    void convert(FloatPointer source, io.jnora.Precision from, FloatPointer destination, io.jnora.Precision to,
            long elements);

    void free(FloatPointer memory);

    void upload(float[] source, int offset, FloatPointer destination, long elements);

    void upload(FloatBuffer source, FloatPointer destination, long elements);

    void download(FloatPointer source, long elements, float[] destination, int offset);

    /** Sets every element to {@code value}. */
    void fill(FloatPointer destination, long elements, float value);

    /** Device-to-device (or host-to-host) copy of {@code elements} floats. */
    void copy(FloatPointer source, FloatPointer destination, long elements);

    /** C (m×n) = alpha·op(A)·op(B) + beta·C, op = transpose when the flag is set. */
    void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, FloatPointer a,
            FloatPointer b, float beta, FloatPointer c);

    /**
     * Shrink: Z (rows×cols) = alpha·X (rows×k)·Fᵀ, where F is stored (cols×k), or, with
     * {@code fStoredTransposed}, F's transpose is stored (k×cols).
     */
    void shrink(int rows, int cols, int k, float alpha, FloatPointer x, FloatPointer f,
            boolean fStoredTransposed, FloatPointer z);

    /**
     * Expand: Y (rows×cols) = beta·Y + alpha·Z (rows×k)·Gᵀ, where G is stored (cols×k), or,
     * with {@code gStoredTransposed}, G's transpose is stored (k×cols). beta = 0 never reads Y.
     */
    void expand(int rows, int cols, int k, float alpha, FloatPointer z, FloatPointer g,
            boolean gStoredTransposed, float beta, FloatPointer y);

    /** G (pCols×qCols) = Pᵀ·Q, P (rows×pCols), Q (rows×qCols): a weight gradient. */
    void weightGrad(int rows, int pCols, int qCols, FloatPointer p, FloatPointer q, FloatPointer g);

    /** Z2 = Z1·A'ᵀ (rows×rIn), Z3 = s·Z2·B'ᵀ (rows×r); A' is rIn×r, B' is r×rIn. */
    void innerForward(int rows, int r, int rIn, float s, FloatPointer z1, FloatPointer innerA,
            FloatPointer innerB, FloatPointer z2, FloatPointer z3);

    /** dZ2 = dZ3·B' (rows×rIn), dZ1 = dZ2·A' (rows×r). */
    void innerBackward(int rows, int r, int rIn, FloatPointer dz3, FloatPointer innerA,
            FloatPointer innerB, FloatPointer dz2, FloatPointer dz1);

    /**
     * Activation statistics of one batch X (rows×cols) added into float64 totals (SPEC §2.1):
     * {@code sumAbs[j] += Σ_t |X(t, j)|}, {@code sumSq[j] += Σ_t X(t, j)²}, {@code maxAbs[j] =
     * max(maxAbs[j], max_t |X(t, j)|)} and, when {@code gram} is not null, XᵀX added into the upper
     * triangle (i ≤ j) of {@code gram} (cols×cols, row-major; the lower triangle is not touched).
     * The batch's sums are formed in float64. All or nothing: a non-finite element throws
     * {@link io.jnora.NonFiniteInputException} naming it (its column at least) and adds nothing.
     * Synchronous: the arrays are updated on return. On a device only these values come back, never X.
     */
    void columnStatistics(int rows, int cols, FloatPointer x, double[] sumAbs, double[] sumSq,
            double[] maxAbs, double[] gram);

    /**
     * The top-{@code rank} singular triplets of W·S (SPEC §2.2), for W (m×n, host, row-major) and
     * S = diag({@code scaleDiagonal}) or, when that is null, the lower-triangular {@code scaleLower}
     * (n×n): computed where this backend computes (on the CUDA backend, W·S never leaves the device);
     * the factors come back to the host.
     */
    SvdFactors truncatedSvdOfScaled(float[] w, int m, int n, float[] scaleDiagonal, float[] scaleLower, int rank,
            SvdPlan plan);

    /** A table of {@code capacity} empty adapter slots for {@link #groupedLowRank}. */
    AdapterTable createAdapterTable(int capacity);

    /**
     * Records {@code work} (calls on this backend) for {@link CapturedWork#replay()}; nothing runs
     * until a replay. On CUDA a stream capture into a CUDA graph: the work must not allocate,
     * synchronise or copy from pageable memory (run it once before capturing).
     */
    CapturedWork capture(Runnable work);

    /**
     * The decode-sized forward on effective factors in one fused pass, when this backend has one for
     * the shape: Y = X Wᵀ + s·(X Aᵀ) Bᵀ with X rows×n, W m×n, A k×n, B m×k, Y rows×m written whole.
     * Returns false (and does nothing) when it has not; the caller then runs the GEMMs. On CUDA: rows ≤
     * 16 and k ≤ 512, a split-K shrink and a GEMV with the low-rank term fused into its reduction.
     */
    default boolean fusedDecodeForward(int rows, int m, int n, FloatPointer x, FloatPointer w, int k, float scale,
            FloatPointer a, FloatPointer b, FloatPointer y) {
        return fusedDecodeForward(io.jnora.Precision.FLOAT32, rows, m, n, x, w, k, scale, a, b, y);
    }

    /** The same with X, W, A, B and Y in a precision (half storage: 2-byte elements). */
    default boolean fusedDecodeForward(io.jnora.Precision precision, int rows, int m, int n, FloatPointer x,
            FloatPointer w, int k, float scale, FloatPointer a, FloatPointer b, FloatPointer y) {
        return false;
    }

    /** Turns {@link #fusedDecodeForward} on or off (on by default where it exists), for benchmarks. */
    default void useFusedDecode(boolean enabled) {}

    /** A row index of {@code capacity} rows for {@link #groupedLowRank} with this table. */
    RowIndex createRowIndex(int capacity, AdapterTable table);

    /**
     * Device (and pinned host) allocations of this backend not yet freed, for leak checks; 0 where the
     * backend has none of its own (the CPU's memory is counted by the context's open matrices).
     */
    default long liveAllocations() {
        return 0;
    }

    /** The largest adapter rank {@link #groupedLowRank} takes (CUDA: a row of z in 48 KiB of shared memory). */
    default int maxGroupedRank() {
        return Integer.MAX_VALUE;
    }

    /** The floats of scratch {@link #groupedLowRank} needs for this shape (its {@code z}). */
    default long groupedScratchElements(int rows, int n, int maxRank) {
        return (long) rows * maxRank;
    }

    /**
     * Several adapters in one batch (SPEC §2.9): for each row t with slot a = rowAdapter[t] ≥ 0,
     * Y[t] += s_a·(X[t] A_aᵀ) B_aᵀ; rows with −1 are left as they are. X is rows×n, Y rows×m; the
     * row index holds exactly {@code rows} slots, checked by the caller; {@code z} is scratch of at
     * least {@link #groupedScratchElements} floats. On CUDA: two launches for the whole batch, no
     * host loop over adapters and no synchronisation; row at a time for decode-sized batches,
     * segment-grouped (an adapter's factors read once per tile of up to 64 of its rows) beyond.
     */
    default void groupedLowRank(int rows, int n, int m, FloatPointer x, RowIndex rowAdapter, AdapterTable table,
            FloatPointer z, FloatPointer y) {
        groupedLowRank(io.jnora.Precision.FLOAT32, rows, n, m, x, rowAdapter, table, z, y);
    }

    /**
     * The same with X, Y and the table's factors in a precision (half storage: 2-byte elements);
     * products and sums in float32, {@code z} float32, each element of Y rounded once.
     */
    void groupedLowRank(io.jnora.Precision precision, int rows, int n, int m, FloatPointer x, RowIndex rowAdapter,
            AdapterTable table, FloatPointer z, FloatPointer y);

    /**
     * AdamW (SPEC §2.10) in place over every tensor of a list, in one call (on CUDA one launch):
     * tensor i has {@code sizes[i]} floats in {@code params[i]}, its gradient {@code grads[i]} and its
     * moments {@code expAvg[i]}, {@code expAvgSq[i]}. Per element, with g = gradScale·grad:
     * p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
     * p ← p − lr/(1 − β1^step) · m / (√v / √(1 − β2^step) + ε), as torch.optim.AdamW. {@code step} ≥ 1
     * is this update's number. Deterministic; the CPU and the CUDA backends compute the same floats
     * from the same inputs (see AdamWScalars).
     */
    void adamwStep(FloatPointer[] params, FloatPointer[] grads, FloatPointer[] expAvg, FloatPointer[] expAvgSq,
            long[] sizes, float lr, float beta1, float beta2, float eps, float weightDecay, float gradScale, int step);

    /**
     * Σ over the tensors of Σ x², accumulated in float64 in a fixed order (deterministic), for the
     * global gradient norm; 0 for an empty list. Synchronous: the value is on the host on return.
     */
    double sumOfSquares(FloatPointer[] tensors, long[] sizes);

    /**
     * Elementwise out = alpha·a·b + beta·out over {@code elements} floats; {@code b} null means
     * alpha·a + beta·out; beta = 0 never reads out; out may be a or b. Dropout's X ⊙ mask and the
     * regression residual Y − target are both this.
     */
    void multiplyAdd(long elements, float alpha, FloatPointer a, FloatPointer b, float beta, FloatPointer out);

    /** Waits until every call issued so far has finished. */
    void synchronize();

    @Override
    void close();
}
