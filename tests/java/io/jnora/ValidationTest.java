package io.jnora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.backend.CudaProbe;
import io.jnora.synth.SyntheticLayer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Bad shapes, ranks and values are typed exceptions naming the operation and the shapes (SPEC §1). */
class ValidationTest {
    private NoraContext ctx;
    private SyntheticLayer layer;
    private NestedLinear linear;

    @BeforeEach
    void open() {
        ctx = NoraContext.create(Backend.CPU);
        layer = SyntheticLayer.random(7, 30, 20, 8, 4, 1f);  // m = 30, n = 20
        linear = layer.build(ctx);
    }

    @AfterEach
    void close() {
        ctx.close();
    }

    private NestedLinear.Builder builder() {
        return NestedLinear.builder(ctx).baseWeight(layer.baseWeight, 30, 20).ranks(8, 4).outerA(layer.outerA)
                .outerB(layer.outerB).innerA(layer.innerA).innerB(layer.innerB);
    }

    @Test
    void inputWithTheWrongFeatureCountIsAShapeMismatchNamingBothShapes() {
        try (Matrix x = ctx.zeros(17, 21)) {
            ShapeMismatchException e = assertThrows(ShapeMismatchException.class, () -> linear.forward(x));
            assertTrue(e.getMessage().contains("NestedLinear.forward"), e.getMessage());
            assertTrue(e.getMessage().contains("17×21") && e.getMessage().contains("30×20"), e.getMessage());
        }
    }

    @Test
    void outputOfTheWrongShapeIsRefused() {
        try (Matrix x = ctx.zeros(5, 20); Matrix y = ctx.zeros(5, 29)) {
            ShapeMismatchException e = assertThrows(ShapeMismatchException.class,
                    () -> linear.forward(x, y, Association.AUTO));
            assertTrue(e.getMessage().contains("5×29") && e.getMessage().contains("5×30"), e.getMessage());
        }
    }

    @Test
    void backwardChecksUpstreamAndGradientShapes() {
        try (Matrix x = ctx.zeros(5, 20); Matrix dy = ctx.zeros(6, 30); Matrix goodDy = ctx.zeros(5, 30)) {
            ShapeMismatchException e = assertThrows(ShapeMismatchException.class, () -> linear.backward(x, dy));
            assertTrue(e.getMessage().contains("NestedLinear.backward") && e.getMessage().contains("6×30"), e.getMessage());
            Gradients wrong = new Gradients(ctx.zeros(8, 4), ctx.zeros(8, 4), ctx.zeros(5, 20));  // dA' must be 4×8
            e = assertThrows(ShapeMismatchException.class, () -> linear.backward(x, goodDy, wrong));
            assertTrue(e.getMessage().contains("dA'") && e.getMessage().contains("4×8"), e.getMessage());
            wrong.close();
        }
    }

    @Test
    void innerRankAboveOuterRankIsAnInvalidRank() {
        InvalidRankException e = assertThrows(InvalidRankException.class, () -> builder().ranks(8, 9).build());
        assertTrue(e.getMessage().contains("r_in = 9") && e.getMessage().contains("r = 8"), e.getMessage());
    }

    @Test
    void zeroAndOversizedRanksAreInvalid() {
        assertThrows(InvalidRankException.class, () -> builder().ranks(8, 0).build());
        assertThrows(InvalidRankException.class, () -> builder().ranks(0, 0).build());
        InvalidRankException e = assertThrows(InvalidRankException.class, () -> builder().ranks(21, 4).build());
        assertTrue(e.getMessage().contains("min(m, n) = 20") && e.getMessage().contains("30×20"), e.getMessage());
    }

    @Test
    void factorArraysOfTheWrongLengthAreShapeMismatches() {
        ShapeMismatchException e = assertThrows(ShapeMismatchException.class,
                () -> builder().outerA(new float[8 * 20 - 1]).build());
        assertTrue(e.getMessage().contains("outer A") && e.getMessage().contains("8×20"), e.getMessage());
    }

    @Test
    void nanInputIsRefusedWithItsPosition() {
        float[] x = new float[3 * 20];
        x[2 * 20 + 5] = Float.NaN;
        NonFiniteInputException e = assertThrows(NonFiniteInputException.class, () -> ctx.matrix(3, 20, x));
        assertTrue(e.getMessage().contains("[2, 5]") && e.getMessage().contains("NaN"), e.getMessage());
    }

    @Test
    void infiniteWeightsAndScaleAreRefused() {
        float[] w = layer.baseWeight.clone();
        w[7] = Float.POSITIVE_INFINITY;
        assertThrows(NonFiniteInputException.class, () -> builder().baseWeight(w, 30, 20).build());
        assertThrows(NonFiniteInputException.class, () -> builder().scale(Float.NaN).build());
        try (Matrix a = ctx.zeros(4, 8)) {
            float[] bad = new float[32];
            bad[31] = Float.NEGATIVE_INFINITY;
            assertThrows(NonFiniteInputException.class, () -> a.copyFrom(bad));
            assertThrows(NonFiniteInputException.class, () -> linear.innerA().copyFrom(bad));
        }
    }

    @Test
    void aClosedMatrixCannotBeUsed() {
        Matrix x = ctx.zeros(2, 20);
        x.close();
        x.close();  // idempotent
        assertThrows(IllegalStateException.class, () -> linear.forward(x));
    }

    @Test
    void aMatrixFromAnotherContextIsRefused() {
        try (NoraContext other = NoraContext.create(Backend.CPU); Matrix x = other.zeros(2, 20)) {
            JnoraException e = assertThrows(JnoraException.class, () -> linear.forward(x));
            assertTrue(e.getMessage().contains("another context"), e.getMessage());
        }
    }

    @Test
    void closingTheContextFreesEverythingItMade() {
        NoraContext local = NoraContext.create(Backend.CPU);
        NestedLinear l = layer.build(local);
        Matrix x = local.zeros(4, 20);
        l.forward(x, Association.EFFECTIVE);
        assertTrue(local.openMatrices() > 5);
        local.close();
        assertEquals(0, local.openMatrices());
        assertThrows(IllegalStateException.class, () -> l.forward(x));
    }

    @Test
    void closingALayerReturnsItsMemory() {
        int before = ctx.openMatrices();
        NestedLinear l = layer.build(ctx);
        try (Matrix x = ctx.zeros(4, 20)) {
            l.forward(x, Association.EFFECTIVE).close();
            l.backward(x, ctx.zeros(4, 30)).close();
        }
        l.close();
        assertEquals(before + 1, ctx.openMatrices(), "only the dY made above stays open");
    }

    @Test
    void askingForCudaWhereThereIsNoneIsBackendUnavailable() {
        CudaProbe.Result probe = CudaProbe.probe();
        Assumptions.assumeFalse(probe.available(), "a CUDA device is present here");
        BackendUnavailableException e = assertThrows(BackendUnavailableException.class,
                () -> NoraContext.create(Backend.CUDA));
        assertTrue(e.getMessage().contains("cuda") && e.getMessage().contains(probe.reason()), e.getMessage());
    }

    @Test
    void autoFallsBackToTheCpuAndSaysWhy() {
        Assumptions.assumeFalse(CudaProbe.probe().available(), "a CUDA device is present here");
        try (NoraContext auto = NoraContext.create(Backend.AUTO)) {
            assertEquals(Backend.CPU, auto.selection().chosen());
            assertTrue(auto.selection().reason().startsWith("CUDA unavailable: "), auto.selection().reason());
        }
    }
}
