package io.jnora.backend;

/** The one argument check both row-index implementations share. */
final class RowIndexChecks {
    private RowIndexChecks() {}

    static void requireFits(int rows, int given, int capacity) {
        if (rows < 0 || rows > given || rows > capacity) {
            throw new IllegalArgumentException("RowIndex.set: " + rows + " rows from " + given
                    + " values into a row index of capacity " + capacity);
        }
    }
}
