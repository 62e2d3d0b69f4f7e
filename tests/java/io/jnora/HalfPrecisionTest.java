package io.jnora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.io.BFloat16;
import io.jnora.io.Float16;
import io.jnora.reference.Float64Reference;
import io.jnora.synth.SyntheticLayer;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

/**
 * Half-precision layers (issue 4): X, Y, W_base and the outer factors in bfloat16 or float16,
 * float32 accumulation and inner factors. Forward (both associations), backward, merge and unmerge
 * against the float64 reference within SPEC §4's 1e-2, outputs poisoned with NaN; on CUDA against
 * the CPU backend too. Half matrices where an operation takes FLOAT32 are refused.
 */
class HalfPrecisionTest {
    private static final double HALF_VS_FLOAT64 = 1e-2;  // SPEC §4: bf16/fp16 operands

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Precision p : new Precision[] {Precision.BFLOAT16, Precision.FLOAT16}) {
            for (LayerCase c : List.of(LayerCase.of(1, 37, 29, 8, 3, 1f), LayerCase.of(17, 257, 200, 33, 1, 2f),
                    LayerCase.of(128, 96, 131, 64, 16, 1f))) {
                out.add(Arguments.of(p, c));
            }
        }
        return out.stream();
    }

    private static void check(Backend backend, Precision p, LayerCase c) {
        SyntheticLayer layer = c.layer();
        float[] x = c.inputs(layer);
        float[] dy = c.upstream(layer);
        try (NoraContext ctx = NoraContext.create(backend); NestedLinear linear = layer.build(ctx, p);
                Matrix xm = ctx.matrix(c.rows(), c.in(), x, p); Matrix dym = ctx.matrix(c.rows(), c.out(), dy, p)) {
            assertEquals(p, linear.precision());
            // The reference on the operands as the layer holds them (rounded to p): the rounding of the
            // inputs is the caller's choice of precision, not the layer's error.
            Float64Reference.Layer ref = new Float64Reference.Layer(layer.m, layer.n, layer.r, layer.rIn, layer.scale,
                    rounded(layer.baseWeight, p), rounded(layer.outerA, p), rounded(layer.outerB, p),
                    Float64Reference.toDouble(layer.innerA), Float64Reference.toDouble(layer.innerB));
            double[] want = Float64Reference.forward(ref, rounded(x, p), c.rows());
            for (Association a : new Association[] {Association.EFFECTIVE, Association.OUTER_FIRST}) {
                try (Matrix y = ctx.filled(c.rows(), c.out(), Float.NaN, p)) {
                    linear.forward(xm, y, a);
                    Tolerances.assertClose(backend + " " + p + " Y " + a + " " + c, y.toArray(), want, HALF_VS_FLOAT64);
                }
            }
            Float64Reference.Gradients g = Float64Reference.backward(ref, rounded(x, p), rounded(dy, p), c.rows());
            try (Gradients got = new Gradients(ctx.filled(c.rIn(), c.r(), Float.NaN), ctx.filled(c.r(), c.rIn(), Float.NaN),
                    ctx.filled(c.rows(), c.in(), Float.NaN, p))) {
                linear.backward(xm, dym, got);
                Tolerances.assertClose(backend + " " + p + " dA' " + c, got.innerA().toArray(), g.innerA(), HALF_VS_FLOAT64);
                Tolerances.assertClose(backend + " " + p + " dB' " + c, got.innerB().toArray(), g.innerB(), HALF_VS_FLOAT64);
                Tolerances.assertClose(backend + " " + p + " dX " + c, got.input().toArray(), g.input(), HALF_VS_FLOAT64);
            }
            // The allocating forms give Y and dX in the layer's precision.
            try (Matrix y = linear.forward(xm); Gradients made = linear.backward(xm, dym)) {
                assertEquals(p, y.precision());
                assertEquals(p, made.input().precision());
                Tolerances.assertClose(backend + " " + p + " forward(x) " + c, y.toArray(), want, HALF_VS_FLOAT64);
                Tolerances.assertClose(backend + " " + p + " backward(x, dy) dX " + c, made.input().toArray(), g.input(),
                        HALF_VS_FLOAT64);
            }
            float[] before = linear.baseWeight().toArray();
            linear.merge();
            try (Matrix y = ctx.filled(c.rows(), c.out(), Float.NaN, p)) {
                linear.forward(xm, y, Association.AUTO);
                Tolerances.assertClose(backend + " " + p + " merged Y " + c, y.toArray(), want, HALF_VS_FLOAT64);
            }
            linear.unmerge();
            Tolerances.assertClose(backend + " " + p + " unmerged W " + c, linear.baseWeight().toArray(),
                    Float64Reference.toDouble(before), HALF_VS_FLOAT64);
        }
    }

    private static double[] rounded(float[] values, Precision p) {
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = p.round(values[i]);
        }
        return out;
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void aHalfLayerMatchesTheFloat64ReferenceOnTheCpu(Precision p, LayerCase c) {
        check(Backend.CPU, p, c);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void aHalfLayerMatchesTheFloat64ReferenceOnCuda(Precision p, LayerCase c) {
        GpuTests.requireCuda("HalfPrecisionTest");
        check(Backend.CUDA, p, c);
    }

    /** CUDA's half layer against the CPU's (the same roundings in the same places): 1e-2 at NoRA's shape. */
    @Test
    void cudaMatchesTheCpuAtNorasShape() {
        GpuTests.requireCuda("HalfPrecisionTest");
        LayerCase c = LayerCase.of(64, 4096, 4096, 256, 16, 1f);
        SyntheticLayer layer = c.layer();
        float[] x = c.inputs(layer);
        try (NoraContext gpu = NoraContext.create(Backend.CUDA); NoraContext cpu = NoraContext.create(Backend.CPU);
                NestedLinear g = layer.build(gpu, Precision.BFLOAT16); NestedLinear h = layer.build(cpu, Precision.BFLOAT16);
                Matrix xg = gpu.matrix(c.rows(), c.in(), x, Precision.BFLOAT16);
                Matrix xh = cpu.matrix(c.rows(), c.in(), x, Precision.BFLOAT16);
                Matrix yg = gpu.filled(c.rows(), c.out(), Float.NaN, Precision.BFLOAT16);
                Matrix yh = cpu.zeros(c.rows(), c.out(), Precision.BFLOAT16)) {
            g.forward(xg, yg, Association.EFFECTIVE);
            h.forward(xh, yh, Association.EFFECTIVE);
            Tolerances.assertClose("bf16 Y CUDA vs CPU", yg.toArray(), yh.toArray(), HALF_VS_FLOAT64);
        }
    }

    @Test
    void halfMatricesHoldTheRoundedValuesAndAreRefusedWhereFloat32IsNeeded() {
        float[] values = {1f, 1.00390625f, 3.14159265f, -65504f, 1e-6f, 0.1f};
        try (NoraContext ctx = NoraContext.create(Backend.CPU); Matrix b = ctx.matrix(2, 3, values, Precision.BFLOAT16);
                Matrix h = ctx.matrix(2, 3, values, Precision.FLOAT16); Matrix f = ctx.zeros(2, 3)) {
            float[] gotB = b.toArray();
            float[] gotH = h.toArray();
            for (int i = 0; i < values.length; i++) {
                assertEquals(BFloat16.toFloat(BFloat16.fromFloat(values[i])), gotB[i]);
                assertEquals(Float16.toFloat(Float16.fromFloat(values[i])), gotH[i]);
            }
            assertTrue(b.toString().contains("BFLOAT16"), b.toString());
            assertThrows(ShapeMismatchException.class, () -> TensorOps.multiplyAdd(1f, b, f, 0f, f));  // FLOAT32 only
            LayerCase c = LayerCase.of(3, 3, 2, 1, 1, 1f);
            SyntheticLayer layer = c.layer();
            try (NestedLinear halfLayer = layer.build(ctx, Precision.BFLOAT16); NestedLinear floatLayer = layer.build(ctx);
                    Matrix yb = ctx.zeros(2, 2, Precision.BFLOAT16); Matrix yf = ctx.zeros(2, 2)) {
                ShapeMismatchException e = assertThrows(ShapeMismatchException.class,
                        () -> halfLayer.forward(f, yb, Association.EFFECTIVE));
                assertTrue(e.getMessage().contains("FLOAT32") && e.getMessage().contains("BFLOAT16"), e.getMessage());
                assertThrows(ShapeMismatchException.class, () -> floatLayer.forward(b, yf, Association.EFFECTIVE));
                assertThrows(ShapeMismatchException.class, () -> halfLayer.forward(b, yf, Association.EFFECTIVE));
            }
        }
    }
}
