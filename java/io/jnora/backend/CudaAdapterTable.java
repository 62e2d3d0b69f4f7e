package io.jnora.backend;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The CUDA adapter table: host mirrors of the slots and their device copies (pointer tables, ranks,
 * scales), re-uploaded whole on every change — they are a few bytes per slot, and changes happen
 * between batches, never inside one.
 */
final class CudaAdapterTable implements AdapterTable {
    private final CudaBackend backend;
    private final long[] aAddress;
    private final long[] bAddress;
    private final int[] ranks;
    private final float[] scales;
    final Pointer deviceA;
    final Pointer deviceB;
    final IntPointer deviceRanks;
    final FloatPointer deviceScales;
    private boolean closed;

    CudaAdapterTable(CudaBackend backend, int capacity) {
        this.backend = backend;
        aAddress = new long[capacity];
        bAddress = new long[capacity];
        ranks = new int[capacity];
        scales = new float[capacity];
        int n = Math.max(1, capacity);
        Pointer[] made = new Pointer[4];
        try {
            made[0] = backend.deviceBytesForTable((long) n * Long.BYTES, "adapter table A pointers");
            made[1] = backend.deviceBytesForTable((long) n * Long.BYTES, "adapter table B pointers");
            made[2] = backend.deviceBytesForTable((long) n * Integer.BYTES, "adapter table ranks");
            made[3] = backend.deviceBytesForTable((long) n * Float.BYTES, "adapter table scales");
        } catch (RuntimeException e) {
            for (Pointer p : made) {  // what was allocated before the failure has no other owner
                if (p != null) {
                    backend.freeDeviceBytes(p);
                }
            }
            throw e;
        }
        deviceA = made[0];
        deviceB = made[1];
        deviceRanks = new IntPointer(made[2]);
        deviceScales = new FloatPointer(made[3]);
        try {
            upload();
        } catch (RuntimeException e) {
            close();  // nobody else holds the tables yet
            throw e;
        }
    }

    @Override
    public int capacity() {
        return ranks.length;
    }

    @Override
    public void set(int slot, FloatPointer a, FloatPointer b, int rank, float scale) {
        aAddress[slot] = a == null ? 0 : a.address();
        bAddress[slot] = b == null ? 0 : b.address();
        ranks[slot] = rank;
        scales[slot] = scale;
        upload();
    }

    @Override
    public void clear(int slot) {
        set(slot, null, null, 0, 0f);
    }

    @Override
    public int maxRank() {
        int max = 0;
        for (int r : ranks) {
            max = Math.max(max, r);
        }
        return max;
    }

    private void upload() {
        int n = ranks.length;
        if (n == 0) {
            return;
        }
        try (LongPointer a = new LongPointer(aAddress); LongPointer b = new LongPointer(bAddress);
                IntPointer r = new IntPointer(ranks); FloatPointer s = new FloatPointer(scales)) {
            backend.copyToDevice(a, deviceA, (long) n * Long.BYTES);
            backend.copyToDevice(b, deviceB, (long) n * Long.BYTES);
            backend.copyToDevice(r, deviceRanks, (long) n * Integer.BYTES);
            backend.copyToDevice(s, deviceScales, (long) n * Float.BYTES);
            backend.synchronize();  // the host staging is freed on return
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Pointer p : new Pointer[] {deviceA, deviceB, deviceRanks, deviceScales}) {
            backend.freeDeviceBytes(p);
        }
    }
}
