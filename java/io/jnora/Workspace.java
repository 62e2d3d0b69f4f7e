package io.jnora;

import org.bytedeco.javacpp.FloatPointer;

/**
 * Scratch for the low-rank chain (Z1, Z2, Z3 and their gradients), grown to the largest T seen and
 * then reused, so that steady-state calls allocate nothing; and, for dropout only, one T×n buffer
 * for the adapter's masked input X ⊙ M (reused by the backward for (dZ1 A) ⊙ M).
 */
final class Workspace implements AutoCloseable {
    private final NoraContext context;
    private Matrix z1Matrix, z2Matrix, z3Matrix, dz1Matrix, dz2Matrix, dz3Matrix;
    private Matrix maskedMatrix;
    private int capacityRows = -1;
    private long maskedCapacity = -1;
    FloatPointer z1, z2, z3, dz1, dz2, dz3;
    FloatPointer masked;

    Workspace(NoraContext context) {
        this.context = context;
    }

    void ensure(int rows, int r, int rIn) {
        if (rows <= capacityRows) {
            return;
        }
        int previous = capacityRows;
        retireChain();
        // At least 1.5× the last: batch sizes that creep up one row at a time (prefill lengths while
        // a decode graph is open and keeps every outgrown chain) cost a few chains, not one per size.
        int capacity = Math.max(Math.max(rows, 1), previous + previous / 2);
        z1Matrix = context.allocate(capacity, r);
        z2Matrix = context.allocate(capacity, rIn);
        z3Matrix = context.allocate(capacity, r);
        dz1Matrix = context.allocate(capacity, r);
        dz2Matrix = context.allocate(capacity, rIn);
        dz3Matrix = context.allocate(capacity, r);
        z1 = z1Matrix.pointer();
        z2 = z2Matrix.pointer();
        z3 = z3Matrix.pointer();
        dz1 = dz1Matrix.pointer();
        dz2 = dz2Matrix.pointer();
        dz3 = dz3Matrix.pointer();
        capacityRows = capacity;
    }

    /** Room for a rows×cols masked input in {@link #masked}. */
    void ensureMasked(int rows, int cols) {
        long elements = (long) rows * cols;
        if (elements <= maskedCapacity) {
            return;
        }
        if (maskedMatrix != null) {
            context.retire(maskedMatrix);
        }
        int grownRows = maskedMatrix == null ? 0 : maskedMatrix.rows() + maskedMatrix.rows() / 2;
        maskedMatrix = context.allocate(Math.max(Math.max(rows, 1), grownRows), cols);
        masked = maskedMatrix.pointer();
        maskedCapacity = maskedMatrix.size();
    }

    /**
     * Outgrown: a captured step holds the chain's pointers (they are cached here, not taken from the
     * matrices at each use), so the context keeps the old chain while a capture is open.
     */
    private void retireChain() {
        for (Matrix mat : new Matrix[] {z1Matrix, z2Matrix, z3Matrix, dz1Matrix, dz2Matrix, dz3Matrix}) {
            if (mat != null) {
                context.retire(mat);
            }
        }
        capacityRows = -1;
    }

    private void closeChain() {
        for (Matrix mat : new Matrix[] {z1Matrix, z2Matrix, z3Matrix, dz1Matrix, dz2Matrix, dz3Matrix}) {
            if (mat != null) {
                mat.close();
            }
        }
        capacityRows = -1;
    }

    @Override
    public void close() {
        closeChain();
        if (maskedMatrix != null) {
            maskedMatrix.close();
            maskedMatrix = null;
            maskedCapacity = -1;
        }
    }
}
