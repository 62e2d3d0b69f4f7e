package io.jnora;

import org.bytedeco.javacpp.FloatPointer;

/**
 * Scratch for the low-rank chain (Z1, Z2, Z3 and their gradients), grown to the largest T seen and
 * then reused, so that steady-state calls allocate nothing.
 */
final class Workspace implements AutoCloseable {
    private final NoraContext context;
    private Matrix z1Matrix, z2Matrix, z3Matrix, dz1Matrix, dz2Matrix, dz3Matrix;
    private int capacityRows = -1;
    FloatPointer z1, z2, z3, dz1, dz2, dz3;

    Workspace(NoraContext context) {
        this.context = context;
    }

    void ensure(int rows, int r, int rIn) {
        if (rows <= capacityRows) {
            return;
        }
        close();
        int capacity = Math.max(rows, 1);
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

    @Override
    public void close() {
        for (Matrix mat : new Matrix[] {z1Matrix, z2Matrix, z3Matrix, dz1Matrix, dz2Matrix, dz3Matrix}) {
            if (mat != null) {
                mat.close();
            }
        }
        capacityRows = -1;
    }
}
