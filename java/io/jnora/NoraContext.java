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
import java.util.function.Supplier;
import org.bytedeco.javacpp.FloatPointer;

/**
 * Owns a backend (its stream and library handles) and every matrix and layer made through it;
 * closing the context frees whatever is still open. Operations run on one stream: one thread at a
 * time uses a context. The exceptions are {@link io.jnora.serving.AdapterRegistry}s and the replays of
 * captured steps ({@link #capture}): they hold the context's {@link #submissionLock()} while they
 * submit work, so many threads may serve through the registries of one context at once. Another
 * thread that computes on the context meanwhile holds that lock around its own calls.
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
    // Volatile: another thread that touches the context meanwhile must see a recording to refuse.
    private volatile CaptureScope capture;  // non-null while capture() records a step
    private volatile Thread captureThread;  // the thread recording it
    // The scope that notes what a step uses, and the thread running the step: set while capture()
    // records it and while a replay runs it again (the CPU's replays run the step's own code).
    private CaptureScope noting;
    private Thread notingThread;
    // Captured steps still open, and scratch outgrown meanwhile (retire), closed after the last.
    private final List<Matrix> retired = new ArrayList<>();
    private int openCaptures;
    private volatile boolean closed;  // read by threads that make matrices without the submission lock
    // Serialises the threads that submit work to the one stream (registries, replays): the backend's
    // scratch, handles and upload buffers are the context's, not a registry's.
    private final Object submissionLock = new Object();

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
     * on the device between them (by an optimiser step run outside the capture), and a registry
     * refuses, while the capture is open, what its graph could not follow (a higher rank, a larger
     * batch, another row count) with an {@link IllegalStateException}. {@link TensorOps#adamwStep}
     * cannot be part of a step (its update number and learning rate are host values a graph would
     * freeze) and says so; nor can a registry's stageRows/add/remove, nor the replay of another
     * captured step. While a step is being recorded nothing else may use this context: on CUDA the
     * recording takes in whatever reaches the stream, from any thread. The recording holds the
     * {@link #submissionLock()}, so registries and replays on other threads wait for it; so does a
     * replay, which on the CPU runs the step's own code under that lock.
     *
     * <p>A replay reaches the memory of every matrix the step used and of the layers and registries
     * it went through. Once one of them is closed, {@link CapturedWork#replay()} refuses, before
     * running anything, with an {@link IllegalStateException} naming it ("NoraContext.capture: cannot
     * replay, matrix 4096×16 recorded in this step was closed; capture the step again"). The CPU,
     * whose recording runs nothing, learns what the step uses from its replays: a first replay after
     * such a close gives the same error when the run reaches the closed one (the step's calls before
     * it have run). Scratch that a layer or a registry outgrows while a capture is open (a direct call
     * with more rows) is kept until the last open capture is closed, so replays go on; removing an
     * adapter from a registry is safe too (rows still staged for it get no adapter term).
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
        // Held for the whole recording: another thread's registry upload or synchronisation on the
        // stream would break it, or be recorded into it.
        synchronized (submissionLock) {
            return captureLocked(step);
        }
    }

    private CapturedWork captureLocked(Runnable step) {
        requireOpen();
        if (capture != null) {
            throw new IllegalStateException("NoraContext.capture: a capture is already being recorded");
        }
        CaptureScope scope = new CaptureScope();
        CaptureScope outerNoting = noting;
        Thread outerThread = notingThread;
        capture = scope;
        captureThread = Thread.currentThread();
        noting = scope;
        notingThread = Thread.currentThread();
        CapturedWork work;
        try {
            work = backend.capture(step);
        } catch (RuntimeException | Error e) {
            scope.releaseAll();
            throw e;
        } finally {
            capture = null;
            captureThread = null;
            noting = outerNoting;
            notingThread = outerThread;
            scope.afterRecording.forEach(Runnable::run);
        }
        CapturedWork owned = new CapturedWork() {
            private boolean closed;

            @Override
            public void replay() {
                // A graph reads registries' device tables and row indices: a registry's update from
                // another thread (several copies) must not interleave with the launch.
                synchronized (submissionLock) {
                    replayLocked();
                }
            }

            private void replayLocked() {
                if (insideCapturedStep()) {
                    // On CUDA a graph launched into a recording becomes a graph inside a graph, whose
                    // memory nodes and row indices nothing here would keep alive: refused everywhere.
                    throw new IllegalStateException("NoraContext.capture: a captured step cannot replay another"
                            + " captured step; record the work of both in one capture");
                }
                if (closed) {
                    throw new IllegalStateException("CapturedWork is closed");
                }
                requireOpen();
                String closedUse = scope.closedUse();
                if (closedUse != null) {
                    throw refusedReplay(closedUse, null);
                }
                String problem = scope.replayProblem();
                if (problem != null) {
                    throw new IllegalStateException("NoraContext.capture: cannot replay, " + problem);
                }
                CaptureScope outer = noting;
                Thread outerThread = notingThread;
                noting = scope;
                notingThread = Thread.currentThread();
                scope.touched = false;
                try {
                    work.replay();
                } catch (IllegalStateException e) {
                    // The CPU runs the step itself: one of its own checks found something closed.
                    String closedNow = scope.closedUse();
                    throw closedNow != null ? refusedReplay(closedNow, e) : e;
                } finally {
                    noting = outer;
                    notingThread = outerThread;
                }
                if (scope.touched) {
                    scope.dropClosed();  // the run's own temporaries, closed by the step itself
                }
            }

            @Override
            public void close() {
                synchronized (submissionLock) {  // not while another thread replays it
                    closeLocked();
                }
            }

            private void closeLocked() {
                if (closed) {
                    return;
                }
                closed = true;
                unregister(this);
                try {
                    work.close();
                } finally {
                    scope.releaseAll();
                    captureClosed();
                }
            }
        };
        register(owned);
        synchronized (retired) {
            openCaptures++;
        }
        return owned;
    }

    private static IllegalStateException refusedReplay(String what, Throwable cause) {
        return new IllegalStateException("NoraContext.capture: cannot replay, " + what
                + " recorded in this step was closed; capture the step again", cause);
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
        if (scope == null || captureThread != Thread.currentThread()) {
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

    /**
     * For library components: whether this thread is recording a step on this context ({@link
     * #capture}) or running one of its replays, where what returns host values or bakes host values
     * into the step (an optimiser update) must refuse.
     */
    public boolean insideCapturedStep() {
        Thread me = Thread.currentThread();
        return (capture != null && captureThread == me) || (noting != null && notingThread == me);
    }

    /**
     * For library components: while a step is being recorded on this context ({@link #capture}),
     * registers {@code problem}, asked before every replay of that step: null when the replay can
     * run as recorded, otherwise why not (e.g. a registry batch recorded for 100 rows with 200 staged
     * since), and the replay is then refused with an {@link IllegalStateException} saying so before
     * anything runs. Returns whether a step is being recorded (false: nothing is registered). Only
     * backends that record something register it (CUDA); the CPU records nothing and runs the step
     * again at each replay, where the component's own checks refuse instead.
     */
    public boolean checkBeforeReplay(Supplier<String> problem) {
        CaptureScope scope = capture;
        if (scope == null || captureThread != Thread.currentThread()) {
            return false;
        }
        scope.replayChecks.add(problem);
        scope.noted.add(problem);
        return true;
    }

    /**
     * For library components that a captured step goes through (a layer, a registry) and whose
     * memory it reaches other than through a matrix taken while it runs (cached pointers, device
     * tables): while this thread records or replays a step on this context, notes {@code
     * closedDescription}, which returns null while the component is open and names it once closed
     * ("AdapterRegistry (W 40×1031)"); replays refuse from then on ({@link #capture}). Call it before
     * checking that the component is open, and pass the same object every time (a field): a step
     * notes it once, and a replay allocates nothing.
     */
    public void noteUse(Supplier<String> closedDescription) {
        CaptureScope scope = noting;
        if (scope != null && notingThread == Thread.currentThread()) {
            scope.note(closedDescription);
        }
    }

    /** The same for a matrix whose memory is taken ({@link Matrix#storage()}). */
    void noteUse(Matrix matrix) {
        Thread recording = captureThread;
        if (recording != null && recording != Thread.currentThread()) {
            // On CUDA the recording would take this thread's work into its graph (or be broken by it).
            throw new IllegalStateException("NoraContext: thread '" + recording.getName() + "' is recording a step"
                    + " (capture) on this context; nothing else may use it until the recording ends");
        }
        CaptureScope scope = noting;
        if (scope != null && notingThread == Thread.currentThread()) {
            scope.note(matrix);
        }
    }

    /**
     * For library components that replace their scratch with a larger one: closes {@code old} now
     * or, while a captured step is open on this context (its CUDA graph may hold the old memory),
     * once the last one is closed, so that a direct call with more rows does not break a capture.
     */
    public void retire(Matrix old) {
        if (!old.belongsTo(this)) {
            throw new JnoraException("NoraContext.retire: scratch " + old.shape() + " belongs to another context");
        }
        synchronized (retired) {
            if (openCaptures > 0 || capture != null) {  // a recording in progress holds it as well
                retired.add(old);
                return;
            }
        }
        old.close();
    }

    private void captureClosed() {
        List<Matrix> free = List.of();
        synchronized (retired) {
            if (--openCaptures == 0) {
                free = new ArrayList<>(retired);
                retired.clear();
            }
        }
        free.forEach(Matrix::close);
    }

    /**
     * What a capture being recorded (or a captured work until closed) has to undo, and what its step
     * uses: the matrices whose memory it took and the components it went through, checked before
     * every replay (a boolean each: a replay allocates nothing unless something was closed).
     */
    private static final class CaptureScope {
        final List<Runnable> whenClosed = new ArrayList<>();
        final List<Runnable> afterRecording = new ArrayList<>();
        final List<Matrix> matrices = new ArrayList<>();
        final List<Supplier<String>> components = new ArrayList<>();
        final List<Supplier<String>> replayChecks = new ArrayList<>();
        final Set<Object> noted = Collections.newSetFromMap(new IdentityHashMap<>());
        boolean touched;  // something was noted during the current run

        void note(Matrix matrix) {
            touched = true;
            if (noted.add(matrix)) {
                matrices.add(matrix);
            }
        }

        void note(Supplier<String> component) {
            touched = true;
            if (noted.add(component)) {
                components.add(component);
            }
        }

        /** Why the step cannot replay as recorded (checkBeforeReplay), or null. */
        String replayProblem() {
            for (int i = 0; i < replayChecks.size(); i++) {
                String problem = replayChecks.get(i).get();
                if (problem != null) {
                    return problem;
                }
            }
            return null;
        }

        /** The first closed component or matrix the step uses (components first: they name more), or null. */
        String closedUse() {
            for (int i = 0; i < components.size(); i++) {
                String closed = components.get(i).get();
                if (closed != null) {
                    return closed;
                }
            }
            for (int i = 0; i < matrices.size(); i++) {
                Matrix m = matrices.get(i);
                if (m.isClosed()) {
                    return "matrix " + m.shape();
                }
            }
            return null;
        }

        /** Forgets what a run that succeeded closed itself (the CPU re-runs the step, temporaries included). */
        void dropClosed() {
            int kept = 0;
            for (int i = 0; i < matrices.size(); i++) {
                Matrix m = matrices.get(i);
                if (m.isClosed()) {
                    noted.remove(m);
                } else {
                    matrices.set(kept++, m);
                }
            }
            while (matrices.size() > kept) {
                matrices.remove(matrices.size() - 1);
            }
            kept = 0;
            for (int i = 0; i < components.size(); i++) {
                Supplier<String> c = components.get(i);
                if (c.get() != null) {
                    noted.remove(c);
                } else {
                    components.set(kept++, c);
                }
            }
            while (components.size() > kept) {
                components.remove(components.size() - 1);
            }
        }

        void releaseAll() {
            whenClosed.forEach(Runnable::run);
            whenClosed.clear();
            matrices.clear();
            components.clear();
            noted.clear();
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

    /**
     * The monitor that serialises the threads submitting work to this context's stream: every
     * {@link io.jnora.serving.AdapterRegistry} of the context and every replay of a captured step
     * holds it while it submits. A thread that computes on the context while others serve through
     * its registries holds it too ({@code synchronized (ctx.submissionLock()) { ... }}).
     */
    public Object submissionLock() {
        return submissionLock;
    }

    /**
     * Ties a resource to the context: {@link #close()} closes it (before the matrices, which it may
     * still use) unless it was {@link #unregister unregistered} first. For components built on the
     * context outside its package, e.g. an adapter registry with device tables of its own.
     */
    public void register(AutoCloseable resource) {
        requireOpen();
        liveResources.add(resource);
    }

    /** Undoes {@link #register}: for a resource closed by its owner. */
    public void unregister(AutoCloseable resource) {
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

    /**
     * Closes the captured steps, registries and other resources still open, then every matrix, then
     * the backend. It waits for any thread submitting work through the context (a registry batch, a
     * replay) to finish its call; their later calls are refused as closed.
     */
    @Override
    public void close() {
        synchronized (submissionLock) {
            closeLocked();
        }
    }

    private void closeLocked() {
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
