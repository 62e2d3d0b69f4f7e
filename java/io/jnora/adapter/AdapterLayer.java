package io.jnora.adapter;

import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.ShapeMismatchException;
import io.jnora.backend.HostLapack;
import io.jnora.init.NestedAdapterWeights;
import io.jnora.init.NestedInitializer;

/**
 * One layer of a nested adapter file (SPEC §5): the four factors, for SIGMA the inner pair at init,
 * and the metadata that says how it was made. It holds no base weight: a layer runs on the original
 * W (ZERO) or on the residual recomputed from W (SIGMA), see {@link #baseWeight(float[])}.
 *
 * <p>Thread safety: immutable in use: its arrays are only read by the library, so one layer may be shared by many threads and contexts as long as no caller writes to them.
 */
public record AdapterLayer(
        String name,
        int outFeatures,
        int inFeatures,
        int outerRank,
        int innerRank,
        double alpha,
        String rule,
        float scale,
        String scaleMode,
        String init,
        String split,
        String svd,
        float[] outerA,
        float[] outerB,
        float[] innerA,
        float[] innerB,
        float[] innerA0,
        float[] innerB0) {

    /** The file form of freshly initialised weights. */
    public static AdapterLayer of(String name, NestedAdapterWeights w) {
        var cfg = w.config();
        return new AdapterLayer(name, w.outFeatures(), w.inFeatures(), cfg.outerRank(), cfg.innerRank(), cfg.alpha(),
                cfg.rule().metadataName(), w.scale(), cfg.scaleMode().toString(), cfg.init().metadataName(),
                cfg.splitUsed(), w.svdUsed() == null ? "none" : w.svdUsed().name().toLowerCase(),
                w.outerA(), w.outerB(), w.innerA(), w.innerB(), w.innerA0(), w.innerB0());
    }

    /** The same layer with other trainable inner factors (after training). */
    public AdapterLayer withInner(float[] newInnerA, float[] newInnerB) {
        if (newInnerA.length != innerA.length || newInnerB.length != innerB.length) {
            throw new ShapeMismatchException("AdapterLayer.withInner: layer '" + name + "' needs A' " + innerRank + "×"
                    + outerRank + " and B' " + outerRank + "×" + innerRank);
        }
        return new AdapterLayer(name, outFeatures, inFeatures, outerRank, innerRank, alpha, rule, scale, scaleMode, init,
                split, svd, outerA, outerB, newInnerA, newInnerB, innerA0, innerB0);
    }

    /** Whether the layer runs on W − s·BB'₀A'₀A (SIGMA) rather than W. */
    public boolean usesResidualBase() {
        return innerA0 != null;
    }

    /** The base this layer runs on, from the original weight W (m×n). */
    public float[] baseWeight(float[] originalWeight) {
        requireShape("baseWeight", originalWeight);
        return usesResidualBase()
                ? NestedInitializer.residualBase(originalWeight, outFeatures, inFeatures, outerB, innerB0, innerA0, outerA,
                        outerRank, innerRank, scale)
                : originalWeight;
    }

    /**
     * The merged weight base + s·(BB')(A'A) (SPEC §2.5) for the original W: what a layer with the
     * adapter folded in runs on. Host arithmetic, float32 products added in float64.
     */
    public float[] mergedWeight(float[] originalWeight) {
        return addDelta(baseWeight(originalWeight), innerB, innerA, scale);
    }

    /**
     * The original W back from a merged weight: W_m − s·(BB')(A'A), plus s·(BB'₀)(A'₀A) when the layer
     * ran on the SIGMA residual. Inverse of {@link #mergedWeight} to float rounding.
     */
    public float[] unmergedWeight(float[] mergedWeight) {
        requireShape("unmergedWeight", mergedWeight);
        float[] base = addDelta(mergedWeight, innerB, innerA, -scale);
        return usesResidualBase() ? addDelta(base, innerB0, innerA0, scale) : base;
    }

    private float[] addDelta(float[] weight, float[] inB, float[] inA, double s) {
        float[] effB = HostLapack.multiply(false, false, outFeatures, innerRank, outerRank, outerB, inB);
        float[] effA = HostLapack.multiply(false, false, innerRank, inFeatures, outerRank, inA, outerA);
        float[] delta = HostLapack.multiply(false, false, outFeatures, inFeatures, innerRank, effB, effA);
        float[] out = new float[weight.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) (weight[i] + s * delta[i]);
        }
        return out;
    }

    private void requireShape(String operation, float[] weight) {
        if (weight.length != (long) outFeatures * inFeatures) {
            throw new ShapeMismatchException("AdapterLayer." + operation + ": layer '" + name + "' is " + outFeatures + "×"
                    + inFeatures + " but the weight holds " + weight.length + " values");
        }
    }

    /** The layer on a context's backend, given the original weight W. */
    public NestedLinear build(NoraContext context, float[] originalWeight) {
        return NestedLinear.builder(context).baseWeight(baseWeight(originalWeight), outFeatures, inFeatures)
                .ranks(outerRank, innerRank).outerA(outerA).outerB(outerB).innerA(innerA).innerB(innerB).scale(scale)
                .build();
    }
}
