package io.jnora;

import io.jnora.backend.ComputeBackend;
import java.util.List;
import org.bytedeco.javacpp.FloatPointer;

/**
 * The multi-tensor and elementwise primitives the optimiser is built from (SPEC §2.10), run where
 * the matrices live: on CUDA one launch per call for a whole list of tensors. Every matrix of a call
 * must belong to one context; each call validates the lists and the shapes first and names the
 * operation in its errors. The training API ({@code io.jnora.train}) is the intended user.
 *
 * <p>Thread safety: stateless, but each call runs on its matrices' context, which one thread at a time may use.
 */
public final class TensorOps {
    private TensorOps() {}

    /**
     * AdamW in place over every parameter of the list, with its gradient and its two moments (each of
     * the parameter's shape): p ← p·(1 − lr·wd), m ← β1·m + (1 − β1)·g, v ← β2·v + (1 − β2)·g²,
     * p ← p − lr/(1 − β1^step) · m / (√v / √(1 − β2^step) + ε) with g = gradScale·grad, as
     * torch.optim.AdamW; {@code step} ≥ 1 is the update's number. Marks each parameter modified, so
     * layers refresh their effective-factor caches.
     */
    public static void adamwStep(List<Matrix> params, List<Matrix> grads, List<Matrix> expAvg, List<Matrix> expAvgSq,
            float lr, float beta1, float beta2, float eps, float weightDecay, float gradScale, int step) {
        final String op = "TensorOps.adamwStep";
        int count = params.size();
        if (grads.size() != count || expAvg.size() != count || expAvgSq.size() != count) {
            throw new ShapeMismatchException(op + ": " + count + " parameters but " + grads.size() + " gradients, "
                    + expAvg.size() + " first and " + expAvgSq.size() + " second moments");
        }
        if (step < 1) {
            throw new IllegalArgumentException(op + ": step = " + step + " (the first update is step 1)");
        }
        if (count == 0) {
            return;
        }
        NoraContext context = params.get(0).context();
        if (context.insideCapturedStep()) {
            // A CUDA graph would freeze step and lr (every replay the same update) and its pointer
            // table copy; the CPU would re-run it. Refused on both, so a step means the same everywhere.
            throw new IllegalStateException(op + ": cannot be part of a captured step (NoraContext.capture): the"
                    + " update number " + step + " and learning rate would be frozen in it; run it between replays");
        }
        FloatPointer[] p = new FloatPointer[count];
        FloatPointer[] g = new FloatPointer[count];
        FloatPointer[] m = new FloatPointer[count];
        FloatPointer[] v = new FloatPointer[count];
        long[] sizes = new long[count];
        for (int i = 0; i < count; i++) {
            Matrix param = params.get(i);
            p[i] = checked(context, op, "parameter " + i, param, param);
            g[i] = checked(context, op, "gradient " + i, grads.get(i), param);
            m[i] = checked(context, op, "first moment " + i, expAvg.get(i), param);
            v[i] = checked(context, op, "second moment " + i, expAvgSq.get(i), param);
            sizes[i] = param.size();
        }
        context.backend().adamwStep(p, g, m, v, sizes, lr, beta1, beta2, eps, weightDecay, gradScale, step);
        for (int i = 0; i < count; i++) {
            params.get(i).markModified();
            expAvg.get(i).markModified();
            expAvgSq.get(i).markModified();
        }
    }

    /** Σ over the matrices of Σ x², in float64 and a fixed order (deterministic); 0 for an empty list. */
    public static double sumOfSquares(List<Matrix> tensors) {
        final String op = "TensorOps.sumOfSquares";
        if (tensors.isEmpty()) {
            return 0;
        }
        NoraContext context = tensors.get(0).context();
        if (context.insideCapturedStep()) {
            // Its result is a host value, which a replayed graph cannot give back.
            throw new IllegalStateException(op + ": cannot be part of a captured step (NoraContext.capture): it returns"
                    + " a value to the host; run it between replays");
        }
        FloatPointer[] x = new FloatPointer[tensors.size()];
        long[] sizes = new long[x.length];
        for (int i = 0; i < x.length; i++) {
            Matrix t = tensors.get(i);
            x[i] = checked(context, op, "tensor " + i, t, t);
            sizes[i] = t.size();
        }
        return context.backend().sumOfSquares(x, sizes);
    }

    /**
     * Copies {@code source} into {@code destination} (the same shape) converting between precisions:
     * rounded to nearest, ties to even, where the destination is narrower; a plain copy when both
     * are the same.
     */
    public static void convert(Matrix source, Matrix destination) {
        final String op = "TensorOps.convert";
        NoraContext context = destination.context();
        context.requireSameContext(op, "source", source);
        Checks.requireShape(op, "destination", destination, source.rows(), source.cols(),
                "the shape of the source " + source.shape());
        if (source == destination) {
            return;  // the same precision: nothing to do (the conversion must not overlap itself)
        }
        context.backend().convert(source.storage(), source.precision(), destination.storage(),
                destination.precision(), source.size());
        destination.markModified();
    }

    /** out = alpha·a⊙b + beta·out elementwise ({@code b} null: alpha·a + beta·out); beta = 0 never reads out. */
    public static void multiplyAdd(float alpha, Matrix a, Matrix b, float beta, Matrix out) {
        final String op = "TensorOps.multiplyAdd";
        NoraContext context = out.context();
        FloatPointer ap = checked(context, op, "a", a, out);
        FloatPointer bp = b == null ? null : checked(context, op, "b", b, out);
        ComputeBackend backend = context.backend();
        backend.multiplyAdd(out.size(), alpha, ap, bp, beta, out.pointer());
        out.markModified();
    }

    private static FloatPointer checked(NoraContext context, String op, String what, Matrix m, Matrix shapeOf) {
        context.requireSameContext(op, what, m);
        Checks.requireShape(op, what, m, shapeOf.rows(), shapeOf.cols(), "the shape of " + shapeOf.shape());
        return m.pointer();
    }
}
