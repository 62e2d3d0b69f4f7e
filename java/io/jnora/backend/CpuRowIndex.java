package io.jnora.backend;

/** The CPU's row index: a plain copy of the slots. */
final class CpuRowIndex implements RowIndex {
    private final int[] slots;
    private int rows;

    CpuRowIndex(int capacity) {
        slots = new int[capacity];
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
    }

    @Override
    public int rows() {
        return rows;
    }

    /** The rows of one slot, in order. */
    int[] rowsOf(int slot) {
        return java.util.stream.IntStream.range(0, rows).filter(t -> slots[t] == slot).toArray();
    }

    @Override
    public void close() {
        // Heap memory only.
    }
}
