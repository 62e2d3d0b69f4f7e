package io.jnora;

import io.jnora.backend.BackendSelector;
import io.jnora.backend.CapturedWork;
import io.jnora.backend.ComputeBackend;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import org.bytedeco.javacpp.FloatPointer;

/**
 * Owns a backend (its stream and library handles) and every matrix and layer made through it;
 * closing the context frees whatever is still open. Operations run on one stream: one thread at a
 * time uses a context (an {@link io.jnora.serving.AdapterRegistry} serialises its own callers).
 *
 * <pre>{@code
 * try (NoraContext ctx = NoraContext.create(Backend.AUTO)) {
 *     System.out.println(ctx.selection());   // which backend, and why
 * }
 * }</pre>
 */
public final class NoraContext implements AutoCloseable {
    private final ComputeBackend backend;
    private final BackendSelection selection;
    // Bookkeeping is synchronized so that matrices may be made and closed from several threads;
    // the operations themselves share one stream and must not overlap (see AdapterRegistry).
    private final Set<Matrix> liveMatrices = Collections.synchronizedSet(Collections.newSetFromMap(new IdentityHashMap<>()));
    private final Set<AutoCloseable> liveResources =
            Collections.synchronizedSet(Collections.newSetFromMap(new IdentityHashMap<>()));
    private CaptureScope capture;  // non-null while capture() records a step
    private boolean closed;

    private NoraContext(BackendSelector.Started started) {
        this.backend = started.backend();
        this.selection = started.selection();
    }

    /** A context on the requested backend; {@link BackendUnavailableException} when it cannot run here. */
    public static NoraContext create(Backend requested) {
        return new NoraContext(BackendSelector.start(requested));
    }

    /**
     * A CUDA context on the caller's stream ({@code cudaStream_t} as an address, e.g. PyTorch's
     * {@code torch.cuda.current_stream().cuda_stream}; 0 is the legacy default stream): every kernel,
     * GEMM and copy is ordered with the caller's own work on that stream, and {@link #synchronize()}
     * waits for all of it. The caller keeps the stream alive until the context is closed; closing
     * does not destroy it. {@link BackendUnavailableException} where CUDA cannot run.
     */
    public static NoraContext createOnCudaStream(long stream) {
        return new NoraContext(BackendSelector.startOnCudaStream(stream));
    }

    /** A context on {@link Backend#AUTO}. */
    public static NoraContext create() {
        return create(Backend.AUTO);
    }

    public BackendSelection selection() {
        return selection;
    }

    /**
     * Lets this context's float32 GEMMs use TF32 tensor cores (CUDA; off by default). Faster by up to
     * ~8× on Hopper, within SPEC §4's 3e-4 instead of 1e-4. Returns whether the backend has the mode
     * (the CPU has not, and keeps computing in float32).
     */
    public boolean allowTf32(boolean allowed) {
        return backend().allowTf32(allowed);
    }

    /** A new matrix holding a copy of {@code data} (row-major, rows·cols finite values). */
    public Matrix matrix(int rows, int cols, float[] data) {
        Checks.requireDimensions("NoraContext.matrix", rows, cols);
        Checks.requireLength("NoraContext.matrix", "data", data.length, rows, cols);
        Checks.requireFinite("NoraContext.matrix", "data", data, cols);
        Matrix m = allocate(rows, cols);
        backend.upload(data, 0, m.pointer(), m.size());
        return m;
    }

    /** A new matrix holding a copy of the buffer's remaining values (the buffer is left unchanged). */
    public Matrix matrix(int rows, int cols, FloatBuffer data) {
        Checks.requireDimensions("NoraContext.matrix", rows, cols);
        Checks.requireLength("NoraContext.matrix", "data", data.remaining(), rows, cols);
        Checks.requireFinite("NoraContext.matrix", "data", data, cols);
        Matrix m = allocate(rows, cols);
        backend.upload(data, m.pointer(), m.size());
        return m;
    }

    /**
     * A new matrix of the given precision holding {@code data} (finite values), rounded to nearest
     * (ties to even) for the half precisions.
     */
    public Matrix matrix(int rows, int cols, float[] data, Precision precision) {
        java.util.Objects.requireNonNull(precision, "precision");
        if (precision == Precision.FLOAT32) {
            return matrix(rows, cols, data);
        }
        Checks.requireDimensions("NoraContext.matrix", rows, cols);
        Checks.requireLength("NoraContext.matrix", "data", data.length, rows, cols);
        Checks.requireFinite("NoraContext.matrix", "data", data, cols);
        Matrix m = allocate(rows, cols, precision);
        backend.uploadHalf(Matrix.narrow(data, precision), m.storage(), m.size());
        return m;
    }

    public Matrix zeros(int rows, int cols) {
        return filled(rows, cols, 0f);
    }

    public Matrix zeros(int rows, int cols, Precision precision) {
        return filled(rows, cols, 0f, precision);
    }

    /** A matrix of the given precision with every element {@code value} (NaN included, to poison). */
    public Matrix filled(int rows, int cols, float value, Precision precision) {
        java.util.Objects.requireNonNull(precision, "precision");
        if (precision == Precision.FLOAT32) {
            return filled(rows, cols, value);
        }
        Checks.requireDimensions("NoraContext.filled", rows, cols);
        Matrix m = allocate(rows, cols, precision);
        short[] bits = new short[Math.toIntExact(m.size())];
        java.util.Arrays.fill(bits, precision.narrow(value));
        backend.uploadHalf(bits, m.storage(), m.size());
        return m;
    }

    /** A matrix with every element {@code value}; any value, NaN included (tests poison outputs so). */
    public Matrix filled(int rows, int cols, float value) {
        Checks.requireDimensions("NoraContext.filled", rows, cols);
        Matrix m = allocate(rows, cols);
        backend.fill(m.pointer(), m.size(), value);
        return m;
    }

    /** Y = X Wᵀ, the plain linear layer (rows served with no adapter): X is T×n, W is m×n, Y is T×m. */
    public void linear(Matrix x, Matrix weight, Matrix y) {
        final String op = "NoraContext.linear";
        requireSameContext(op, "X", x);
        requireSameContext(op, "W", weight);
        requireSameContext(op, "Y", y);
        Checks.requireCols(op, "X", x, weight.cols(), "W is " + weight.shape());
        Checks.requireShape(op, "Y", y, x.rows(), weight.rows(), "T×m for X " + x.shape() + " and W " + weight.shape());
        if (x.precision() == Precision.FLOAT32 && weight.precision() == Precision.FLOAT32
                && y.precision() == Precision.FLOAT32) {
            backend.gemm(false, true, x.rows(), weight.rows(), weight.cols(), 1f, x.pointer(), weight.pointer(), 0f,
                    y.pointer());
        } else {
            Checks.requireSamePrecision(op, x, weight);
            backend.gemmMixed(false, true, x.rows(), weight.rows(), weight.cols(), 1f, x.storage(), weight.storage(),
                    x.precision(), 0f, y.storage(), y.precision());
        }
        y.markModified();
    }

    /**
     * Records a step (forward, backward, a registry's staged batch...) on this context for cheap
     * replays: on CUDA a CUDA graph, replayed by one launch; on the CPU the step run again. Nothing
     * runs while recording. Run the step once before capturing (scratch is allocated on first use
     * and a graph cannot allocate), feed new inputs by writing into the same matrices, and read
     * results after {@link #synchronize()}. Closed with the context if not before. Decisions taken on
     * the host while recording (the association, launch grids) are replayed as recorded: a layer
     * rebuilds its effective factors inside the recording, so replays follow inner factors changed
     * on the device (a captured optimiser step included), and a registry refuses, while the capture
     * is open, what its graph could not follow (a higher rank, a larger batch) with an {@link
     * IllegalStateException}.
     *
     * <pre>{@code
     * layer.forward(x, y);                                  // warm-up: allocates scratch
     * try (CapturedWork step = ctx.capture(() -> layer.forward(x, y))) {
     *     for (float[] batch : batches) {
     *         x.copyFrom(batch);
     *         step.replay();
     *         ctx.synchronize();
     *     }
     * }
     * }</pre>
     */
    public CapturedWork capture(Runnable step) {
        requireOpen();
        if (capture != null) {
            throw new IllegalStateException("NoraContext.capture: a capture is already being recorded");
        }
        CaptureScope scope = new CaptureScope();
        capture = scope;
        CapturedWork work;
        try {
            work = backend.capture(step);
        } catch (RuntimeException | Error e) {
            scope.releaseAll();
            throw e;
        } finally {
            capture = null;
            scope.afterRecording.forEach(Runnable::run);
        }
        CapturedWork owned = new CapturedWork() {
            private boolean closed;

            @Override
            public void replay() {
                requireOpen();
                work.replay();
            }

            @Override
            public void close() {
                if (closed) {
                    return;
                }
                closed = true;
                unregister(this);
                work.close();
                scope.releaseAll();
            }
        };
        register(owned);
        return owned;
    }

    /**
     * For library components: while a step is being recorded for a CUDA graph on this context
     * ({@link #capture}), registers {@code whenClosed} (run when that capture is closed) and {@code
     * afterRecording} (run when the recording ends; either may be null) and returns true; otherwise
     * returns false and registers nothing. A component that a recorded step depends on uses it to
     * refuse, until the capture is closed, changes the graph could not follow.
     */
    public boolean whileCapturing(Runnable whenClosed, Runnable afterRecording) {
        CaptureScope scope = capture;
        if (scope == null) {
            return false;
        }
        if (whenClosed != null) {
            scope.whenClosed.add(whenClosed);
        }
        if (afterRecording != null) {
            scope.afterRecording.add(afterRecording);
        }
        return true;
    }

    /** What a capture being recorded (or a captured work until closed) has to undo. */
    private static final class CaptureScope {
        final List<Runnable> whenClosed = new ArrayList<>();
        final List<Runnable> afterRecording = new ArrayList<>();

        void releaseAll() {
            whenClosed.forEach(Runnable::run);
            whenClosed.clear();
        }
    }

    /** Waits for every operation issued on this context to finish. */
    public void synchronize() {
        requireOpen();
        backend.synchronize();
    }

    /**
     * The backend behind this context, for library components that compute on it (the
     * initialiser's SVD, statistics). Internal: not a stable API, and its methods take raw memory.
     */
    public ComputeBackend computeBackend() {
        return backend();
    }

    /** The raw memory of a matrix of this context, for library components (see computeBackend()). */
    public org.bytedeco.javacpp.FloatPointer memoryOf(Matrix matrix) {
        requireSameContext("NoraContext.memoryOf", "matrix", matrix);
        return matrix.pointer();
    }

    /** Uninitialised storage for outputs a library component writes completely. */
    public Matrix uninitialized(int rows, int cols) {
        Checks.requireDimensions("NoraContext.uninitialized", rows, cols);
        return allocate(rows, cols);
    }

    /** The same in a precision. */
    public Matrix uninitialized(int rows, int cols, Precision precision) {
        Checks.requireDimensions("NoraContext.uninitialized", rows, cols);
        java.util.Objects.requireNonNull(precision, "NoraContext.uninitialized: precision");
        return allocate(rows, cols, precision);
    }

    /**
     * For library components: the memory of a matrix of any precision, half precisions as 2-byte
     * elements packed two to a float ({@link #memoryOf} refuses them).
     */
    public org.bytedeco.javacpp.FloatPointer storageOf(Matrix matrix) {
        requireSameContext("NoraContext.storageOf", "matrix", matrix);
        return matrix.storage();
    }

    /** How many matrices made by this context are still open. */
    public int openMatrices() {
        return liveMatrices.size();
    }

    /** Uninitialised storage, for outputs that an operation writes completely. */
    Matrix allocate(int rows, int cols) {
        return allocate(rows, cols, Precision.FLOAT32);
    }

    /** The same in a precision: half precisions pack two elements in each float of storage. */
    Matrix allocate(int rows, int cols, Precision precision) {
        requireOpen();
        long elements = (long) rows * cols;
        FloatPointer memory = backend.allocate(precision.isHalf() ? (elements + 1) / 2 : elements);
        Matrix m = new Matrix(this, rows, cols, precision, memory);
        liveMatrices.add(m);
        return m;
    }

    ComputeBackend backend() {
        requireOpen();
        return backend;
    }

    void requireSameContext(String operation, String operand, Matrix matrix) {
        if (matrix.context() != this) {
            throw new JnoraException(operation + ": " + operand + " " + matrix.shape() + " belongs to another context");
        }
        matrix.storage();  // throws if closed
    }

    void register(AutoCloseable resource) {
        requireOpen();
        liveResources.add(resource);
    }

    void unregister(AutoCloseable resource) {
        liveResources.remove(resource);
    }

    void release(Matrix matrix, FloatPointer memory) {
        if (liveMatrices.remove(matrix)) {
            backend.free(memory);
        }
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("NoraContext is closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        List<AutoCloseable> resources;
        synchronized (liveResources) {
            resources = new ArrayList<>(liveResources);
        }
        for (AutoCloseable r : resources) {
            try {
                r.close();
            } catch (Exception ignored) {
                // closing must free the rest even when one resource fails
            }
        }
        List<Matrix> matrices;
        synchronized (liveMatrices) {
            matrices = new ArrayList<>(liveMatrices);
        }
        for (Matrix m : matrices) {
            m.close();
        }
        closed = true;
        backend.close();
    }
}
