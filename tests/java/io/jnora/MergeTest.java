package io.jnora;

import static io.jnora.Tolerances.FLOAT32_VS_FLOAT64;
import static io.jnora.Tolerances.assertClose;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.reference.Float64Reference;
import io.jnora.synth.SyntheticLayer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** merge() folds the adapter into the base (SPEC §2.5); unmerge() restores the base to float rounding. */
class MergeTest {
    private NoraContext ctx;
    private LayerCase c;
    private SyntheticLayer layer;
    private NestedLinear linear;
    private Matrix x;

    @BeforeEach
    void open() {
        ctx = NoraContext.create(Backend.CPU);
        c = LayerCase.of(19, 70, 45, 12, 5, 0.7f);
        layer = c.layer();
        linear = layer.build(ctx);
        x = ctx.matrix(c.rows(), c.in(), c.inputs(layer));
    }

    @AfterEach
    void close() {
        ctx.close();
    }

    @Test
    void theMergedLayerComputesTheSameOutputWithTheBaseGemmAlone() {
        linear.merge();
        assertTrue(linear.isMerged());
        try (Matrix y = ctx.filled(c.rows(), c.out(), Float.NaN)) {
            linear.forward(x, y, Association.OUTER_FIRST);
            double[] want = Float64Reference.forward(layer.toReference(), Float64Reference.toDouble(x.toArray()), c.rows());
            assertClose("merged Y " + c, y.toArray(), want, FLOAT32_VS_FLOAT64);
        }
    }

    /** W + δ − δ in float32 loses at most an ulp of max(|W|, |δ|) per element: 1e-6 relative bounds it. */
    @Test
    void unmergeRestoresTheBaseWeightToFloatRounding() {
        float[] before = linear.baseWeight().toArray();
        linear.merge();
        linear.unmerge();
        assertFalse(linear.isMerged());
        assertClose("W after merge and unmerge " + c, linear.baseWeight().toArray(), before, 1e-6);
    }

    @Test
    void unmergeSubtractsWhatWasMergedEvenAfterTheInnerFactorsChange() {
        float[] before = linear.baseWeight().toArray();
        linear.merge();
        linear.innerB().copyFrom(new float[c.r() * c.rIn()]);
        linear.unmerge();
        assertClose("W " + c, linear.baseWeight().toArray(), before, 1e-6);
    }

    @Test
    void aMergedLayerRefusesTrainingAndStaleUse() {
        linear.merge();
        try (Matrix dy = ctx.zeros(c.rows(), c.out())) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> linear.backward(x, dy));
            assertTrue(e.getMessage().contains("unmerge"), e.getMessage());
        }
        assertThrows(IllegalStateException.class, linear::merge);
        linear.innerA().copyFrom(layer.innerA);
        assertThrows(IllegalStateException.class, () -> linear.forward(x));
        linear.unmerge();
        assertThrows(IllegalStateException.class, linear::unmerge);
        linear.forward(x).close();
    }
}
