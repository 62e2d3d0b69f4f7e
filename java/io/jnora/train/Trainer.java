package io.jnora.train;

import io.jnora.Association;
import io.jnora.DropoutMask;
import io.jnora.Gradients;
import io.jnora.JnoraException;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.Precision;
import io.jnora.ShapeMismatchException;
import io.jnora.TensorOps;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Trains the inner factors A' and B' of one or several nested layers with AdamW (SPEC §2.10). The
 * gradients and both moments of every trainable tensor live beside the factors, in the context's
 * memory; an update is one multi-tensor call for the whole model (one launch on CUDA).
 *
 * <pre>{@code
 * try (Trainer trainer = Trainer.builder(ctx).layer("q_proj", q).layer("v_proj", v)
 *         .optimizer(AdamWConfig.builder().schedule(LearningRateSchedule.warmupCosine(100, 2000)).build())
 *         .dropout(0.05).build()) {
 *     StepReport r = trainer.step(List.of(TrainingBatch.upstream(q, xq, dyq), TrainingBatch.upstream(v, xv, dyv)));
 * }
 * }</pre>
 *
 * <p>A step takes exactly one batch per layer. For each, in the order the layers were added: with
 * dropout p &gt; 0 a fresh mask is drawn (seeded by the trainer's seed, the step and the layer, so a
 * resumed run draws the same masks); a regression batch runs the forward and forms dY; the backward
 * writes dA', dB' (and dX where asked). Then the global gradient norm over every tensor of every
 * layer is computed; a non-finite loss or gradient stops the step with a
 * {@link NonFiniteTrainingException} naming the step and the layer, before anything was updated;
 * otherwise the gradients are clipped if configured and AdamW updates every factor and moment.
 * Updated factors have new versions, so the layers rebuild their effective-factor caches.
 *
 * <p>Layers may be bfloat16 or float16 ({@code NestedLinear.builder(ctx).precision(...)}): X and dY
 * then come in the layer's precision (a regression target may be either), while the loss, the
 * scaling of dY, the inner factors' gradients and both moments stay float32; a regression step
 * forms Y − target in float32 and rounds dY once for the backward, and for float16 (whose normal
 * range ends at 6.1e-5, where dY = 2(Y − target)/(T·m) of real shapes lies below) sends dY scaled
 * by a power of two near T·m/2 and divides the gradients by it after, as a loss scaler does. An
 * upstream float16 dY is taken as given (values below 6.1e-5 lose precision there), and a float16
 * regression batch cannot also ask for dX. Dropout is refused for
 * half layers (its mask is float32).
 *
 * <p>{@link #saveState} and {@link #loadState} keep the moments and the step count in a
 * safetensors file beside the adapter ({@link TrainerState}): on the CPU, N steps, save, load and M
 * more steps give the same bits as N + M steps in one run. Not thread-safe; closing frees the
 * gradients, the moments and the scratch (not the layers).
 */
public final class Trainer implements AutoCloseable {
    private final NoraContext context;
    private final AdamWConfig config;
    private final double dropout;
    private final long seed;
    private final List<Slot> slots;
    private final Map<NestedLinear, Slot> slotOf = new IdentityHashMap<>();
    private final List<Matrix> params = new ArrayList<>();
    private final List<Matrix> grads = new ArrayList<>();
    private final List<Matrix> expAvg = new ArrayList<>();
    private final List<Matrix> expAvgSq = new ArrayList<>();
    private int stepsTaken;
    private boolean closed;

    /** One layer's trainable tensors and their state, and its scratch for the regression and dropout. */
    private final class Slot {
        final String name;
        final NestedLinear layer;
        final int index;
        final Matrix gradA;
        final Matrix gradB;
        final Matrix expAvgA;
        final Matrix expAvgSqA;
        final Matrix expAvgB;
        final Matrix expAvgSqB;
        Matrix residual;  // T×m: Y − target, then dY (regression batches), float32
        Matrix halfOutput;  // T×m in a half layer's precision: Y, then dY rounded for the backward
        Matrix wideTarget;  // T×m float32 copy of a half target
        float lossScale = 1f;  // float16 regression: dY went to the backward multiplied by this
        DropoutMask mask;  // T×n

        Slot(String name, NestedLinear layer, int index) {
            this.name = name;
            this.layer = layer;
            this.index = index;
            int r = layer.outerRank();
            int rIn = layer.innerRank();
            gradA = context.zeros(rIn, r);
            gradB = context.zeros(r, rIn);
            expAvgA = context.zeros(rIn, r);
            expAvgSqA = context.zeros(rIn, r);
            expAvgB = context.zeros(r, rIn);
            expAvgSqB = context.zeros(r, rIn);
        }

        Matrix residual(int rows) {
            if (residual == null || residual.rows() != rows) {
                close(residual);
                residual = null;
                residual = context.zeros(rows, layer.outFeatures());
            }
            return residual;
        }

        /** A T×m matrix of the layer's precision kept for the next steps. */
        Matrix halfOutput(int rows) {
            if (halfOutput == null || halfOutput.rows() != rows) {
                close(halfOutput);
                halfOutput = null;
                halfOutput = context.zeros(rows, layer.outFeatures(), layer.precision());
            }
            return halfOutput;
        }

        Matrix wideTarget(int rows) {
            if (wideTarget == null || wideTarget.rows() != rows) {
                close(wideTarget);
                wideTarget = null;
                wideTarget = context.zeros(rows, layer.outFeatures());
            }
            return wideTarget;
        }

        DropoutMask mask(int rows, long maskSeed) {
            if (mask == null || mask.rows() != rows) {
                close(mask);
                mask = null;
                mask = DropoutMask.sample(context, rows, layer.inFeatures(), dropout, maskSeed);
            } else {
                mask.resample(maskSeed);
            }
            return mask;
        }

        void close() {
            for (AutoCloseable c : new AutoCloseable[] {gradA, gradB, expAvgA, expAvgSqA, expAvgB, expAvgSqB, residual,
                    halfOutput, wideTarget, mask}) {
                close(c);
            }
        }

        private void close(AutoCloseable c) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    throw new JnoraException("Trainer: freeing layer '" + name + "' failed: " + e.getMessage(), e);
                }
            }
        }
    }

    private Trainer(Builder b) {
        this.context = b.context;
        this.config = b.config;
        this.dropout = b.dropout;
        this.seed = b.seed;
        List<Slot> built = new ArrayList<>();
        try {
            for (int i = 0; i < b.names.size(); i++) {
                Slot s = new Slot(b.names.get(i), b.layers.get(i), i);
                built.add(s);
                slotOf.put(s.layer, s);
                params.add(s.layer.innerA());
                params.add(s.layer.innerB());
                grads.add(s.gradA);
                grads.add(s.gradB);
                expAvg.add(s.expAvgA);
                expAvg.add(s.expAvgB);
                expAvgSq.add(s.expAvgSqA);
                expAvgSq.add(s.expAvgSqB);
            }
        } catch (RuntimeException e) {
            built.forEach(Slot::close);
            throw e;
        }
        this.slots = Collections.unmodifiableList(built);
    }

    public static Builder builder(NoraContext context) {
        return new Builder(context);
    }

    public AdamWConfig optimizer() {
        return config;
    }

    /** The dropout probability on the adapters' input (0: none). */
    public double dropout() {
        return dropout;
    }

    public long seed() {
        return seed;
    }

    /** The layers' names, in the order they were added. */
    public List<String> layerNames() {
        return slots.stream().map(s -> s.name).toList();
    }

    /** The number of updates applied so far (the next step is this + 1). */
    public int stepsTaken() {
        return stepsTaken;
    }

    /** A step of a single-layer trainer, given dY. */
    public StepReport step(Matrix x, Matrix dy) {
        return step(List.of(TrainingBatch.upstream(onlyLayer("step"), x, dy)));
    }

    /** A step of a single-layer trainer on the mean-squared-error loss against {@code target}. */
    public StepReport regressionStep(Matrix x, Matrix target) {
        return step(List.of(TrainingBatch.regression(onlyLayer("regressionStep"), x, target)));
    }

    /** One training step: one batch per layer (in any order), then one AdamW update of every layer. */
    public StepReport step(List<TrainingBatch> batches) {
        requireOpen();
        if (context.insideCapturedStep()) {
            throw new IllegalStateException("Trainer.step: cannot be part of a captured step (NoraContext.capture): its"
                    + " update number, learning rate and gradient norm are host values; run it between replays");
        }
        final int t = stepsTaken + 1;
        if (!config.schedule().covers(t)) {
            throw new IllegalStateException("Trainer.step: step " + t + " is past the schedule's "
                    + config.schedule().totalSteps() + " steps (" + config.schedule() + ")");
        }
        TrainingBatch[] assigned = assign(batches);
        double loss = 0;
        boolean anyRegression = false;
        for (Slot s : slots) {
            TrainingBatch b = assigned[s.index];
            Matrix x = b.input();
            DropoutMask mask = dropout > 0 ? s.mask(x.rows(), maskSeed(t, s.index)) : null;
            Matrix dy = b.upstream();
            if (b.isRegression()) {
                anyRegression = true;
                loss += regressionLoss(s, b, mask, t);
                dy = s.layer.precision().isHalf() ? s.halfOutput : s.residual;
            }
            s.layer.backward(x, dy, new Gradients(s.gradA, s.gradB, b.inputGradient()), mask);
            if (b.isRegression() && s.lossScale != 1f) {
                unscale(s);
            }
        }
        double norm = Math.sqrt(TensorOps.sumOfSquares(grads));
        if (!Double.isFinite(norm)) {
            throw nonFiniteGradient(t);
        }
        double scale = config.clipsGradients() && norm > config.maxGradNorm() ? config.maxGradNorm() / norm : 1.0;
        double lr = config.learningRate(t);
        TensorOps.adamwStep(params, grads, expAvg, expAvgSq, (float) lr, (float) config.beta1(), (float) config.beta2(),
                (float) config.epsilon(), (float) config.weightDecay(), (float) scale, t);
        stepsTaken = t;
        return new StepReport(t, anyRegression ? loss : Double.NaN, norm, scale, lr);
    }

    /**
     * The mean squared error of a regression batch; leaves dY = 2(Y − target)/(T·m) in the slot's
     * residual: Y (with the mask) is written there, then Y − target, its mean square, then the scaling.
     */
    private double regressionLoss(Slot s, TrainingBatch b, DropoutMask mask, int t) {
        Matrix x = b.input();
        Matrix target = b.target();
        int m = s.layer.outFeatures();
        if (target.rows() != x.rows() || target.cols() != m) {
            throw new ShapeMismatchException("Trainer.step: layer '" + s.name + "': target is " + target.shape()
                    + ", expected " + x.rows() + "×" + m + " (T×m for X " + x.shape() + ")");
        }
        Matrix r = s.residual(x.rows());
        boolean half = s.layer.precision().isHalf();
        if (half) {  // Y in the layer's precision, the loss and dY formed in float32
            Matrix y = s.halfOutput(x.rows());
            s.layer.forward(x, y, Association.AUTO, mask);
            TensorOps.convert(y, r);
        } else {
            s.layer.forward(x, r, Association.AUTO, mask);
        }
        Matrix wide = target;
        if (target.precision() != Precision.FLOAT32) {
            wide = s.wideTarget(x.rows());
            TensorOps.convert(target, wide);
        }
        TensorOps.multiplyAdd(-1f, wide, null, 1f, r);
        double count = (double) x.rows() * m;
        double l = TensorOps.sumOfSquares(List.of(r)) / count;
        if (!Double.isFinite(l)) {
            throw new NonFiniteTrainingException("Trainer.step: step " + t + ", layer '" + s.name + "': the loss (mean "
                    + "squared error over " + x.shape() + " rows) is " + l + "; the step was not applied, the parameters "
                    + "are unchanged", t, s.name);
        }
        s.lossScale = lossScale(s.layer.precision(), count);
        TensorOps.multiplyAdd((float) (2.0 * s.lossScale / count), r, null, 0f, r);
        if (half) {
            TensorOps.convert(r, s.halfOutput);  // the backward takes dY in the layer's precision
        }
        return l;
    }

    /**
     * float16's smallest normal number is 6.1e-5, and dY = 2(Y − target)/(T·m) is far below it at
     * real shapes (T·m = 2^21: a residual of 0.1 gives 1e-7, flushed or subnormal), so a float16
     * layer's dY is sent multiplied by the power of two nearest below T·m/2, which brings it back to
     * the residual's own size, and its gradients are divided by the same (exactly) after the
     * backward, as a loss scaler does. bfloat16 has float32's range: no scaling.
     */
    static float lossScale(Precision precision, double count) {
        if (precision != Precision.FLOAT16 || count < 4) {
            return 1f;
        }
        return (float) Math.scalb(1.0, Math.min(60, Math.getExponent(count / 2)));
    }

    /** Divides a slot's gradients by its loss scale: exact, a power of two. */
    private void unscale(Slot s) {
        float inverse = 1f / s.lossScale;
        TensorOps.multiplyAdd(inverse, s.gradA, null, 0f, s.gradA);
        TensorOps.multiplyAdd(inverse, s.gradB, null, 0f, s.gradB);
    }

    /** Which layer and which factor's gradient is non-finite (only on this failure path). */
    private NonFiniteTrainingException nonFiniteGradient(int t) {
        for (Slot s : slots) {
            for (Matrix g : new Matrix[] {s.gradA, s.gradB}) {
                double sq = TensorOps.sumOfSquares(List.of(g));
                if (!Double.isFinite(sq)) {
                    String factor = g == s.gradA ? "A'" : "B'";
                    return new NonFiniteTrainingException("Trainer.step: step " + t + ", layer '" + s.name
                            + "': the gradient of " + factor + " (" + g.shape() + ") is not finite (its sum of squares "
                            + "is " + sq + "); the step was not applied, the parameters are unchanged", t, s.name);
                }
            }
        }
        return new NonFiniteTrainingException("Trainer.step: step " + t + ": the global gradient norm is not finite; the "
                + "step was not applied", t, slots.get(0).name);
    }

    private TrainingBatch[] assign(List<TrainingBatch> batches) {
        TrainingBatch[] out = new TrainingBatch[slots.size()];
        for (TrainingBatch b : batches) {
            Slot s = slotOf.get(b.layer());
            if (s == null) {
                throw new IllegalArgumentException("Trainer.step: a batch is for " + b.layer()
                        + ", which is not one of this trainer's layers " + layerNames());
            }
            if (out[s.index] != null) {
                throw new IllegalArgumentException("Trainer.step: layer '" + s.name + "' has two batches in one step "
                        + "(concatenate their rows)");
            }
            if (b.isRegression() && b.inputGradient() != null && s.layer.precision() == Precision.FLOAT16) {
                // The loss-scaled dY would carry dX past float16's 65504, and the true dX mostly lies
                // below its normal range: neither is a gradient worth passing further.
                throw new IllegalArgumentException("Trainer.step: layer '" + s.name + "' is FLOAT16, and a regression"
                        + " batch on it cannot also return dX (its dY is loss-scaled); use BFLOAT16, or an upstream"
                        + " batch");
            }
            out[s.index] = b;
        }
        for (Slot s : slots) {
            if (out[s.index] == null) {
                throw new IllegalArgumentException("Trainer.step: layer '" + s.name + "' has no batch (every layer "
                        + "takes one per step)");
            }
        }
        return out;
    }

    /** A mask seed from (seed, step, layer): a resumed run draws the same masks as an unbroken one. */
    private long maskSeed(int step, int layer) {
        long z = seed + 0x9E3779B97F4A7C15L * step + 0xC2B2AE3D27D4EB4FL * (layer + 1);
        z = (z ^ (z >>> 33)) * 0xff51afd7ed558ccdL;
        z = (z ^ (z >>> 33)) * 0xc4ceb9fe1a85ec53L;
        return z ^ (z >>> 33);
    }

    private NestedLinear onlyLayer(String method) {
        if (slots.size() != 1) {
            throw new IllegalArgumentException("Trainer." + method + "(x, ...) is for a single-layer trainer; this one has "
                    + layerNames() + ": pass one TrainingBatch per layer");
        }
        return slots.get(0).layer;
    }

    /**
     * Writes the moments of every trainable tensor, the step count and the hyper-parameters to a
     * safetensors file (atomically), to resume from with {@link #loadState}.
     */
    public void saveState(Path file) {
        requireOpen();
        List<TrainerState.LayerMoments> layers = new ArrayList<>();
        for (Slot s : slots) {
            layers.add(new TrainerState.LayerMoments(s.name, s.layer.outerRank(), s.layer.innerRank(), s.expAvgA.toArray(),
                    s.expAvgSqA.toArray(), s.expAvgB.toArray(), s.expAvgSqB.toArray()));
        }
        new TrainerState(stepsTaken, config, dropout, seed, layers).write(file);
    }

    /**
     * Restores the moments and the step count saved by {@link #saveState}. The file must have been
     * written by a trainer with the same hyper-parameters, dropout, seed and layers (names, order and
     * ranks): anything else is refused, naming the field, and leaves this trainer unchanged. The
     * factors themselves are the adapter's: load them into the layers (e.g. from the adapter file).
     */
    public void loadState(Path file) {
        requireOpen();
        TrainerState state = TrainerState.read(file);
        state.requireCompatible(file, config, dropout, seed, layerNames());
        for (int i = 0; i < slots.size(); i++) {
            Slot s = slots.get(i);
            TrainerState.LayerMoments l = state.layers().get(i);
            if (l.outerRank() != s.layer.outerRank() || l.innerRank() != s.layer.innerRank()) {
                throw new io.jnora.AdapterFormatException(file + ": layer '" + s.name + "' has r = " + l.outerRank()
                        + ", r_in = " + l.innerRank() + " in the state but r = " + s.layer.outerRank() + ", r_in = "
                        + s.layer.innerRank() + " here");
            }
        }
        for (int i = 0; i < slots.size(); i++) {
            Slot s = slots.get(i);
            TrainerState.LayerMoments l = state.layers().get(i);
            s.expAvgA.copyFrom(l.expAvgA());
            s.expAvgSqA.copyFrom(l.expAvgSqA());
            s.expAvgB.copyFrom(l.expAvgB());
            s.expAvgSqB.copyFrom(l.expAvgSqB());
        }
        stepsTaken = state.step();
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("Trainer " + layerNames() + " is closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        slots.forEach(Slot::close);
    }

    /** The layers to train and how; validated at {@link #build()}. */
    public static final class Builder {
        private final NoraContext context;
        private final List<String> names = new ArrayList<>();
        private final List<NestedLinear> layers = new ArrayList<>();
        private AdamWConfig config = AdamWConfig.builder().build();
        private double dropout;
        private long seed = 0x5eedL;

        private Builder(NoraContext context) {
            this.context = Objects.requireNonNull(context, "context");
        }

        /** A layer to train (its A' and B'), under a name used in reports, errors and the state file. */
        public Builder layer(String name, NestedLinear layer) {
            names.add(Objects.requireNonNull(name, "name"));
            layers.add(Objects.requireNonNull(layer, "layer"));
            return this;
        }

        public Builder optimizer(AdamWConfig cfg) {
            this.config = Objects.requireNonNull(cfg, "optimizer");
            return this;
        }

        /** Dropout probability on every adapter's input (PEFT's lora_dropout; default 0, AIRA uses 0.25). */
        public Builder dropout(double p) {
            this.dropout = p;
            return this;
        }

        /** Seed of the dropout masks. */
        public Builder seed(long s) {
            this.seed = s;
            return this;
        }

        public Trainer build() {
            final String op = "Trainer.build";
            if (layers.isEmpty()) {
                throw new IllegalArgumentException(op + ": no layer to train");
            }
            if (!(dropout >= 0 && dropout < 1)) {
                throw new InvalidHyperparameterException(op + ": the dropout probability must be in [0, 1), got " + dropout);
            }
            Set<String> seen = new LinkedHashSet<>();
            Set<NestedLinear> seenLayers = Collections.newSetFromMap(new IdentityHashMap<>());
            for (int i = 0; i < layers.size(); i++) {
                String name = names.get(i);
                if (name.isEmpty() || !seen.add(name)) {
                    throw new IllegalArgumentException(op + ": layer name '" + name + "' is empty or appears twice");
                }
                NestedLinear l = layers.get(i);
                if (!seenLayers.add(l)) {
                    throw new IllegalArgumentException(op + ": layer '" + name + "' was already added under another name");
                }
                if (dropout > 0 && l.precision().isHalf()) {
                    throw new InvalidHyperparameterException(op + ": layer '" + name + "' is " + l.precision()
                            + ", and dropout is not offered in half precision (its mask is float32); use dropout 0");
                }
                if (!l.innerA().belongsTo(context)) {
                    throw new IllegalArgumentException(op + ": layer '" + name + "' (" + l + ") belongs to another context");
                }
                if (l.isMerged()) {
                    throw new IllegalStateException(op + ": layer '" + name + "' is merged; unmerge() it to train");
                }
            }
            return new Trainer(this);
        }
    }
}
