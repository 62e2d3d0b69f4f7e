package io.jnora.init;

import io.jnora.backend.HostLapack;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;

/**
 * One layer's nested adapter on the host, as initialisation produced it (SPEC §2.2–§2.4): the
 * frozen outer pair, the trainable inner pair, for SIGMA the inner pair at init (from which the
 * residual base is recomputed), the base the layer runs on, and how it was made. Arrays are
 * row-major and owned by this object; the accessors hand out the arrays themselves (no copies:
 * they are large), so callers must not modify them.
 *
 * <p>Thread safety: its arrays are not copied; safe to share between threads as long as nobody writes to them.
 */
public record NestedAdapterWeights(
        int outFeatures,
        int inFeatures,
        NoraConfig config,
        SvdMethod svdUsed,
        float[] singularValues,
        float[] outerA,
        float[] outerB,
        float[] innerA,
        float[] innerB,
        float[] innerA0,
        float[] innerB0,
        float[] baseWeight) {

    public int outerRank() {
        return config.outerRank();
    }

    public int innerRank() {
        return config.innerRank();
    }

    public float scale() {
        return (float) config.scale();
    }

    /** Whether the layer runs on the residual W − s·BB'₀A'₀A rather than W (SIGMA init). */
    public boolean usesResidualBase() {
        return innerA0 != null;
    }

    /** The rank-r approximation B A of W (m×n) that the outer pair spans. */
    public float[] outerProduct() {
        return HostLapack.multiply(false, false, outFeatures, inFeatures, outerRank(), outerB, outerA);
    }

    /** The layer on a context's backend, running on {@link #baseWeight()}. */
    public NestedLinear build(NoraContext context) {
        return NestedLinear.builder(context).baseWeight(baseWeight, outFeatures, inFeatures)
                .ranks(outerRank(), innerRank()).outerA(outerA).outerB(outerB).innerA(innerA).innerB(innerB)
                .scale(scale()).build();
    }
}
