package io.jnora.backend;

import static org.bytedeco.cuda.global.cudart.cudaEventCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaEventDestroy;
import static org.bytedeco.cuda.global.cudart.cudaEventDisableTiming;
import static org.bytedeco.cuda.global.cudart.cudaEventRecord;
import static org.bytedeco.cuda.global.cudart.cudaEventSynchronize;
import static org.bytedeco.cuda.global.cudart.cudaFreeHost;
import static org.bytedeco.cuda.global.cudart.cudaMallocHost;

import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The CUDA row index: a device array and its pinned host staging. {@link #set} writes the staging and
 * queues an asynchronous copy on the stream; the grouped kernels that follow on the same stream see
 * the new values. The staging is rewritten only after the previous copy has run (an event; in
 * steady state it has long completed, so nothing waits), which is what lets {@code set} return
 * without a stream synchronisation.
 */
final class CudaRowIndex implements RowIndex {
    private final CudaBackend backend;
    private final int capacity;
    final IntPointer device;
    private final IntPointer pinned;
    private final CUevent_st copied = new CUevent_st();
    private boolean copyQueued;
    private int rows;
    private boolean closed;

    CudaRowIndex(CudaBackend backend, int capacity) {
        this.backend = backend;
        this.capacity = capacity;
        long bytes = (long) Math.max(1, capacity) * Integer.BYTES;
        device = new IntPointer(backend.deviceBytesForTable(bytes, "per-row adapter indices"));
        Pointer host = new Pointer();
        try {
            CudaBackend.cuda(cudaMallocHost(host, bytes), "cudaMallocHost(" + bytes + " bytes for row indices)");
            CudaBackend.cuda(cudaEventCreateWithFlags(copied, cudaEventDisableTiming), "cudaEventCreateWithFlags");
        } catch (RuntimeException e) {
            if (!host.isNull()) {
                cudaFreeHost(host);
            }
            backend.freeDeviceBytes(device);
            throw e;
        }
        pinned = new IntPointer(host).capacity(Math.max(1, capacity));
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
        cudaFreeHost(pinned);
        backend.freeDeviceBytes(device);
    }
}
