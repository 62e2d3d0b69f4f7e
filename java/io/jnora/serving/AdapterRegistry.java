package io.jnora.serving;

import io.jnora.CapacityExceededException;
import io.jnora.JnoraException;
import io.jnora.Matrix;
import io.jnora.NoraContext;
import io.jnora.Precision;
import io.jnora.ShapeMismatchException;
import io.jnora.adapter.AdapterLayer;
import io.jnora.backend.AdapterTable;
import io.jnora.backend.ComputeBackend;
import io.jnora.backend.RowIndex;
import io.jnora.peft.LoraLayer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Many adapters of one base layer resident on a context's device, applied to a batch whose rows
 * each name their own adapter (SPEC §2.9, issue 7): {@code Y = X Wᵀ + Σ per-row adapter term} in one
 * call — the base GEMM, then one grouped shrink and one grouped expand over all rows, whatever the
 * mix of adapters and ranks. Adapters are kept as effective factors A (r×n) and B (m×r) with their
 * scale: a nested adapter as its exact rank-r_in LoRA (rank 2·r_in against W for a SIGMA residual,
 * SPEC §2.7), a plain LoRA as it is. On CUDA, batches of up to 16 rows run row at a time (split-K
 * over n); larger ones gather their rows by adapter into tiles of up to 64, so each adapter's factors
 * are read once per tile. The base weight, factors, X and Y may be bfloat16 or float16 ({@link
 * #AdapterRegistry(NoraContext, float[], int, int, int, long, Precision)}).
 *
 * <p>Thread safety: every public method is synchronized. Many threads may submit batches and
 * add or remove adapters concurrently; each batch runs whole on the context's one stream, and a
 * change of the registry is seen by the batches that start after it (never half-way through one).
 * Threads that share the registry should hand it host rows ({@link #apply(float[], int, int[])}):
 * the context's stream is then used by the registry alone. The staged pair {@link #stageRows} /
 * {@link #applyStaged} (for CUDA graphs) keeps the staged rows between calls, so it belongs to one
 * thread: two threads interleaving it would apply each other's rows.
 */
public final class AdapterRegistry implements AutoCloseable {
    private final NoraContext context;
    private final ComputeBackend backend;
    private final int m;
    private final int n;
    private final Matrix baseWeight;
    private final long memoryBudgetBytes;
    private final Precision precision;
    private final AdapterTable table;
    private final Map<String, Slot> byName = new LinkedHashMap<>();
    private final Slot[] slots;
    private long bytesInUse;
    private Matrix scratch;
    private RowIndex rowIndex;
    // Captured batches (NoraContext.capture) still open, and the largest rank they were recorded at:
    // their grids, scratch and row index are fixed, so what would outgrow them is refused meanwhile.
    private int capturedBatches;
    private int capturedMaxRank;
    private boolean closed;
    // Captured batches note the registry (NoraContext.noteUse): their graphs read its device table
    // and row index, which close() frees, so a replay after close() is refused by naming it.
    private final java.util.function.Supplier<String> closedDescription = () -> closed ? describe() : null;

    private record Slot(String name, int index, int rank, float scale, Matrix a, Matrix b) {
        long bytes() {
            return (a.size() + b.size()) * a.precision().bytes();
        }
    }

    /**
     * A registry for adapters of the base weight W (m×n) with room for {@code maxAdapters} adapters
     * and {@code memoryBudgetBytes} of their factors in the context's memory.
     */
    public AdapterRegistry(NoraContext context, float[] baseWeight, int m, int n, int maxAdapters, long memoryBudgetBytes) {
        this(context, baseWeight, m, n, maxAdapters, memoryBudgetBytes, Precision.FLOAT32);
    }

    /**
     * The same with the base weight, the adapters' factors, X and Y in a precision: bfloat16 or float16
     * halve the memory of each (the budget counts 2 bytes an element) and run the base GEMM on tensor
     * cores; products and sums stay float32, and Y is rounded twice: the base GEMM's result, then that
     * plus the adapter terms (SPEC §4's 1e-2 covers both).
     */
    public AdapterRegistry(NoraContext context, float[] baseWeight, int m, int n, int maxAdapters, long memoryBudgetBytes,
            Precision precision) {
        if (maxAdapters < 1 || memoryBudgetBytes < 0) {
            throw new IllegalArgumentException("AdapterRegistry: maxAdapters must be ≥ 1 and the budget ≥ 0, got "
                    + maxAdapters + " and " + memoryBudgetBytes);
        }
        this.precision = java.util.Objects.requireNonNull(precision, "AdapterRegistry: precision");
        this.context = context;
        this.backend = context.computeBackend();
        this.m = m;
        this.n = n;
        this.baseWeight = context.matrix(m, n, baseWeight, precision);
        this.memoryBudgetBytes = memoryBudgetBytes;
        this.table = backend.createAdapterTable(maxAdapters);
        this.slots = new Slot[maxAdapters];
    }

    /** Adds a plain LoRA (ΔW = s·B A); returns its index for {@link #apply}. */
    public synchronized int add(String name, LoraLayer lora) {
        requireShape(name, lora.outFeatures(), lora.inFeatures());
        return add(name, lora.loraA(), lora.loraB(), lora.rank(), lora.scale());
    }

    /** Adds a nested adapter as its exact LoRA against the original W (SPEC §2.7). */
    public synchronized int add(String name, AdapterLayer nested) {
        return add(name, LoraLayer.fromNested(nested, name));
    }

    /** Adds effective factors A (rank×n) and B (m×rank) with scale s; returns the adapter's index. */
    public synchronized int add(String name, float[] a, float[] b, int rank, float scale) {
        requireOpen();
        requireOutsideCapturedStep("add");
        if (byName.containsKey(name)) {
            throw new IllegalArgumentException("AdapterRegistry.add: an adapter named '" + name + "' is already resident");
        }
        if (rank < 1 || a.length != (long) rank * n || b.length != (long) m * rank) {
            throw new ShapeMismatchException("AdapterRegistry.add: adapter '" + name + "' of rank " + rank + " needs A "
                    + rank + "×" + n + " and B " + m + "×" + rank + ", got " + a.length + " and " + b.length + " values");
        }
        if (!Float.isFinite(scale)) {
            throw new io.jnora.NonFiniteInputException("AdapterRegistry.add: adapter '" + name + "' scale is " + scale);
        }
        if (capturedBatches > 0 && rank > capturedMaxRank) {
            throw new IllegalStateException("AdapterRegistry.add: adapter '" + name + "' has rank " + rank + " but "
                    + capturedBatches + " captured batch(es) were recorded for ranks up to " + capturedMaxRank
                    + "; close them (and capture again) first");
        }
        long bytes = (long) rank * (n + m) * precision.bytes();
        if (bytesInUse + bytes > memoryBudgetBytes) {
            throw new CapacityExceededException("AdapterRegistry.add: adapter '" + name + "' needs " + bytes
                    + " bytes; " + bytesInUse + " of the budget's " + memoryBudgetBytes + " are in use");
        }
        int index = freeSlot(name);
        Matrix am = context.matrix(rank, n, a, precision);
        Matrix bm = null;
        try {
            bm = context.matrix(m, rank, b, precision);
            table.set(index, context.storageOf(am), context.storageOf(bm), rank, scale);  // first: it may fail
        } catch (RuntimeException e) {
            am.close();
            if (bm != null) {
                bm.close();
            }
            throw e;
        }
        Slot slot = new Slot(name, index, rank, scale, am, bm);
        slots[index] = slot;
        byName.put(name, slot);
        bytesInUse += bytes;
        return index;
    }

    /**
     * Removes an adapter; rows that still name its index get no adapter term from the next batch on.
     * Safe while captured batches are open: their graphs find the adapters through the device table,
     * which is updated (and the stream drained) before the factors are freed, so a replay gives the
     * rows staged for the removed adapter no term and never reads its factors.
     */
    public synchronized void remove(String name) {
        requireOpen();
        requireOutsideCapturedStep("remove");
        Slot slot = byName.get(name);
        if (slot == null) {
            throw new JnoraException("AdapterRegistry.remove: no adapter '" + name + "' (resident: " + byName.keySet() + ")");
        }
        table.clear(slot.index());  // first: if it fails, the adapter stays resident on both sides
        byName.remove(name);
        slots[slot.index()] = null;
        bytesInUse -= slot.bytes();
        slot.a().close();
        slot.b().close();
    }

    /** The index of a resident adapter. */
    public synchronized int indexOf(String name) {
        Slot slot = byName.get(name);
        if (slot == null) {
            throw new JnoraException("AdapterRegistry: no adapter '" + name + "' (resident: " + byName.keySet() + ")");
        }
        return slot.index();
    }

    public synchronized List<String> names() {
        return new ArrayList<>(byName.keySet());
    }

    /** The precision of the base weight, the adapters, X and Y. */
    public Precision precision() {
        return precision;
    }

    public synchronized long bytesInUse() {
        return bytesInUse;
    }

    /**
     * Y = X Wᵀ + for each row t with index a = rowAdapter[t] ≥ 0: s_a (X[t] A_aᵀ) B_aᵀ. X is T×n;
     * rowAdapter holds T indices from {@link #add} (or −1 for none). A new T×m matrix.
     */
    public synchronized Matrix apply(Matrix x, int[] rowAdapter) {
        requireOpen();
        Matrix y = context.uninitialized(x.rows(), m, precision);
        try {
            apply(x, rowAdapter, y);
            return y;
        } catch (RuntimeException e) {
            y.close();
            throw e;
        }
    }

    /** The same into a given Y (T×m): {@link #stageRows} then {@link #applyStaged}. */
    public synchronized void apply(Matrix x, int[] rowAdapter, Matrix y) {
        stageRows(rowAdapter);
        applyStaged(x, y);
    }

    /**
     * Checks and stages the rows' adapter indices (−1 for none) for the next {@link #applyStaged}
     * calls. On CUDA the indices travel by an asynchronous copy from pinned memory: nothing waits.
     */
    public synchronized void stageRows(int[] rowAdapter) {
        requireOpen();
        requireOutsideCapturedStep("stageRows");
        for (int t = 0; t < rowAdapter.length; t++) {
            int a = rowAdapter[t];
            if (a < -1 || a >= slots.length || (a >= 0 && slots[a] == null)) {
                throw new JnoraException("AdapterRegistry.apply: row " + t + " names adapter index " + a
                        + ", which is not resident (resident: " + residentIndices() + ")");
            }
        }
        if (rowIndex == null || rowIndex.capacity() < rowAdapter.length) {
            if (capturedBatches > 0) {
                throw new IllegalStateException("AdapterRegistry.stageRows: " + rowAdapter.length + " rows, but the"
                        + " captured batch(es) read a row index of " + (rowIndex == null ? 0 : rowIndex.capacity())
                        + "; close them (and capture again) first");
            }
            if (rowIndex != null) {
                rowIndex.close();
            }
            rowIndex = backend.createRowIndex(rowAdapter.length, table);
        }
        rowIndex.set(rowAdapter, rowAdapter.length);
    }

    /**
     * Y = X Wᵀ + the per-row adapter terms of the rows staged by {@link #stageRows}, into a given Y
     * (T×m). Once a batch of T rows has run with the current adapters, this call allocates nothing,
     * uploads nothing and does not synchronise, so on CUDA it can be captured in a CUDA graph ({@link
     * NoraContext#capture}) and replayed after new {@link #stageRows} calls. While a captured batch
     * is open, what its graph could not follow is refused with an {@link IllegalStateException}: an
     * adapter of a higher rank than at capture, more rows than the row index holds, more scratch.
     * Once the registry is closed, such a batch refuses to replay (its graph reads the device table).
     */
    public synchronized void applyStaged(Matrix x, Matrix y) {
        requireOpen();
        final String op = "AdapterRegistry.apply";
        if (x.cols() != n) {
            throw new ShapeMismatchException(op + ": X is " + x.shape() + " but the base weight is " + m + "×" + n);
        }
        if (x.precision() != precision || y.precision() != precision) {
            throw new ShapeMismatchException(op + ": X is " + x.precision() + " and Y " + y.precision()
                    + ", the registry holds " + precision + "; convert first");
        }
        if (y.rows() != x.rows() || y.cols() != m) {
            throw new ShapeMismatchException(op + ": Y is " + y.shape() + ", " + x.rows() + "×" + m + " needed for X "
                    + x.shape());
        }
        int staged = rowIndex == null ? 0 : rowIndex.rows();
        if (staged != x.rows()) {
            throw new ShapeMismatchException(op + ": " + staged + " row indices staged for X " + x.shape());
        }
        context.linear(x, baseWeight, y);
        int maxRank = table.maxRank();
        if (context.whileCapturing(() -> {
            synchronized (this) {
                capturedBatches--;
            }
        }, null)) {
            capturedBatches++;
            capturedMaxRank = capturedBatches == 1 ? maxRank : Math.max(capturedMaxRank, maxRank);
            // The graph's grids and Y are for this many rows: a replay after staging another count
            // (legitimate between graphs of several batch sizes) is refused, not run on the wrong rows.
            // Its grids, scratch and shared memory are for the largest rank at recording: a larger
            // one since (possible once another graph with a larger rank let add() through) is refused,
            // as is any adapter at all for a graph recorded with none (it launched nothing for them).
            final int recordedRows = x.rows();
            final int recordedMaxRank = maxRank;
            context.checkBeforeReplay(() -> {
                synchronized (this) {
                    int now = rowIndex == null ? 0 : rowIndex.rows();
                    if (now != recordedRows) {
                        return "its AdapterRegistry batch was recorded for " + recordedRows + " rows but " + now
                                + " are staged; stage " + recordedRows + " rows before this replay";
                    }
                    int rank = closed ? 0 : table.maxRank();
                    return rank <= recordedMaxRank && (recordedMaxRank > 0 || rank == 0) ? null
                            : "its AdapterRegistry batch was recorded with adapters of rank up to " + recordedMaxRank
                                    + " and one of rank " + rank + " was added since; capture it again";
                }
            });
        }
        if (maxRank > 0 && x.rows() > 0) {
            ensureScratch(backend.groupedScratchElements(x.rows(), n, maxRank));
            backend.groupedLowRank(precision, x.rows(), n, m, context.storageOf(x), rowIndex, table,
                    context.memoryOf(scratch), context.storageOf(y));
        }
    }

    /**
     * The same for host rows: X (rows×n, row-major) in, Y (rows×m) out, uploaded, applied and
     * downloaded in one critical section — the call a serving thread makes.
     */
    public synchronized float[] apply(float[] x, int rows, int[] rowAdapter) {
        requireOpen();
        try (Matrix xm = context.matrix(rows, n, x, precision); Matrix y = apply(xm, rowAdapter)) {
            return y.toArray();
        }
    }

    private void ensureScratch(long elements) {
        if (scratch == null || scratch.size() < elements) {
            if (capturedBatches > 0) {
                throw new IllegalStateException("AdapterRegistry.apply: this batch needs more scratch than the"
                        + " captured batch(es) read; close them (and capture again) first");
            }
            if (scratch != null) {
                context.retire(scratch);  // noted by captured batches' replays: kept while one is open
            }
            scratch = context.uninitialized(1, Math.toIntExact(elements));
        }
    }

    private Map<String, Integer> residentIndices() {
        Map<String, Integer> out = new LinkedHashMap<>();
        byName.forEach((k, v) -> out.put(k, v.index()));
        return out;
    }

    private int freeSlot(String name) {
        for (int i = 0; i < slots.length; i++) {
            if (slots[i] == null) {
                return i;
            }
        }
        throw new CapacityExceededException("AdapterRegistry.add: no free slot for '" + name + "' (all " + slots.length
                + " are in use)");
    }

    private void requireShape(String name, int out, int in) {
        if (out != m || in != n) {
            throw new ShapeMismatchException("AdapterRegistry.add: adapter '" + name + "' is for a " + out + "×" + in
                    + " layer, the base weight is " + m + "×" + n);
        }
    }

    private String describe() {
        return "AdapterRegistry (W " + m + "×" + n + ")";
    }

    /**
     * Staging rows and changing the adapters upload to the device and wait for it: inside a captured
     * step that would be recorded (or break the recording) on CUDA, so it is refused on every backend.
     */
    private void requireOutsideCapturedStep(String operation) {
        if (context.insideCapturedStep()) {
            throw new IllegalStateException("AdapterRegistry." + operation + ": cannot be part of a captured step"
                    + " (NoraContext.capture); stage rows and change adapters between replays, and capture"
                    + " applyStaged");
        }
    }

    private void requireOpen() {
        context.noteUse(closedDescription);
        if (closed) {
            throw new IllegalStateException("AdapterRegistry is closed");
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        for (String name : new ArrayList<>(byName.keySet())) {
            remove(name);
        }
        closed = true;
        backend.synchronize();  // a replay still queued reads the table and the row index
        table.close();
        baseWeight.close();
        if (scratch != null) {
            scratch.close();
        }
        if (rowIndex != null) {
            rowIndex.close();
        }
    }
}
