package io.jnora;

import static io.jnora.Tolerances.FLOAT32_VS_FLOAT64;
import static io.jnora.Tolerances.assertClose;
import static io.jnora.Tolerances.assertCloseAllowingCancellation;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.jnora.reference.Float64Reference;
import io.jnora.synth.SyntheticLayer;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The CPU backend's forward (SPEC §2, §2.5) against the independent float64 reference. */
class NestedForwardTest {
    private static NoraContext ctx;

    @BeforeAll
    static void open() {
        ctx = NoraContext.create(Backend.CPU);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    static Stream<Arguments> casesAndAssociations() {
        return LayerCase.oddShapes().stream()
                .flatMap(c -> Stream.of(Association.values()).map(a -> Arguments.of(c, a)));
    }

    @ParameterizedTest(name = "{1} {0}")
    @MethodSource("casesAndAssociations")
    void forwardMatchesFloat64Reference(LayerCase c, Association association) {
        SyntheticLayer layer = c.layer();
        float[] x = c.inputs(layer);
        try (NestedLinear linear = layer.build(ctx);
                Matrix xm = ctx.matrix(c.rows(), c.in(), x);
                Matrix y = ctx.filled(c.rows(), c.out(), Float.NaN)) {  // poison: every element must be written
            linear.forward(xm, y, association);
            double[] xd = Float64Reference.toDouble(x);
            double[] want = Float64Reference.forward(layer.toReference(), xd, c.rows());
            double[] magnitude = Float64Reference.forward(layer.toReference().magnitude(), Float64Reference.abs(xd), c.rows());
            assertCloseAllowingCancellation("Y " + association + " " + c, y.toArray(), want, magnitude, FLOAT32_VS_FLOAT64);
        }
    }

    @Test
    void theTwoAssociationsAgree() {
        LayerCase c = LayerCase.of(33, 150, 90, 24, 6, 1.5f);
        SyntheticLayer layer = c.layer();
        try (NestedLinear linear = layer.build(ctx);
                Matrix x = ctx.matrix(c.rows(), c.in(), c.inputs(layer));
                Matrix outerFirst = linear.forward(x, Association.OUTER_FIRST);
                Matrix effective = linear.forward(x, Association.EFFECTIVE)) {
            assertClose("effective vs outer-first " + c, effective.toArray(), outerFirst.toArray(), FLOAT32_VS_FLOAT64);
        }
    }

    @Test
    void cachedEffectiveFactorsAreRefreshedWhenAnInnerFactorChanges() {
        LayerCase c = LayerCase.of(9, 40, 30, 10, 4, 1f);
        SyntheticLayer layer = c.layer();
        SyntheticLayer other = LayerCase.of(9, 40, 30, 10, 4, 1f).layer();
        float[] x = c.inputs(layer);
        try (NestedLinear linear = layer.build(ctx);
                Matrix xm = ctx.matrix(c.rows(), c.in(), x);
                Matrix y = ctx.zeros(c.rows(), c.out())) {
            linear.forward(xm, y, Association.EFFECTIVE);  // builds the cache
            linear.innerB().copyFrom(other.innerB);
            linear.forward(xm, y, Association.EFFECTIVE);
            SyntheticLayer changed = layer;
            System.arraycopy(other.innerB, 0, changed.innerB, 0, other.innerB.length);
            double[] want = Float64Reference.forward(changed.toReference(), Float64Reference.toDouble(x), c.rows());
            assertClose("Y after changing B' " + c, y.toArray(), want, FLOAT32_VS_FLOAT64);

            linear.innerA().copyFrom(other.innerA);
            linear.forward(xm, y, Association.EFFECTIVE);
            System.arraycopy(other.innerA, 0, changed.innerA, 0, other.innerA.length);
            want = Float64Reference.forward(changed.toReference(), Float64Reference.toDouble(x), c.rows());
            assertClose("Y after changing A' " + c, y.toArray(), want, FLOAT32_VS_FLOAT64);
        }
    }

    @Test
    void autoPicksEffectiveFactorsOnlyWhenTheyAreCheaper() {
        SyntheticLayer layer = SyntheticLayer.random(1, 64, 64, 32, 4, 1f);
        try (NestedLinear linear = layer.build(ctx); Matrix x = ctx.matrix(1, 64, layer.inputs(2, 1))) {
            // Stale cache, one row: rebuilding A_eff, B_eff (r·r_in·(n+m)) costs more than outer-first (r·(n+m)).
            assertEquals(Association.OUTER_FIRST, linear.cheaperAssociation(1));
            // Many rows amortise the rebuild.
            assertEquals(Association.EFFECTIVE, linear.cheaperAssociation(4096));
            linear.forward(x, Association.EFFECTIVE).close();
            // Fresh cache: effective is always cheaper (r_in < r).
            assertEquals(Association.EFFECTIVE, linear.cheaperAssociation(1));
            linear.innerA().copyFrom(layer.innerA);
            assertEquals(Association.OUTER_FIRST, linear.cheaperAssociation(1));
        }
    }
}
