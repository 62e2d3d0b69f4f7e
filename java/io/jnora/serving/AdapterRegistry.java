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
 * <p>Adapter ids: {@link #add} returns an id that this registry never hands out again (ids are ints:
 * after about 2^31 adds over a registry's life, {@code add} refuses and a new registry is needed),
 * and rows name adapters by id. A row naming an adapter that was removed is refused when its rows are staged, and
 * rows staged before the removal get no adapter term from then on: a batch never picks up another
 * adapter that took over the removed one's slot.
 *
 * <p>Thread safety: every public method holds the context's {@link NoraContext#submissionLock()},
 * shared by all registries of the context (their backend's scratch, stream and handles are the
 * context's) and by the replays of captured steps. Many threads may submit batches and add or
 * remove adapters concurrently, through one registry or several registries of one context (one per
 * layer of a model); each batch runs whole on the context's one stream, and a change of a registry
 * is seen by the batches that start after it (never half-way through one). Threads that share a
 * registry should hand it host rows ({@link #apply(float[], int, int[])}), which uploads, computes
 * and downloads under the lock. The staged pair {@link #stageRows} / {@link #applyStaged} (for CUDA
 * graphs) keeps the staged rows between calls, so it belongs to one thread: two threads
 * interleaving it would apply each other's rows.
 *
 * <p>Staging uploads the rows' slots (one asynchronous copy); on CUDA, batches of more than 16 rows
 * are then gathered by adapter on the device, by a small layout kernel launched before the
 * segment-grouped ones (so a captured batch regroups new rows at each replay). The host neither
 * sorts the batch nor loops over adapters; the CPU backend gathers with a counting sort.
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
    private final Object lock;
    private final Map<String, Slot> byName = new LinkedHashMap<>();
    private final Slot[] slots;
    // The k-th adapter (from 0) put in a slot has the id k × capacity + slot: never repeated, mapped
    // back to its slot without a search, and equal to the slot while no slot has been reused.
    private final long[] generations;
    private int nextSlot;  // where freeSlot starts looking
    // The slot indices of the rows staged last (what the row index holds), for remove() to blank; the
    // next staging is written into the spare and swapped in once the row index took it.
    private int[] stagedSlots = new int[0];
    private int[] spareSlots = new int[0];
    private int stagedRows;
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

    private record Slot(String name, int id, int index, int rank, float scale, Matrix a, Matrix b) {
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
        this.lock = context.submissionLock();
        this.m = m;
        this.n = n;
        this.memoryBudgetBytes = memoryBudgetBytes;
        this.slots = new Slot[maxAdapters];
        this.generations = new long[maxAdapters];
        synchronized (lock) {
            Matrix w = context.matrix(m, n, baseWeight, precision);
            AdapterTable t;
            try {
                t = backend.createAdapterTable(maxAdapters);
            } catch (RuntimeException | Error e) {
                w.close();
                throw e;
            }
            this.baseWeight = w;
            this.table = t;
            // Closing the context closes the registry first: its device tables are not matrices.
            context.register(this);
        }
    }

    /** Adds a plain LoRA (ΔW = s·B A); returns its id for {@link #apply}. */
    public int add(String name, LoraLayer lora) {
        requireShape(name, lora.outFeatures(), lora.inFeatures());
        return add(name, lora.loraA(), lora.loraB(), lora.rank(), lora.scale());
    }

    /** Adds a nested adapter as its exact LoRA against the original W (SPEC §2.7); returns its id. */
    public int add(String name, AdapterLayer nested) {
        return add(name, LoraLayer.fromNested(nested, name));
    }

    /**
     * Adds effective factors A (rank×n) and B (m×rank) with scale s; returns the adapter's id, which
     * rows name in {@link #apply} and which is never handed out again.
     */
    public int add(String name, float[] a, float[] b, int rank, float scale) {
        synchronized (lock) {
            return addLocked(name, a, b, rank, scale);
        }
    }

    private int addLocked(String name, float[] a, float[] b, int rank, float scale) {
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
        if (rank > backend.maxGroupedRank()) {
            throw new io.jnora.InvalidRankException("AdapterRegistry.add: adapter '" + name + "' has rank " + rank
                    + "; the grouped kernels take ranks up to " + backend.maxGroupedRank());
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
        long nextId = generations[index] * slots.length + index;
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
        generations[index]++;
        Slot slot = new Slot(name, (int) nextId, index, rank, scale, am, bm);
        slots[index] = slot;
        byName.put(name, slot);
        bytesInUse += bytes;
        return slot.id();
    }

    /**
     * Removes an adapter. Rows staged for it get no adapter term from the next batch on (also in the
     * replays of captured batches), and staging rows that name its id is refused. Safe while captured
     * batches are open: their graphs find the adapters through the device table, which is updated
     * (and the stream drained) before the factors are freed, so a replay never reads them.
     */
    public void remove(String name) {
        synchronized (lock) {
            removeLocked(name);
        }
    }

    private void removeLocked(String name) {
        requireOpen();
        requireOutsideCapturedStep("remove");
        Slot slot = byName.get(name);
        if (slot == null) {
            throw new JnoraException("AdapterRegistry.remove: no adapter '" + name + "' (resident: " + byName.keySet() + ")");
        }
        table.clear(slot.index());  // first: if it fails, the adapter stays resident on both sides
        blankStagedRows(slot.index());
        byName.remove(name);
        slots[slot.index()] = null;
        bytesInUse -= slot.bytes();
        slot.a().close();
        slot.b().close();
    }

    /**
     * Rows staged for a slot whose adapter is removed would otherwise pick up the next adapter put in
     * that slot: they are set to none, and the row index is staged again (an asynchronous copy).
     */
    private void blankStagedRows(int slot) {
        int[] blanked = spareFor(stagedRows);
        boolean found = false;
        for (int t = 0; t < stagedRows; t++) {
            found |= stagedSlots[t] == slot;
            blanked[t] = stagedSlots[t] == slot ? -1 : stagedSlots[t];
        }
        if (found) {
            commitStaged(blanked, stagedRows);
        }
    }

    /** The spare staging array, at least {@code rows} long. */
    private int[] spareFor(int rows) {
        if (spareSlots.length < rows) {
            spareSlots = new int[Math.max(rows, stagedSlots.length)];
        }
        return spareSlots;
    }

    /** Hands the rows' slots to the row index, and only once it took them makes them the staged ones. */
    private void commitStaged(int[] slotsOfRows, int rows) {
        rowIndex.set(slotsOfRows, rows);
        spareSlots = stagedSlots;
        stagedSlots = slotsOfRows;
        stagedRows = rows;
    }

    /** The id of a resident adapter. */
    public int idOf(String name) {
        synchronized (lock) {
            Slot slot = byName.get(name);
            if (slot == null) {
                throw new JnoraException("AdapterRegistry: no adapter '" + name + "' (resident: " + byName.keySet() + ")");
            }
            return slot.id();
        }
    }

    public List<String> names() {
        synchronized (lock) {
            return new ArrayList<>(byName.keySet());
        }
    }

    /** The precision of the base weight, the adapters, X and Y. */
    public Precision precision() {
        return precision;
    }

    public long bytesInUse() {
        synchronized (lock) {
            return bytesInUse;
        }
    }

    /**
     * Y = X Wᵀ + for each row t with adapter a = rowAdapter[t] ≥ 0: s_a (X[t] A_aᵀ) B_aᵀ. X is T×n;
     * rowAdapter holds T ids from {@link #add} (or −1 for none). A new T×m matrix.
     */
    public Matrix apply(Matrix x, int[] rowAdapter) {
        synchronized (lock) {
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
    }

    /** The same into a given Y (T×m): {@link #stageRows} then {@link #applyStaged}. */
    public void apply(Matrix x, int[] rowAdapter, Matrix y) {
        synchronized (lock) {
            stageRows(rowAdapter);
            applyStaged(x, y);
        }
    }

    /**
     * Checks and stages the rows' adapter ids (−1 for none) for the next {@link #applyStaged} calls.
     * On CUDA the slots travel by an asynchronous copy from pinned memory: nothing waits.
     */
    public void stageRows(int[] rowAdapter) {
        synchronized (lock) {
            stageRowsLocked(rowAdapter);
        }
    }

    private void stageRowsLocked(int[] rowAdapter) {
        requireOpen();
        requireOutsideCapturedStep("stageRows");
        for (int t = 0; t < rowAdapter.length; t++) {  // all checked before anything changes
            int id = rowAdapter[t];
            int slot = id < 0 ? -1 : id % slots.length;
            if (id < -1 || (id >= 0 && (slots[slot] == null || slots[slot].id() != id))) {
                throw new JnoraException("AdapterRegistry.apply: row " + t + " names adapter id " + id + ", which is "
                        + (id >= 0 && id / slots.length < generations[slot] ? "no longer" : "not") + " resident (resident: "
                        + residentIds() + ")");
            }
        }
        if (rowIndex == null || rowIndex.capacity() < rowAdapter.length) {
            if (capturedBatches > 0) {
                throw new IllegalStateException("AdapterRegistry.stageRows: " + rowAdapter.length + " rows, but the"
                        + " captured batch(es) read a row index of " + (rowIndex == null ? 0 : rowIndex.capacity())
                        + "; close them (and capture again) first");
            }
            RowIndex larger = backend.createRowIndex(rowAdapter.length, table);  // first: if it fails, the old one stays
            if (rowIndex != null) {
                rowIndex.close();
            }
            rowIndex = larger;
            stagedRows = 0;
        }
        int[] slotsOfRows = spareFor(rowAdapter.length);
        for (int t = 0; t < rowAdapter.length; t++) {
            slotsOfRows[t] = rowAdapter[t] < 0 ? -1 : rowAdapter[t] % slots.length;
        }
        commitStaged(slotsOfRows, rowAdapter.length);
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
    public void applyStaged(Matrix x, Matrix y) {
        synchronized (lock) {
            applyStagedLocked(x, y);
        }
    }

    private void applyStagedLocked(Matrix x, Matrix y) {
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
        int maxRank = table.maxRank();
        long scratchNeeded = maxRank > 0 && x.rows() > 0 ? backend.groupedScratchElements(x.rows(), n, maxRank) : 0;
        if (scratchNeeded > 0 && context.insideCapturedStep() && (scratch == null || scratch.size() < scratchNeeded)) {
            // Allocating inside a recording would be recorded too (or break it): the first run must come first.
            throw new IllegalStateException(scratch == null
                    ? "AdapterRegistry.apply: a batch of " + x.rows() + " rows at rank up to " + maxRank + " has not run"
                            + " outside a capture yet, so its scratch is not allocated; run it once before capturing it"
                    : "AdapterRegistry.apply: a batch of " + x.rows() + " rows at rank up to " + maxRank + " needs more"
                            + " scratch than this registry had when the step was recorded (a larger rank or more rows"
                            + " since); close the capture, run the batch once outside it and capture again");
        }
        context.linear(x, baseWeight, y);
        if (context.whileCapturing(() -> {
            synchronized (lock) {
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
                synchronized (lock) {
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
        if (scratchNeeded > 0) {
            ensureScratch(scratchNeeded);
            backend.groupedLowRank(precision, x.rows(), n, m, context.storageOf(x), rowIndex, table,
                    context.memoryOf(scratch), context.storageOf(y));
        }
    }

    /**
     * The same for host rows: X (rows×n, row-major) in, Y (rows×m) out, uploaded, applied and
     * downloaded in one critical section — the call a serving thread makes.
     */
    public float[] apply(float[] x, int rows, int[] rowAdapter) {
        synchronized (lock) {
            requireOpen();
            try (Matrix xm = context.matrix(rows, n, x, precision); Matrix y = apply(xm, rowAdapter)) {
                return y.toArray();
            }
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

    private Map<String, Integer> residentIds() {
        Map<String, Integer> out = new LinkedHashMap<>();
        byName.forEach((k, v) -> out.put(k, v.id()));
        return out;
    }

    /**
     * The next free slot at or after the last one handed out, whose next id still fits an int. Going
     * round (not always the lowest free slot) spreads the reuse over every slot, so ids run out only
     * after about 2^31 adds over the registry's life, not after 2^31 / capacity through one slot.
     */
    private int freeSlot(String name) {
        boolean anyFree = false;
        for (int k = 0; k < slots.length; k++) {
            int i = (nextSlot + k) % slots.length;
            if (slots[i] == null) {
                anyFree = true;
                if (generations[i] * slots.length + i <= Integer.MAX_VALUE) {
                    nextSlot = (i + 1) % slots.length;
                    return i;
                }
            }
        }
        throw new CapacityExceededException(anyFree
                ? "AdapterRegistry.add: no id left for '" + name + "': ids are never reused and about 2^31 adapters"
                        + " have been added over this registry's life; make a new registry"
                : "AdapterRegistry.add: no free slot for '" + name + "' (all " + slots.length + " are in use)");
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

    /** Frees the adapters, the base weight and the device tables; the context's close() calls it too. */
    @Override
    public void close() {
        synchronized (lock) {
            closeLocked();
        }
    }

    /**
     * Marks the registry closed first (replays that went through it refuse from then on), waits for
     * queued work, then frees each part in turn: a failure (a sticky CUDA error, exactly when one
     * closes) frees the rest anyway and is thrown after.
     */
    private void closeLocked() {
        if (closed) {
            return;
        }
        requireOutsideCapturedStep("close");
        closed = true;
        List<AutoCloseable> parts = new ArrayList<>();
        for (Slot slot : byName.values()) {
            parts.add(slot.a());
            parts.add(slot.b());
        }
        parts.add(table);
        parts.add(baseWeight);
        parts.add(scratch);
        parts.add(rowIndex);
        byName.clear();
        java.util.Arrays.fill(slots, null);
        bytesInUse = 0;
        stagedRows = 0;
        RuntimeException failure = null;
        try {
            backend.synchronize();  // a replay still queued reads the factors, the table and the row index
        } catch (RuntimeException e) {
            failure = e;
        }
        for (AutoCloseable part : parts) {
            if (part == null) {
                continue;
            }
            try {
                part.close();
            } catch (Exception e) {
                if (failure == null) {
                    failure = e instanceof RuntimeException r ? r : new JnoraException("AdapterRegistry.close: " + e, e);
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        context.unregister(this);
        if (failure != null) {
            throw failure;
        }
    }
}
