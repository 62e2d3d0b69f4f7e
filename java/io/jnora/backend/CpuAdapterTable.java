package io.jnora.backend;

import org.bytedeco.javacpp.FloatPointer;

/** The CPU's adapter table: plain arrays; the grouped call is the reference (rows gathered per slot). */
final class CpuAdapterTable implements AdapterTable {
    final FloatPointer[] a;
    final FloatPointer[] b;
    final int[] ranks;
    final float[] scales;

    CpuAdapterTable(int capacity) {
        a = new FloatPointer[capacity];
        b = new FloatPointer[capacity];
        ranks = new int[capacity];
        scales = new float[capacity];
    }

    @Override
    public int capacity() {
        return ranks.length;
    }

    @Override
    public void set(int slot, FloatPointer aEff, FloatPointer bEff, int rank, float scale) {
        a[slot] = aEff;
        b[slot] = bEff;
        ranks[slot] = rank;
        scales[slot] = scale;
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

    @Override
    public void close() {
        java.util.Arrays.fill(a, null);
        java.util.Arrays.fill(b, null);
    }
}
