package io.jnora.train;

import io.jnora.aira.AllocationStrategy;
import java.util.List;

/**
 * The outcome of a whole-model recovery ({@link ModelRecovery}): the embedding cosine to the unpruned
 * model on held-out sentences with every linear layer pruned (before) and with every layer's recovered
 * adapter installed (after), and each layer's own recovery.
 *
 * @param pruning how each layer was degraded ({@code magnitude:0.5}, {@code rank:64})
 * @param allocation how the inner ranks were spread over the layers
 * @param budget the budget of trainable parameters Σ 2·r·r_in
 * @param trainableParameters what the allocation spent (≤ budget)
 * @param calibrationSentences sentences whose tokens the layers were trained on
 * @param heldOutSentences sentences the cosines (and each layer's held-out error) are measured on
 * @param steps AdamW steps per layer
 * @param cosineBefore per held-out sentence, cos(embedding of the pruned model, of the unpruned one)
 * @param cosineAfter per held-out sentence, the same with the recovered adapters installed
 * @param layers each linear layer's allocation and recovery, in depth order
 * @param seconds wall time of the whole run (calibration, recovery of every layer, embeddings)
 *
 * <p>Thread safety: immutable and thread-safe (its lists are copied on construction or unmodifiable).
 */
public record ModelRecoveryReport(String pruning, AllocationStrategy allocation, long budget, long trainableParameters,
        int calibrationSentences, int heldOutSentences, int steps, double[] cosineBefore, double[] cosineAfter,
        List<Layer> layers, double seconds) {

    /** One layer: its shape, outlier ratio, ranks, and its {@link LayerRecovery} report. */
    public record Layer(String name, int outFeatures, int inFeatures, double outlierRatio, int outerRank, int innerRank,
            RecoveryReport recovery) {}

    public ModelRecoveryReport {
        layers = List.copyOf(layers);
        cosineBefore = cosineBefore.clone();
        cosineAfter = cosineAfter.clone();
    }

    @Override
    public double[] cosineBefore() {
        return cosineBefore.clone();
    }

    @Override
    public double[] cosineAfter() {
        return cosineAfter.clone();
    }

    public double meanCosineBefore() {
        return mean(cosineBefore);
    }

    public double minCosineBefore() {
        return min(cosineBefore);
    }

    public double meanCosineAfter() {
        return mean(cosineAfter);
    }

    public double minCosineAfter() {
        return min(cosineAfter);
    }

    /** The layers' held-out output errors before training, averaged over the layers. */
    public double meanErrorBefore() {
        return layers.stream().mapToDouble(l -> l.recovery().errorBefore()).average().orElse(Double.NaN);
    }

    public double meanErrorAfter() {
        return layers.stream().mapToDouble(l -> l.recovery().errorAfter()).average().orElse(Double.NaN);
    }

    public double meanErrorOptimum() {
        return layers.stream().mapToDouble(l -> l.recovery().errorOptimum()).average().orElse(Double.NaN);
    }

    private static double mean(double[] v) {
        double s = 0;
        for (double x : v) {
            s += x;
        }
        return s / v.length;
    }

    private static double min(double[] v) {
        double m = Double.POSITIVE_INFINITY;
        for (double x : v) {
            m = Math.min(m, x);
        }
        return m;
    }
}
