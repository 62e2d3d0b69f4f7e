package io.jnora.backend;

/**
 * The CPU's row index: a copy of the slots, and the rows gathered by slot (a counting sort done in
 * {@link #set}), so a grouped call visits each slot's rows without scanning the batch per slot.
 */
final class CpuRowIndex implements RowIndex {
    private final int[] slots;
    private final int adapters;
    private final int[] first;  // rows of slot a: order[first[a] .. first[a + 1])
    private final int[] order;
    private int rows;

    CpuRowIndex(int capacity, int adapters) {
        slots = new int[capacity];
        this.adapters = adapters;
        first = new int[adapters + 1];
        order = new int[capacity];
    }

    @Override
    public int capacity() {
        return slots.length;
    }

    @Override
    public void set(int[] values, int count) {
        RowIndexChecks.requireFits(count, values.length, slots.length);
        System.arraycopy(values, 0, slots, 0, count);
        rows = count;
        java.util.Arrays.fill(first, 0);
        for (int t = 0; t < count; t++) {
            int a = slots[t];
            if (a >= 0 && a < adapters) {
                first[a + 1]++;
            }
        }
        for (int a = 0; a < adapters; a++) {
            first[a + 1] += first[a];
        }
        int[] next = java.util.Arrays.copyOf(first, adapters);
        for (int t = 0; t < count; t++) {
            int a = slots[t];
            if (a >= 0 && a < adapters) {
                order[next[a]++] = t;
            }
        }
    }

    @Override
    public int rows() {
        return rows;
    }

    /** How many rows name {@code slot}. */
    int countOf(int slot) {
        return slot < adapters ? first[slot + 1] - first[slot] : 0;
    }

    /** The i-th row (in row order) that names {@code slot}, i < countOf(slot). */
    int rowOf(int slot, int i) {
        return order[first[slot] + i];
    }

    /** The rows of one slot, in order. */
    int[] rowsOf(int slot) {
        int[] out = new int[countOf(slot)];
        for (int i = 0; i < out.length; i++) {
            out[i] = rowOf(slot, i);
        }
        return out;
    }

    @Override
    public void close() {
        // Heap memory only.
    }
}
