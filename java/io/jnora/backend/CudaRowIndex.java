package io.jnora.backend;

import static org.bytedeco.cuda.global.cudart.cudaEventCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaEventDestroy;
import static org.bytedeco.cuda.global.cudart.cudaEventDisableTiming;
import static org.bytedeco.cuda.global.cudart.cudaEventRecord;
import static org.bytedeco.cuda.global.cudart.cudaEventSynchronize;

import io.jnora.binding.JnoraNative;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The CUDA row index: device arrays and their pinned host staging. {@link #set} writes the staging and
 * queues an asynchronous copy on the stream; the grouped kernels that follow on the same stream see
 * the new values. The staging is rewritten only after the previous copy has run (an event; in
 * steady state it has long completed, so nothing waits), which is what lets {@code set} return
 * without a stream synchronisation.
 *
 * <p>One buffer, three regions: the rows' slots (read by the row-at-a-time kernels of decode-sized
 * batches), then the rows gathered by slot and the tiles over them (read by the segment-grouped
 * kernels of larger batches, {@link CudaBackend#segmented}). {@code set} fills and uploads only what
 * the batch's kernels read; the segment layout is made on the host by {@code jnora_segment_layout}.
 */
final class CudaRowIndex implements RowIndex {
    private final CudaBackend backend;
    private final int capacity;
    private final int adapters;
    private final long orderOffset;  // in ints
    private final long tilesOffset;
    private final int maxTiles;
    private final IntPointer deviceBuffer;
    final IntPointer device;  // slots
    final IntPointer deviceOrder;
    final IntPointer deviceTiles;
    private final IntPointer pinned;
    private final IntPointer pinnedOrder;
    private final IntPointer pinnedTiles;
    private final CUevent_st copied = new CUevent_st();
    private boolean copyQueued;
    private int rows;
    private boolean closed;

    CudaRowIndex(CudaBackend backend, int capacity, int adapters) {
        this.backend = backend;
        this.capacity = capacity;
        this.adapters = adapters;
        this.maxTiles = JnoraNative.jnora_segment_tiles_capacity(capacity, adapters);
        orderOffset = Math.max(1, capacity);
        tilesOffset = 2L * orderOffset;
        long ints = tilesOffset + 1 + 3L * maxTiles;
        long bytes = ints * Integer.BYTES;
        deviceBuffer = new IntPointer(backend.deviceBytesForTable(bytes, "per-row adapter indices and segments"));
        Pointer host = null;
        try {
            host = backend.pinnedHost(bytes, "row indices");
            CudaBackend.cuda(cudaEventCreateWithFlags(copied, cudaEventDisableTiming), "cudaEventCreateWithFlags");
        } catch (RuntimeException e) {
            backend.freePinnedHost(host);
            backend.freeDeviceBytes(deviceBuffer);
            throw e;
        }
        pinned = new IntPointer(host).capacity(ints);
        device = deviceBuffer.getPointer(0);
        deviceOrder = deviceBuffer.getPointer(orderOffset);
        deviceTiles = deviceBuffer.getPointer(tilesOffset);
        pinnedOrder = pinned.getPointer(orderOffset);
        pinnedTiles = pinned.getPointer(tilesOffset);
    }

    @Override
    public int capacity() {
        return capacity;
    }

    @Override
    public void set(int[] slots, int count) {
        RowIndexChecks.requireFits(count, slots.length, capacity);
        if (copyQueued) {
            CudaBackend.cuda(cudaEventSynchronize(copied), "cudaEventSynchronize(row index copy)");
        }
        pinned.position(0).put(slots, 0, count);
        if (CudaBackend.segmented(count)) {
            NativeLibrary.check(JnoraNative.jnora_segment_layout(count, pinned, adapters, pinnedOrder, pinnedTiles,
                    maxTiles), "jnora_segment_layout");
            // The rows gathered (at most count) and the tiles used: not the whole order region.
            backend.copyToDevice(pinnedOrder, deviceOrder, (long) count * Integer.BYTES);
            backend.copyToDevice(pinnedTiles, deviceTiles, (1 + 3L * pinnedTiles.get(0)) * Integer.BYTES);
        } else {
            backend.copyToDevice(pinned, device, (long) count * Integer.BYTES);
        }
        CudaBackend.cuda(cudaEventRecord(copied, backend.stream()), "cudaEventRecord(row index copy)");
        copyQueued = true;
        rows = count;
    }

    @Override
    public int rows() {
        return rows;
    }

    /** The table size the segment layout was made for. */
    int adapters() {
        return adapters;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (copyQueued) {
            cudaEventSynchronize(copied);  // the copy reads the pinned buffer: let it finish first
        }
        cudaEventDestroy(copied);
        backend.freePinnedHost(pinned);
        backend.freeDeviceBytes(deviceBuffer);
    }
}
