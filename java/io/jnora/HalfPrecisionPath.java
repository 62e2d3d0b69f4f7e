package io.jnora;

import io.jnora.backend.ComputeBackend;
import org.bytedeco.javacpp.FloatPointer;

/**
 * The arithmetic of a {@link NestedLinear} whose X, Y, W_base and outer factors are bfloat16 or
 * float16 (issue 4): every product through {@link ComputeBackend#gemmMixed} (half operands, float32
 * accumulation), the trainable inner factors and their gradients in float32. The inner factors meet
 * the half outer factors through half copies (refreshed when they change), so the effective factors
 * A'A (r_in×n) and BB' (m×r_in) are half too; Z1, Z2, Z3 and the inner backward stay float32 (the
 * row transform's kernels), and a float32 intermediate is rounded once where it meets a half operand.
 * Dropout is not offered in half precision (its mask is float32).
 */
final class HalfPrecisionPath implements AutoCloseable {
    private final NoraContext context;
    private final ComputeBackend backend;
    private final Precision p;
    private final int m;
    private final int n;
    private final int r;
    private final int rIn;
    private final float scale;
    private final Matrix innerAHalf;  // A' (r_in×r) rounded to p
    private final Matrix innerBHalf;  // B' (r×r_in) rounded to p
    private final Matrix effectiveA;  // A'A, r_in×n, p
    private final Matrix effectiveB;  // BB', m×r_in, p
    private long innerAVersion = -1;
    private long innerBVersion = -1;
    private Matrix halfScratch;        // a float32 intermediate rounded to p: T×max(r, r_in)
    private Matrix mergedA;
    private Matrix mergedB;

    HalfPrecisionPath(NoraContext context, Precision p, int m, int n, int r, int rIn, float scale) {
        this.context = context;
        this.backend = context.backend();
        this.p = p;
        this.m = m;
        this.n = n;
        this.r = r;
        this.rIn = rIn;
        this.scale = scale;
        innerAHalf = context.allocate(rIn, r, p);
        innerBHalf = context.allocate(r, rIn, p);
        effectiveA = context.allocate(rIn, n, p);
        effectiveB = context.allocate(m, rIn, p);
    }

    /** Y = X Wᵀ + s·X (A'A)ᵀ (BB')ᵀ (EFFECTIVE) or through the float32 row transform (OUTER_FIRST). */
    void forward(Matrix x, Matrix y, Association chosen, Matrix w, Matrix a, Matrix b, Matrix innerA, Matrix innerB,
            Workspace ws, boolean merged) {
        int t = x.rows();
        if (!merged && chosen == Association.EFFECTIVE) {
            refresh(a, b, innerA, innerB);
            // Decode-sized batches: the base GEMV with the adapter in its reduction, when the backend has it.
            if (backend.fusedDecodeForward(p, t, m, n, x.storage(), w.storage(), rIn, scale, effectiveA.storage(),
                    effectiveB.storage(), y.storage())) {
                return;
            }
        }
        backend.gemmMixed(false, true, t, m, n, 1f, x.storage(), w.storage(), p, 0f, y.storage(), p);
        if (merged) {
            return;
        }
        if (chosen == Association.OUTER_FIRST) {
            ws.ensure(t, r, rIn);
            backend.gemmMixed(false, true, t, r, n, 1f, x.storage(), a.storage(), p, 0f, ws.z1, Precision.FLOAT32);
            backend.innerForward(t, r, rIn, scale, ws.z1, innerA.pointer(), innerB.pointer(), ws.z2, ws.z3);
            FloatPointer z3 = rounded(ws.z3, (long) t * r, t);
            backend.gemmMixed(false, true, t, m, r, 1f, z3, b.storage(), p, 1f, y.storage(), p);
        } else {
            FloatPointer z = scratch(t);
            backend.gemmMixed(false, true, t, rIn, n, 1f, x.storage(), effectiveA.storage(), p, 0f, z, p);
            backend.gemmMixed(false, true, t, m, rIn, scale, z, effectiveB.storage(), p, 1f, y.storage(), p);
        }
    }

    /** SPEC §2.6 with half X, dY, W, A, B and dX; float32 chain and gradients. */
    void backward(Matrix x, Matrix dy, Gradients out, Matrix w, Matrix a, Matrix b, Matrix innerA, Matrix innerB,
            Workspace ws) {
        int t = x.rows();
        ws.ensure(t, r, rIn);
        backend.gemmMixed(false, true, t, r, n, 1f, x.storage(), a.storage(), p, 0f, ws.z1, Precision.FLOAT32);
        backend.innerForward(t, r, rIn, scale, ws.z1, innerA.pointer(), innerB.pointer(), ws.z2, ws.z3);
        // dZ3 = s dY B (T×r): dY (T×m) times B (m×r).
        backend.gemmMixed(false, false, t, r, m, scale, dy.storage(), b.storage(), p, 0f, ws.dz3, Precision.FLOAT32);
        backend.weightGrad(t, r, rIn, ws.dz3, ws.z2, out.innerB().pointer());  // dB' = dZ3ᵀ Z2
        backend.innerBackward(t, r, rIn, ws.dz3, innerA.pointer(), innerB.pointer(), ws.dz2, ws.dz1);
        backend.weightGrad(t, rIn, r, ws.dz2, ws.z1, out.innerA().pointer());  // dA' = dZ2ᵀ Z1
        Matrix dx = out.input();
        if (dx != null) {
            backend.gemmMixed(false, false, t, n, m, 1f, dy.storage(), w.storage(), p, 0f, dx.storage(), p);
            refresh(a, b, innerA, innerB);
            FloatPointer dz2 = rounded(ws.dz2, (long) t * rIn, t);  // dX += dZ2 (A'A)
            backend.gemmMixed(false, false, t, n, rIn, 1f, dz2, effectiveA.storage(), p, 1f, dx.storage(), p);
            dx.markModified();
        }
        out.innerA().markModified();
        out.innerB().markModified();
    }

    /** W += s·(BB')(A'A) in p, keeping the factors added so that {@link #unmerge} takes the same off. */
    void merge(Matrix w, Matrix a, Matrix b, Matrix innerA, Matrix innerB) {
        refresh(a, b, innerA, innerB);
        mergedA = context.allocate(rIn, n, p);
        mergedB = context.allocate(m, rIn, p);
        backend.copy(effectiveA.storage(), mergedA.storage(), (mergedA.size() + 1) / 2);
        backend.copy(effectiveB.storage(), mergedB.storage(), (mergedB.size() + 1) / 2);
        backend.gemmMixed(false, false, m, n, rIn, scale, mergedB.storage(), mergedA.storage(), p, 1f, w.storage(), p);
        w.markModified();
    }

    /** W −= what merge() added; W comes back to within the half precision's rounding. */
    void unmerge(Matrix w) {
        backend.gemmMixed(false, false, m, n, rIn, -scale, mergedB.storage(), mergedA.storage(), p, 1f, w.storage(), p);
        w.markModified();
        mergedA.close();
        mergedB.close();
        mergedA = null;
        mergedB = null;
    }

    /** The half effective factors, rebuilt when an inner factor changed since the last build. */
    private void refresh(Matrix a, Matrix b, Matrix innerA, Matrix innerB) {
        if (context.whileCapturing(null, () -> innerAVersion = -1)) {
            innerAVersion = -1;  // rebuilt inside a recording, so that replays follow the inner factors
        }
        if (innerAVersion == innerA.version() && innerBVersion == innerB.version()) {
            return;
        }
        backend.convert(innerA.pointer(), Precision.FLOAT32, innerAHalf.storage(), p, innerA.size());
        backend.convert(innerB.pointer(), Precision.FLOAT32, innerBHalf.storage(), p, innerB.size());
        backend.gemmMixed(false, false, rIn, n, r, 1f, innerAHalf.storage(), a.storage(), p, 0f, effectiveA.storage(), p);
        backend.gemmMixed(false, false, m, rIn, r, 1f, b.storage(), innerBHalf.storage(), p, 0f, effectiveB.storage(), p);
        innerAVersion = innerA.version();
        innerBVersion = innerB.version();
    }

    /** A float32 intermediate (rows×cols, {@code elements} values) rounded to p in the scratch. */
    private FloatPointer rounded(FloatPointer source, long elements, int rows) {
        FloatPointer z = scratch(rows);
        backend.convert(source, Precision.FLOAT32, z, p, elements);
        return z;
    }

    private FloatPointer scratch(int rows) {
        long needed = (long) Math.max(rows, 1) * Math.max(r, rIn);
        if (halfScratch == null || halfScratch.size() < needed) {
            int grown = 0;
            if (halfScratch != null) {
                grown = halfScratch.rows() + halfScratch.rows() / 2;  // at least 1.5×: see Workspace.ensure
                context.retire(halfScratch);  // a captured step may still use it (NoraContext.retire)
            }
            halfScratch = context.allocate(Math.max(Math.max(rows, 1), grown), Math.max(r, rIn), p);
        }
        return halfScratch.storage();
    }

    boolean isMerged() {
        return mergedA != null;
    }

    @Override
    public void close() {
        for (Matrix mat : new Matrix[] {innerAHalf, innerBHalf, effectiveA, effectiveB, halfScratch, mergedA, mergedB}) {
            if (mat != null) {
                mat.close();
            }
        }
    }
}
