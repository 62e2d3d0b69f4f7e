package io.jnora;

import static io.jnora.Tolerances.GPU_VS_CPU;
import static io.jnora.Tolerances.assertClose;
import static io.jnora.Tolerances.assertCloseAllowingCancellation;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.jnora.reference.Float64Reference;
import io.jnora.synth.SyntheticLayer;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CUDA backend against the CPU backend (SPEC §4: relative Frobenius ≤ 1e-4), outputs poisoned
 * with NaN first. Without a GPU these are skipped with the reason; with JNORA_REQUIRE_GPU=1 (the GPU
 * check script sets it) a missing GPU fails them instead.
 */
class CudaBackendTest {
    private static NoraContext cuda;
    private static NoraContext cpu;

    @BeforeAll
    static void open() {
        GpuTests.requireCuda("CudaBackendTest");
        cuda = NoraContext.create(Backend.CUDA);
        cpu = NoraContext.create(Backend.CPU);
        System.out.println("CudaBackendTest on " + cuda.selection().device());
    }

    @AfterAll
    static void close() {
        if (cuda != null) {
            cuda.close();
            cpu.close();
        }
    }

    static Stream<Arguments> casesAndAssociations() {
        return Stream.concat(LayerCase.oddShapes().stream(), Stream.of(LayerCase.of(256, 1024, 1024, 64, 16, 1f)))
                .flatMap(c -> Stream.of(Association.OUTER_FIRST, Association.EFFECTIVE).map(a -> Arguments.of(c, a)));
    }

    @ParameterizedTest(name = "{1} {0}")
    @MethodSource("casesAndAssociations")
    void forwardMatchesTheCpuBackend(LayerCase c, Association association) {
        SyntheticLayer layer = c.layer();
        float[] x = c.inputs(layer);
        try (NestedLinear g = layer.build(cuda); NestedLinear h = layer.build(cpu);
                Matrix xg = cuda.matrix(c.rows(), c.in(), x); Matrix xh = cpu.matrix(c.rows(), c.in(), x);
                Matrix yg = cuda.filled(c.rows(), c.out(), Float.NaN); Matrix yh = cpu.zeros(c.rows(), c.out())) {
            g.forward(xg, yg, association);
            h.forward(xh, yh, association);
            // Relative to the output's magnitude: the smallest odd shape's short sums can cancel.
            double[] magnitude = Float64Reference.forward(layer.toReference().magnitude(),
                    Float64Reference.abs(Float64Reference.toDouble(x)), c.rows());
            assertCloseAllowingCancellation("Y " + association + " " + c, yg.toArray(), yh.toArray(), magnitude, GPU_VS_CPU);
        }
    }

    /**
     * The fused decode forward (T ≤ 16: split-K shrink + GEMV with the adapter in its reduction)
     * against the CPU and against the unfused GEMMs, Y poisoned, every row-count instantiation.
     */
    @ParameterizedTest(name = "T={0}")
    @org.junit.jupiter.params.provider.ValueSource(ints = {1, 2, 3, 4, 7, 8, 9, 16})
    void theFusedDecodeForwardMatches(int rows) {
        for (LayerCase c : new LayerCase[] {LayerCase.of(rows, 1031, 97, 40, 16, 0.5f),
                LayerCase.of(rows, 4096, 4096, 256, 16, 1f)}) {
            SyntheticLayer layer = c.layer();
            float[] x = c.inputs(layer);
            try (NestedLinear g = layer.build(cuda); NestedLinear h = layer.build(cpu);
                    Matrix xg = cuda.matrix(c.rows(), c.in(), x); Matrix xh = cpu.matrix(c.rows(), c.in(), x);
                    Matrix fused = cuda.filled(c.rows(), c.out(), Float.NaN);
                    Matrix unfused = cuda.filled(c.rows(), c.out(), Float.NaN); Matrix yh = cpu.zeros(c.rows(), c.out())) {
                g.forward(xg, fused, Association.EFFECTIVE);
                cuda.computeBackend().useFusedDecode(false);
                try {
                    g.forward(xg, unfused, Association.EFFECTIVE);
                } finally {
                    cuda.computeBackend().useFusedDecode(true);
                }
                h.forward(xh, yh, Association.EFFECTIVE);
                assertClose("Y fused decode " + c, fused.toArray(), yh.toArray(), GPU_VS_CPU);
                assertClose("Y fused vs unfused " + c, fused.toArray(), unfused.toArray(), GPU_VS_CPU);
            }
        }
    }

    /** TF32 GEMMs (SPEC §4: 3e-4), forward and backward, on the largest case; then back to float32. */
    @Test
    void tf32StaysWithinItsTolerance() {
        LayerCase c = LayerCase.of(256, 1024, 1024, 64, 16, 1f);
        SyntheticLayer layer = c.layer();
        float[] x = c.inputs(layer);
        float[] dy = c.upstream(layer);
        assertTrue(cuda.allowTf32(true));
        try (NestedLinear g = layer.build(cuda); NestedLinear h = layer.build(cpu);
                Matrix xg = cuda.matrix(c.rows(), c.in(), x); Matrix xh = cpu.matrix(c.rows(), c.in(), x);
                Matrix dyg = cuda.matrix(c.rows(), c.out(), dy); Matrix dyh = cpu.matrix(c.rows(), c.out(), dy);
                Matrix yg = cuda.filled(c.rows(), c.out(), Float.NaN); Matrix yh = cpu.zeros(c.rows(), c.out());
                Gradients gg = g.backward(xg, dyg); Gradients gh = h.backward(xh, dyh)) {
            g.forward(xg, yg, Association.EFFECTIVE);
            h.forward(xh, yh, Association.EFFECTIVE);
            assertClose("Y TF32 " + c, yg.toArray(), yh.toArray(), Tolerances.GPU_TF32_VS_CPU);
            assertClose("dX TF32 " + c, gg.input().toArray(), gh.input().toArray(), Tolerances.GPU_TF32_VS_CPU);
            assertClose("dA' TF32 " + c, gg.innerA().toArray(), gh.innerA().toArray(), Tolerances.GPU_TF32_VS_CPU);
        } finally {
            cuda.allowTf32(false);
        }
    }

    static Stream<LayerCase> cases() {
        return Stream.concat(LayerCase.oddShapes().stream(), Stream.of(LayerCase.of(256, 1024, 1024, 64, 16, 1f)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void backwardMatchesTheCpuBackend(LayerCase c) {
        SyntheticLayer layer = c.layer();
        float[] x = c.inputs(layer);
        float[] dy = c.upstream(layer);
        try (NestedLinear g = layer.build(cuda); NestedLinear h = layer.build(cpu);
                Matrix xg = cuda.matrix(c.rows(), c.in(), x); Matrix xh = cpu.matrix(c.rows(), c.in(), x);
                Matrix dyg = cuda.matrix(c.rows(), c.out(), dy); Matrix dyh = cpu.matrix(c.rows(), c.out(), dy);
                Gradients gg = new Gradients(cuda.filled(c.rIn(), c.r(), Float.NaN), cuda.filled(c.r(), c.rIn(), Float.NaN),
                        cuda.filled(c.rows(), c.in(), Float.NaN));
                Gradients gh = h.backward(xh, dyh)) {
            g.backward(xg, dyg, gg);
            Float64Reference.Gradients magnitude = Float64Reference.backward(layer.toReference().magnitude(),
                    Float64Reference.abs(Float64Reference.toDouble(x)), Float64Reference.abs(Float64Reference.toDouble(dy)),
                    c.rows());
            assertCloseAllowingCancellation("dA' " + c, gg.innerA().toArray(), gh.innerA().toArray(), magnitude.innerA(), GPU_VS_CPU);
            assertCloseAllowingCancellation("dB' " + c, gg.innerB().toArray(), gh.innerB().toArray(), magnitude.innerB(), GPU_VS_CPU);
            assertCloseAllowingCancellation("dX " + c, gg.input().toArray(), gh.input().toArray(), magnitude.input(), GPU_VS_CPU);
        }
    }

    @Test
    void effectiveFactorsAreRefreshedOnTheDevice() {
        LayerCase c = LayerCase.of(12, 70, 50, 16, 4, 1f);
        SyntheticLayer layer = c.layer();
        SyntheticLayer other = LayerCase.of(12, 70, 50, 16, 4, 1f).layer();
        float[] x = c.inputs(layer);
        try (NestedLinear g = layer.build(cuda); NestedLinear h = layer.build(cpu);
                Matrix xg = cuda.matrix(c.rows(), c.in(), x); Matrix xh = cpu.matrix(c.rows(), c.in(), x)) {
            g.forward(xg, Association.EFFECTIVE).close();
            g.innerB().copyFrom(other.innerB);
            h.innerB().copyFrom(other.innerB);
            try (Matrix yg = g.forward(xg, Association.EFFECTIVE); Matrix yh = h.forward(xh, Association.OUTER_FIRST)) {
                assertClose("Y after changing B' " + c, yg.toArray(), yh.toArray(), GPU_VS_CPU);
            }
        }
    }

    @Test
    void closingALayerReturnsItsDeviceMemory() {
        int before = cuda.openMatrices();
        SyntheticLayer layer = SyntheticLayer.random(3, 40, 30, 8, 2, 1f);
        try (NestedLinear g = layer.build(cuda); Matrix x = cuda.zeros(5, 30); Matrix dy = cuda.zeros(5, 40)) {
            g.forward(x, Association.EFFECTIVE).close();
            g.backward(x, dy).close();
        }
        assertEquals(before, cuda.openMatrices());
    }
}
