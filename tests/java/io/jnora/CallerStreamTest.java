package io.jnora;

import static io.jnora.Tolerances.GPU_VS_CPU;
import static io.jnora.Tolerances.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.backend.CudaProbe;
import io.jnora.synth.SyntheticLayer;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cudart;
import org.junit.jupiter.api.Test;

/** {@link NoraContext#createOnCudaStream}: the library's work ordered on a stream the caller owns. */
class CallerStreamTest {
    @Test
    void withoutCudaTheCallerStreamIsRefusedWithTheReason() {
        if (CudaProbe.probe().available()) {
            return;  // the GPU test below covers this machine
        }
        BackendUnavailableException e = assertThrows(BackendUnavailableException.class,
                () -> NoraContext.createOnCudaStream(0));
        assertTrue(e.getMessage().contains("caller's stream"), e.getMessage());
    }

    @Test
    void aLayerRunsOnTheCallersStreamWhichOutlivesTheContext() {
        GpuTests.requireCuda("CallerStreamTest");
        CUstream_st stream = new CUstream_st();
        assertEquals(0, cudart.cudaStreamCreate(stream));
        try {
            LayerCase c = LayerCase.of(9, 130, 67, 16, 4, 1f);
            SyntheticLayer layer = c.layer();
            float[] x = c.inputs(layer);
            float[] want;
            try (NoraContext cpu = NoraContext.create(Backend.CPU); NestedLinear h = layer.build(cpu);
                    Matrix xh = cpu.matrix(c.rows(), c.in(), x)) {
                want = h.forward(xh).toArray();
            }
            try (NoraContext ctx = NoraContext.createOnCudaStream(stream.address())) {
                assertTrue(ctx.selection().toString().contains("caller's stream"), ctx.selection().toString());
                try (NestedLinear g = layer.build(ctx); Matrix xg = ctx.matrix(c.rows(), c.in(), x);
                        Matrix yg = ctx.filled(c.rows(), c.out(), Float.NaN)) {
                    g.forward(xg, yg, Association.EFFECTIVE);
                    assertClose("Y on the caller's stream", yg.toArray(), want, GPU_VS_CPU);
                }
            }
            assertEquals(0, cudart.cudaStreamSynchronize(stream), "the stream is still the caller's and valid");
        } finally {
            cudart.cudaStreamDestroy(stream);
        }
    }
}
