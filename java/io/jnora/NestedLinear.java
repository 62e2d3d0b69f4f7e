package io.jnora;

import io.jnora.backend.ComputeBackend;
import org.bytedeco.javacpp.FloatPointer;

/**
 * A linear layer with a nested low-rank adapter (SPEC §2):
 *
 * <pre>
 *   Y = X W_baseᵀ + s · (((X Aᵀ) A'ᵀ) B'ᵀ) Bᵀ        ΔW = s · B B' A' A
 * </pre>
 *
 * with frozen {@code W_base} (m×n), outer {@code A} (r×n) and {@code B} (m×r), and trainable inner
 * {@code A'} (r_in×r) and {@code B'} (r×r_in). The layer owns copies of its factors in its
 * context's memory. Not thread-safe; closing it (or its context) frees everything it holds.
 */
public final class NestedLinear implements AutoCloseable {
    private final NoraContext context;
    private final ComputeBackend backend;
    private final int m;
    private final int n;
    private final int r;
    private final int rIn;
    private final float scale;
    private final Matrix baseWeight;
    private final Matrix outerA;
    private final Matrix outerB;
    private final Matrix innerA;
    private final Matrix innerB;

    // Effective factors A_eff = A'A (r_in×n) and B_eff = BB' (m×r_in), valid while the inner
    // factors keep the versions they had when these were built (SPEC §2.5).
    private Matrix effectiveA;
    private Matrix effectiveB;
    private long effectiveInnerAVersion = -1;
    private long effectiveInnerBVersion = -1;

    // merge(): the effective factors folded into the base, kept so that unmerge() subtracts exactly
    // what was added, and the inner factors' versions at that moment.
    private Matrix mergedA;
    private Matrix mergedB;
    private long mergedInnerAVersion;
    private long mergedInnerBVersion;

    private final Workspace workspace;
    private final Precision precision;
    private final HalfPrecisionPath half;  // null for FLOAT32
    private boolean closed;
    // Captured steps note the layer (NoraContext.noteUse): its workspace pointers are cached, so a
    // replay after close() is refused by naming the layer rather than reaching freed scratch.
    private final java.util.function.Supplier<String> closedDescription = () -> closed ? describe() : null;

    private NestedLinear(Builder b) {
        this.context = b.context;
        this.backend = b.context.backend();
        this.m = b.m;
        this.n = b.n;
        this.r = b.r;
        this.rIn = b.rIn;
        this.scale = b.scale;
        this.precision = b.precision;
        this.baseWeight = context.matrix(m, n, b.baseWeight, precision);
        this.outerA = context.matrix(r, n, b.outerA, precision);
        this.outerB = context.matrix(m, r, b.outerB, precision);
        this.innerA = context.matrix(rIn, r, b.innerA);
        this.innerB = context.matrix(r, rIn, b.innerB);
        this.workspace = new Workspace(context);
        this.half = precision.isHalf() ? new HalfPrecisionPath(context, precision, m, n, r, rIn, scale) : null;
        context.register(this);
    }

    public static Builder builder(NoraContext context) {
        return new Builder(context);
    }

    public int outFeatures() {
        return m;
    }

    public int inFeatures() {
        return n;
    }

    public int outerRank() {
        return r;
    }

    public int innerRank() {
        return rIn;
    }

    public float scale() {
        return scale;
    }

    /** The precision of X, Y, W_base and the outer factors (the inner factors are FLOAT32). */
    public Precision precision() {
        return precision;
    }

    /** Trainable parameters: 2·r·r_in (NoRA eq. 4). */
    public long trainableParameters() {
        return 2L * r * rIn;
    }

    /** The inner factor A' (r_in×r); writing it (copyFrom) invalidates the effective-factor cache. */
    public Matrix innerA() {
        requireOpen();
        return innerA;
    }

    /** The inner factor B' (r×r_in); writing it invalidates the effective-factor cache. */
    public Matrix innerB() {
        requireOpen();
        return innerB;
    }

    /** Y = X W_baseᵀ + adapter term, in a new T×m matrix, with {@link Association#AUTO}. */
    public Matrix forward(Matrix x) {
        return forward(x, Association.AUTO);
    }

    public Matrix forward(Matrix x, Association association) {
        requireInput("NestedLinear.forward", x);
        Matrix y = context.allocate(x.rows(), m, precision);  // Y in the layer's precision
        try {
            forward(x, y, association);
        } catch (RuntimeException e) {
            y.close();
            throw e;
        }
        return y;
    }

    /** Writes every element of {@code y} (T×m). */
    public void forward(Matrix x, Matrix y, Association association) {
        forward(x, y, association, null);
    }

    /**
     * The training forward with dropout on the adapter's input (SPEC §2.10, PEFT's lora_dropout):
     * Y = X W_baseᵀ + s·((((X ⊙ M) Aᵀ) A'ᵀ) B'ᵀ) Bᵀ, with M the mask's scaled values (T×n); the base
     * GEMM sees X itself. {@code mask} null is the plain forward. Writes every element of {@code y}.
     */
    public void forward(Matrix x, Matrix y, Association association, DropoutMask mask) {
        final String op = "NestedLinear.forward";
        requireInput(op, x);
        context.requireSameContext(op, "Y", y);
        int t = x.rows();
        Checks.requireShape(op, "Y", y, t, m, "T×m for X " + x.shape() + " and W_base " + baseWeight.shape());
        requireMask(op, x, mask);
        Association chosen = association == Association.AUTO ? cheaperAssociation(t) : association;
        if (context.insideCapturedStep()) {
            // Merged or not is decided here, once, for a recorded graph: a replay after merge() or
            // unmerge() would add the adapter twice or not at all, so it is refused.
            final boolean recordedMerged = isMerged();
            context.checkBeforeReplay(() -> !closed && isMerged() != recordedMerged
                    ? "its " + this + " was " + (recordedMerged ? "unmerged" : "merged") + " since it was recorded;"
                            + " capture it again"
                    : null);
        }
        if (half != null) {
            requirePrecision(op, "X", x);
            requirePrecision(op, "Y", y);
            if (isMerged()) {
                requireMergedInnerUnchanged(op);
            }
            half.forward(x, y, chosen, baseWeight, outerA, outerB, innerA, innerB, workspace, isMerged());
            y.markModified();
            return;
        }
        if (fusedDecode(x, y, chosen, mask)) {
            return;
        }

        backend.gemm(false, true, t, m, n, 1f, x.pointer(), baseWeight.pointer(), 0f, y.pointer());
        if (isMerged()) {
            requireMergedInnerUnchanged(op);  // the adapter is inside the base weight: nothing to add
        } else {
            FloatPointer adapterInput = maskedInput(x, mask);
            if (chosen == Association.OUTER_FIRST) {
                workspace.ensure(t, r, rIn);
                backend.shrink(t, r, n, 1f, adapterInput, outerA.pointer(), false, workspace.z1);
                backend.innerForward(t, r, rIn, scale, workspace.z1, innerA.pointer(), innerB.pointer(),
                        workspace.z2, workspace.z3);
                backend.expand(t, m, r, 1f, workspace.z3, outerB.pointer(), false, 1f, y.pointer());
            } else {
                useEffectiveFactors();
                workspace.ensure(t, r, rIn);
                backend.shrink(t, rIn, n, 1f, adapterInput, effectiveA.pointer(), false, workspace.z2);
                backend.expand(t, m, rIn, scale, workspace.z2, effectiveB.pointer(), false, 1f, y.pointer());
            }
        }
        y.markModified();
    }

    /**
     * The decode-sized forward in one fused pass where the backend has one (CUDA, T ≤ 16, no mask): the
     * base GEMV and the adapter term in two launches. Returns false when the generic path must run.
     */
    private boolean fusedDecode(Matrix x, Matrix y, Association chosen, DropoutMask mask) {
        if (mask != null || isMerged() || chosen != Association.EFFECTIVE) {
            return false;
        }
        useEffectiveFactors();
        if (!backend.fusedDecodeForward(x.rows(), m, n, x.pointer(), baseWeight.pointer(), rIn, scale,
                effectiveA.pointer(), effectiveB.pointer(), y.pointer())) {
            return false;
        }
        y.markModified();
        return true;
    }

    /** X itself, or X ⊙ M in the workspace when a mask is given. */
    private FloatPointer maskedInput(Matrix x, DropoutMask mask) {
        if (mask == null) {
            return x.pointer();
        }
        workspace.ensureMasked(x.rows(), n);
        backend.multiplyAdd(x.size(), 1f, x.pointer(), mask.values().pointer(), 0f, workspace.masked);
        return workspace.masked;
    }

    private void requireMask(String operation, Matrix x, DropoutMask mask) {
        if (mask == null) {
            return;
        }
        if (half != null) {
            throw new ShapeMismatchException(operation + ": dropout takes a FLOAT32 layer; this one is " + precision);
        }
        context.requireSameContext(operation, "dropout mask", mask.values());
        Checks.requireShape(operation, "dropout mask", mask.values(), x.rows(), n, "the shape of X " + x.shape());
        if (isMerged()) {
            throw new IllegalStateException(operation + ": dropout is a training operation; the adapter is merged "
                    + "into the base weight, unmerge() to train");
        }
    }

    /**
     * Folds s·B B' A' A into the base weight (SPEC §2.5): the forward then costs the base GEMM alone.
     * While merged, the forward adds nothing, the backward is refused (unmerge to train) and so is a
     * forward after an inner factor changed (the merged weight would be stale).
     */
    public void merge() {
        requireOpen();
        if (isMerged()) {
            throw new IllegalStateException("NestedLinear.merge: already merged");
        }
        if (half != null) {
            half.merge(baseWeight, outerA, outerB, innerA, innerB);
            mergedInnerAVersion = innerA.version();
            mergedInnerBVersion = innerB.version();
            return;
        }
        useEffectiveFactors();
        mergedA = context.allocate(rIn, n);
        mergedB = context.allocate(m, rIn);
        backend.copy(effectiveA.pointer(), mergedA.pointer(), mergedA.size());
        backend.copy(effectiveB.pointer(), mergedB.pointer(), mergedB.size());
        backend.gemm(false, false, m, n, rIn, scale, mergedB.pointer(), mergedA.pointer(), 1f, baseWeight.pointer());
        baseWeight.markModified();
        mergedInnerAVersion = innerA.version();
        mergedInnerBVersion = innerB.version();
    }

    /** Restores the base weight merge() changed, to float rounding: W_base − s·(BB')(A'A) as merged. */
    public void unmerge() {
        requireOpen();
        if (!isMerged()) {
            throw new IllegalStateException("NestedLinear.unmerge: not merged");
        }
        if (half != null) {
            half.unmerge(baseWeight);
            return;
        }
        backend.gemm(false, false, m, n, rIn, -scale, mergedB.pointer(), mergedA.pointer(), 1f, baseWeight.pointer());
        baseWeight.markModified();
        mergedA.close();
        mergedB.close();
        mergedA = null;
        mergedB = null;
    }

    public boolean isMerged() {
        return half != null ? half.isMerged() : mergedA != null;
    }

    /** The base weight the layer runs on (m×n); with the adapter folded in while merged. */
    public Matrix baseWeight() {
        requireOpen();
        return baseWeight;
    }

    private void requireMergedInnerUnchanged(String operation) {
        if (innerA.version() != mergedInnerAVersion || innerB.version() != mergedInnerBVersion) {
            throw new IllegalStateException(operation + ": an inner factor changed after merge(); unmerge() first");
        }
    }

    /** Y = X W_baseᵀ alone (the adapter disabled): the baseline the adapter's overhead is measured against. */
    public void forwardBase(Matrix x, Matrix y) {
        final String op = "NestedLinear.forwardBase";
        requireInput(op, x);
        context.requireSameContext(op, "Y", y);
        Checks.requireShape(op, "Y", y, x.rows(), m, "T×m for X " + x.shape() + " and W_base " + baseWeight.shape());
        if (half != null) {
            requirePrecision(op, "X", x);
            requirePrecision(op, "Y", y);
            backend.gemmMixed(false, true, x.rows(), m, n, 1f, x.storage(), baseWeight.storage(), precision, 0f,
                    y.storage(), precision);
        } else {
            backend.gemm(false, true, x.rows(), m, n, 1f, x.pointer(), baseWeight.pointer(), 0f, y.pointer());
        }
        y.markModified();
    }

    /** The association {@link Association#AUTO} picks for T rows now (depends on the cache state). */
    public Association cheaperAssociation(int rows) {
        long width = (long) n + m;
        long outerFirst = (long) rows * r * width + 2L * rows * r * rIn;
        long effective = (long) rows * rIn * width + (effectiveFactorsFresh() ? 0 : (long) r * rIn * width);
        return effective <= outerFirst ? Association.EFFECTIVE : Association.OUTER_FIRST;
    }

    /** Backward for upstream dY (T×m): new gradients of A', B' and X (SPEC §2.6). */
    public Gradients backward(Matrix x, Matrix dy) {
        requireInput("NestedLinear.backward", x);
        Gradients g = new Gradients(context.allocate(rIn, r), context.allocate(r, rIn),
                context.allocate(x.rows(), n, precision));  // dX in the layer's precision
        try {
            backward(x, dy, g);
        } catch (RuntimeException e) {
            g.close();
            throw e;
        }
        return g;
    }

    /**
     * Writes every element of the gradients; {@code out.input()} null skips dX (and its GEMM). Z1 = X Aᵀ
     * and Z2 are recomputed from X (one shrink) rather than kept from the forward, so forward and
     * backward need not be paired.
     */
    public void backward(Matrix x, Matrix dy, Gradients out) {
        backward(x, dy, out, null);
    }

    /**
     * The backward of the dropped forward (same {@code mask}, SPEC §2.10): Z1 = (X ⊙ M) Aᵀ, and
     * dX = dY W_base + (dZ1 A) ⊙ M. {@code mask} null is the plain backward.
     */
    public void backward(Matrix x, Matrix dy, Gradients out, DropoutMask mask) {
        final String op = "NestedLinear.backward";
        requireInput(op, x);
        int t = x.rows();
        context.requireSameContext(op, "dY", dy);
        Checks.requireShape(op, "dY", dy, t, m, "T×m for X " + x.shape() + " and W_base " + baseWeight.shape());
        context.requireSameContext(op, "dA'", out.innerA());
        context.requireSameContext(op, "dB'", out.innerB());
        Checks.requireShape(op, "dA'", out.innerA(), rIn, r, "the shape of A'");
        Checks.requireShape(op, "dB'", out.innerB(), r, rIn, "the shape of B'");
        Matrix dx = out.input();
        if (dx != null) {
            context.requireSameContext(op, "dX", dx);
            Checks.requireShape(op, "dX", dx, t, n, "the shape of X");
        }
        requireMask(op, x, mask);

        if (isMerged()) {
            throw new IllegalStateException(op + ": the adapter is merged into the base weight; unmerge() to train");
        }
        if (half != null) {
            requirePrecision(op, "X", x);
            requirePrecision(op, "dY", dy);
            if (dx != null) {
                requirePrecision(op, "dX", dx);
            }
            half.backward(x, dy, out, baseWeight, outerA, outerB, innerA, innerB, workspace);
            return;
        }
        workspace.ensure(t, r, rIn);
        Workspace w = workspace;
        FloatPointer adapterInput = maskedInput(x, mask);
        backend.shrink(t, r, n, 1f, adapterInput, outerA.pointer(), false, w.z1);
        backend.innerForward(t, r, rIn, scale, w.z1, innerA.pointer(), innerB.pointer(), w.z2, w.z3);
        backend.shrink(t, r, m, scale, dy.pointer(), outerB.pointer(), true, w.dz3);     // dZ3 = s dY B
        backend.weightGrad(t, r, rIn, w.dz3, w.z2, out.innerB().pointer());              // dB' = dZ3ᵀ Z2
        backend.innerBackward(t, r, rIn, w.dz3, innerA.pointer(), innerB.pointer(), w.dz2, w.dz1);
        backend.weightGrad(t, rIn, r, w.dz2, w.z1, out.innerA().pointer());              // dA' = dZ2ᵀ Z1
        if (dx != null) {
            backend.gemm(false, false, t, n, m, 1f, dy.pointer(), baseWeight.pointer(), 0f, dx.pointer());
            // The adapter's part of dX is dZ1 A = dZ2 (A' A): rank r_in through the effective factor
            // instead of rank r through A, once T (r − r_in) n outweighs refreshing A' A (free when
            // the forward already did, as it does on effective factors).
            boolean effective = (long) t * (r - rIn) * n
                    > (effectiveFactorsFresh() ? 0L : (long) r * rIn * ((long) n + m));
            if (effective) {
                useEffectiveFactors();
            }
            int k = effective ? rIn : r;
            FloatPointer dz = effective ? w.dz2 : w.dz1;
            FloatPointer factor = effective ? effectiveA.pointer() : outerA.pointer();
            if (mask == null) {
                backend.expand(t, n, k, 1f, dz, factor, true, 1f, dx.pointer());  // dX += dZ1 A
            } else {
                // (dZ1 A) into the masked-input scratch (X ⊙ M is no longer needed), then dX += it ⊙ M.
                backend.expand(t, n, k, 1f, dz, factor, true, 0f, w.masked);
                backend.multiplyAdd(dx.size(), 1f, w.masked, mask.values().pointer(), 1f, dx.pointer());
            }
            dx.markModified();
        }
        out.innerA().markModified();
        out.innerB().markModified();
    }

    private boolean effectiveFactorsFresh() {
        return effectiveA != null && effectiveInnerAVersion == innerA.version()
                && effectiveInnerBVersion == innerB.version();
    }

    /**
     * The effective factors for a use: rebuilt if stale. While a step is being captured they are
     * rebuilt whatever the cache says, so that the rebuild is recorded and every replay uses the
     * inner factors as they are then (an optimiser may have changed them on the device); the host's
     * bookkeeping cannot follow replays, so the cache counts as stale once the recording ends.
     */
    private void useEffectiveFactors() {
        if (context.whileCapturing(null, () -> effectiveInnerAVersion = -1)) {
            effectiveInnerAVersion = -1;
        }
        refreshEffectiveFactors();
    }

    private void refreshEffectiveFactors() {
        if (effectiveFactorsFresh()) {
            return;
        }
        if (effectiveA == null) {
            effectiveA = context.allocate(rIn, n);
            effectiveB = context.allocate(m, rIn);
        }
        backend.gemm(false, false, rIn, n, r, 1f, innerA.pointer(), outerA.pointer(), 0f, effectiveA.pointer());
        backend.gemm(false, false, m, rIn, r, 1f, outerB.pointer(), innerB.pointer(), 0f, effectiveB.pointer());
        effectiveInnerAVersion = innerA.version();
        effectiveInnerBVersion = innerB.version();
    }

    /** X, Y, dY and dX of a half-precision layer are in its precision. */
    private void requirePrecision(String operation, String operand, Matrix matrix) {
        if (matrix.precision() != precision) {
            throw new ShapeMismatchException(operation + ": " + operand + " " + matrix.shape() + " is "
                    + matrix.precision() + " but the layer is " + precision);
        }
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
        return "NestedLinear (" + m + "×" + n + ", r=" + r + ", r_in=" + rIn + ")";
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        baseWeight.close();
        outerA.close();
        outerB.close();
        innerA.close();
        innerB.close();
        if (effectiveA != null) {
            effectiveA.close();
            effectiveB.close();
        }
        if (mergedA != null) {
            mergedA.close();
            mergedB.close();
        }
        workspace.close();
        if (half != null) {
            half.close();
        }
        context.unregister(this);
    }

    @Override
    public String toString() {
        return "NestedLinear[m=" + m + ", n=" + n + ", r=" + r + ", r_in=" + rIn + ", s=" + scale + "]";
    }

    /** Builds a layer from host arrays (row-major), validating ranks, shapes and finiteness. */
    public static final class Builder {
        private final NoraContext context;
        private int m = -1;
        private int n = -1;
        private int r = -1;
        private int rIn = -1;
        private float scale = 1f;
        private Precision precision = Precision.FLOAT32;
        private float[] baseWeight;
        private float[] outerA;
        private float[] outerB;
        private float[] innerA;
        private float[] innerB;

        private Builder(NoraContext context) {
            this.context = context;
        }

        /** The frozen base weight W_base, m×n (out × in, as torch.nn.Linear). */
        public Builder baseWeight(float[] weight, int outFeatures, int inFeatures) {
            this.baseWeight = weight;
            this.m = outFeatures;
            this.n = inFeatures;
            return this;
        }

        public Builder ranks(int outerRank, int innerRank) {
            this.r = outerRank;
            this.rIn = innerRank;
            return this;
        }

        /** Outer A, r×n (frozen). */
        public Builder outerA(float[] a) {
            this.outerA = a;
            return this;
        }

        /** Outer B, m×r (frozen). */
        public Builder outerB(float[] b) {
            this.outerB = b;
            return this;
        }

        /** Inner A', r_in×r (trainable). */
        public Builder innerA(float[] a) {
            this.innerA = a;
            return this;
        }

        /** Inner B', r×r_in (trainable). */
        public Builder innerB(float[] b) {
            this.innerB = b;
            return this;
        }

        /**
         * The precision of W_base, the outer factors, X, Y, dY and dX (default FLOAT32); the factors
         * are rounded to it here. Half precisions accumulate in float32 (SPEC §4: 1e-2).
         */
        public Builder precision(Precision p) {
            this.precision = java.util.Objects.requireNonNull(p, "precision");
            return this;
        }

        /** The scaling s (SPEC §2.4); default 1. */
        public Builder scale(float s) {
            this.scale = s;
            return this;
        }

        public NestedLinear build() {
            final String op = "NestedLinear.build";
            if (baseWeight == null || outerA == null || outerB == null || innerA == null || innerB == null) {
                throw new JnoraException(op + ": baseWeight, outerA, outerB, innerA and innerB are all required");
            }
            if (m < 1 || n < 1) {
                throw new ShapeMismatchException(op + ": W_base must be at least 1×1, got " + m + "×" + n);
            }
            if (r < 1 || r > Math.min(m, n)) {
                throw new InvalidRankException(op + ": outer rank r = " + r + " must be in [1, min(m, n) = "
                        + Math.min(m, n) + "] for W_base " + m + "×" + n);
            }
            if (rIn < 1 || rIn > r) {
                throw new InvalidRankException(op + ": inner rank r_in = " + rIn + " must be in [1, r = " + r + "]");
            }
            Checks.requireFinite(op, "scale s", scale);
            Checks.requireLength(op, "W_base", baseWeight.length, m, n);
            Checks.requireLength(op, "outer A", outerA.length, r, n);
            Checks.requireLength(op, "outer B", outerB.length, m, r);
            Checks.requireLength(op, "inner A'", innerA.length, rIn, r);
            Checks.requireLength(op, "inner B'", innerB.length, r, rIn);
            return new NestedLinear(this);
        }
    }
}
