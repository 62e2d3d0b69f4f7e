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
 * The CUDA row index: device arrays and the pinned host staging of the rows' slots. {@link #set}
 * writes the staging and queues an asynchronous copy on the stream; the grouped kernels that follow
 * on the same stream see the new values. The staging is rewritten only after the previous copy has
 * run (an event; in steady state it has long completed, so nothing waits), which is what lets
 * {@code set} return without a stream synchronisation.
 *
 * <p>One device buffer, four regions: the rows' slots (what {@code set} uploads; read by the
 * row-at-a-time kernels of decode-sized batches), then the rows gathered by slot, the tiles over
 * them and the layout kernel's workspace. The segment-grouped kernels of larger batches ({@link
 * CudaBackend#segmented}) make the gathering on the device first ({@code
 * jnora_segment_layout_device}), within the same launch sequence, so a CUDA graph replays it too.
 */
final class CudaRowIndex implements RowIndex {
    private final CudaBackend backend;
    private final int capacity;
    private final int adapters;
    private final IntPointer deviceBuffer;
    final IntPointer device;  // slots
    final IntPointer deviceOrder;
    final IntPointer deviceTiles;
    final IntPointer deviceWorkspace;
    private final IntPointer pinned;
    private final CUevent_st copied = new CUevent_st();
    private boolean copyQueued;
    private int rows;
    private boolean closed;

    CudaRowIndex(CudaBackend backend, int capacity, int adapters) {
        this.backend = backend;
        this.capacity = capacity;
        this.adapters = adapters;
        int maxTiles = JnoraNative.jnora_segment_tiles_capacity(capacity, adapters);
        int workspaceInts = JnoraNative.jnora_segment_layout_workspace_ints(adapters);
        if (maxTiles == Integer.MAX_VALUE || workspaceInts < 0) {
            throw new io.jnora.CapacityExceededException("row index: " + capacity + " rows over " + adapters
                    + " adapter slots need more tiles or workspace than an int counts");
        }
        long orderOffset = Math.max(1, capacity);
        long tilesOffset = 2L * orderOffset;
        long workspaceOffset = tilesOffset + 1 + 3L * maxTiles;
        long ints = workspaceOffset + Math.max(1, workspaceInts);
        long bytes = ints * Integer.BYTES;
        deviceBuffer = new IntPointer(backend.deviceBytesForTable(bytes, "per-row adapter indices and segments"));
        long pinnedBytes = orderOffset * Integer.BYTES;
        Pointer host = null;
        try {
            host = backend.pinnedHost(pinnedBytes, "row indices");
            CudaBackend.cuda(cudaEventCreateWithFlags(copied, cudaEventDisableTiming), "cudaEventCreateWithFlags");
        } catch (RuntimeException e) {
            backend.freePinnedHost(host);
            backend.freeDeviceBytes(deviceBuffer);
            throw e;
        }
        pinned = new IntPointer(host).capacity(orderOffset);
        device = deviceBuffer.getPointer(0);
        deviceOrder = deviceBuffer.getPointer(orderOffset);
        deviceTiles = deviceBuffer.getPointer(tilesOffset);
        deviceWorkspace = deviceBuffer.getPointer(workspaceOffset);
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
        backend.copyToDevice(pinned, device, (long) count * Integer.BYTES);
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
