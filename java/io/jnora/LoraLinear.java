package io.jnora;

import io.jnora.backend.ComputeBackend;
import org.bytedeco.javacpp.FloatPointer;

/**
 * A linear layer with a plain LoRA adapter whose two factors are both trainable (SPEC §2.10, "both
 * factors of a plain LoRA"):
 *
 * <pre>
 *   Y = X W_baseᵀ + s · (X Aᵀ) Bᵀ        ΔW = s · B A
 * </pre>
 *
 * with frozen {@code W_base} (m×n) and trainable {@code A} (k×n, PEFT's {@code lora_A}) and {@code B}
 * (m×k, {@code lora_B}). The backward gives dA, dB (and dX): with Z = X Aᵀ and dZ = s dY B,
 * dB = s dYᵀ Z, dA = dZᵀ X, dX = dY W_base + dZ A. This is the baseline a nested adapter is compared
 * against at equal trainable parameters; an imported PEFT adapter that is only run, not trained, goes
 * through {@link NestedLinear} instead. The layer owns copies of its factors in its context's memory;
 * not thread-safe.
 */
public final class LoraLinear implements AutoCloseable {
    private final NoraContext context;
    private final ComputeBackend backend;
    private final int m;
    private final int n;
    private final int k;
    private final float scale;
    private final Matrix baseWeight;
    private final Matrix loraA;
    private final Matrix loraB;
    // Z = X Aᵀ and dZ (T×k), grown to the largest T seen.
    private Matrix z;
    private Matrix dz;
    private boolean closed;
    // Captured steps note the layer (NoraContext.noteUse), so a replay after close() names it.
    private final java.util.function.Supplier<String> closedDescription = () -> closed ? describe() : null;

    private LoraLinear(NoraContext context, float[] baseWeight, int m, int n, int k, float[] a, float[] b, float scale) {
        this.context = context;
        this.backend = context.backend();
        this.m = m;
        this.n = n;
        this.k = k;
        this.scale = scale;
        this.baseWeight = context.matrix(m, n, baseWeight);
        this.loraA = context.matrix(k, n, a);
        this.loraB = context.matrix(m, k, b);
        context.register(this);
    }

    /**
     * A layer from host arrays (row-major): W_base m×n, A k×n, B m×k, validated for shapes, the rank
     * (1 ≤ k ≤ min(m, n): a higher rank adds parameters but no expressiveness) and a finite s.
     */
    public static LoraLinear create(NoraContext context, float[] baseWeight, int outFeatures, int inFeatures, int rank,
            float[] loraA, float[] loraB, float scale) {
        final String op = "LoraLinear.create";
        if (baseWeight == null || loraA == null || loraB == null) {
            throw new JnoraException(op + ": baseWeight, loraA and loraB are all required");
        }
        if (outFeatures < 1 || inFeatures < 1) {
            throw new ShapeMismatchException(op + ": W_base must be at least 1×1, got " + outFeatures + "×" + inFeatures);
        }
        if (rank < 1 || rank > Math.min(outFeatures, inFeatures)) {
            throw new InvalidRankException(op + ": rank k = " + rank + " must be in [1, min(m, n) = "
                    + Math.min(outFeatures, inFeatures) + "] for W_base " + outFeatures + "×" + inFeatures);
        }
        Checks.requireFinite(op, "scale s", scale);
        Checks.requireLength(op, "W_base", baseWeight.length, outFeatures, inFeatures);
        Checks.requireLength(op, "lora_A", loraA.length, rank, inFeatures);
        Checks.requireLength(op, "lora_B", loraB.length, outFeatures, rank);
        return new LoraLinear(context, baseWeight, outFeatures, inFeatures, rank, loraA, loraB, scale);
    }

    public int outFeatures() {
        return m;
    }

    public int inFeatures() {
        return n;
    }

    public int rank() {
        return k;
    }

    public float scale() {
        return scale;
    }

    /** Trainable parameters: k·(m + n). */
    public long trainableParameters() {
        return (long) k * (m + n);
    }

    /** A (k×n), trainable. */
    public Matrix loraA() {
        requireOpen();
        return loraA;
    }

    /** B (m×k), trainable. */
    public Matrix loraB() {
        requireOpen();
        return loraB;
    }

    /** Y (T×m) = X W_baseᵀ + s (X Aᵀ) Bᵀ; writes every element of {@code y}. */
    public void forward(Matrix x, Matrix y) {
        final String op = "LoraLinear.forward";
        requireInput(op, x);
        context.requireSameContext(op, "Y", y);
        int t = x.rows();
        Checks.requireShape(op, "Y", y, t, m, "T×m for X " + x.shape() + " and W_base " + baseWeight.shape());
        ensureScratch(t);
        backend.gemm(false, true, t, m, n, 1f, x.pointer(), baseWeight.pointer(), 0f, y.pointer());
        backend.shrink(t, k, n, 1f, x.pointer(), loraA.pointer(), false, z.pointer());          // Z = X Aᵀ
        backend.expand(t, m, k, scale, z.pointer(), loraB.pointer(), false, 1f, y.pointer());   // Y += s Z Bᵀ
        y.markModified();
    }

    /**
     * Writes dA (k×n), dB (m×k) and, unless {@code dx} is null, dX (T×n) for upstream dY (T×m). Z is
     * recomputed from X, so forward and backward need not be paired.
     */
    public void backward(Matrix x, Matrix dy, Matrix dA, Matrix dB, Matrix dx) {
        final String op = "LoraLinear.backward";
        requireInput(op, x);
        int t = x.rows();
        context.requireSameContext(op, "dY", dy);
        Checks.requireShape(op, "dY", dy, t, m, "T×m for X " + x.shape() + " and W_base " + baseWeight.shape());
        context.requireSameContext(op, "dA", dA);
        context.requireSameContext(op, "dB", dB);
        Checks.requireShape(op, "dA", dA, k, n, "the shape of A");
        Checks.requireShape(op, "dB", dB, m, k, "the shape of B");
        if (dx != null) {
            context.requireSameContext(op, "dX", dx);
            Checks.requireShape(op, "dX", dx, t, n, "the shape of X");
        }
        ensureScratch(t);
        backend.shrink(t, k, n, 1f, x.pointer(), loraA.pointer(), false, z.pointer());           // Z = X Aᵀ
        backend.gemm(true, false, m, k, t, scale, dy.pointer(), z.pointer(), 0f, dB.pointer());  // dB = s dYᵀ Z
        backend.shrink(t, k, m, scale, dy.pointer(), loraB.pointer(), true, dz.pointer());      // dZ = s dY B
        backend.weightGrad(t, k, n, dz.pointer(), x.pointer(), dA.pointer());                  // dA = dZᵀ X
        if (dx != null) {
            backend.gemm(false, false, t, n, m, 1f, dy.pointer(), baseWeight.pointer(), 0f, dx.pointer());
            backend.expand(t, n, k, 1f, dz.pointer(), loraA.pointer(), true, 1f, dx.pointer());  // dX += dZ A
            dx.markModified();
        }
        dA.markModified();
        dB.markModified();
    }

    private void ensureScratch(int rows) {
        if (z != null && z.rows() >= rows) {
            return;
        }
        int capacity = rows;
        if (z != null) {
            capacity = Math.max(rows, z.rows() + z.rows() / 2);  // at least 1.5×: see Workspace.ensure
            context.retire(z);  // a captured step may still use them (NoraContext.retire)
            context.retire(dz);
        }
        z = context.allocate(capacity, k);
        dz = context.allocate(capacity, k);
    }

    private void requireInput(String operation, Matrix x) {
        requireOpen();
        context.requireSameContext(operation, "X", x);
        Checks.requireCols(operation, "X", x, n, "the layer takes n = " + n + " input features; W_base is "
                + baseWeight.shape());
    }

    private void requireOpen() {
        context.noteUse(closedDescription);
        if (closed) {
            throw new IllegalStateException(describe() + " is closed");
        }
    }

    private String describe() {
        return "LoraLinear (" + m + "×" + n + ", k=" + k + ")";
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        baseWeight.close();
        loraA.close();
        loraB.close();
        if (z != null) {
            z.close();
            dz.close();
        }
        context.unregister(this);
    }

    @Override
    public String toString() {
        return "LoraLinear[m=" + m + ", n=" + n + ", k=" + k + ", s=" + scale + "]";
    }
}
