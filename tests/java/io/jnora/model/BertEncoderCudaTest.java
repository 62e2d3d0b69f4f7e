package io.jnora.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.jnora.Backend;
import io.jnora.NoraContext;
import io.jnora.adapter.AdapterSet;
import io.jnora.backend.CudaProbe;
import io.jnora.init.InnerInit;
import io.jnora.init.NoraConfig;
import io.jnora.stats.LayerStatistics;
import io.jnora.text.Encoding;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The encoder with its linear layers on CUDA against the CPU backend, on a small random BERT (the real
 * model does not travel to the GPU machine): plain, and with SIGMA adapters in every linear layer.
 * Skipped where there is no device (fails instead with JNORA_REQUIRE_GPU=1).
 */
class BertEncoderCudaTest {
    @BeforeAll
    static void requireCuda() {
        CudaProbe.Result probe = CudaProbe.probe();
        if (!probe.available() && "1".equals(System.getenv("JNORA_REQUIRE_GPU"))) {
            fail("JNORA_REQUIRE_GPU=1 but CUDA is unavailable: " + probe.reason());
        }
        Assumptions.assumeTrue(probe.available(), "CUDA unavailable: " + probe.reason());
    }

    private static float[] run(Backend backend, BertWeights w, List<Encoding> batch, List<Encoding> calib,
            boolean adapters) {
        try (NoraContext ctx = NoraContext.create(backend); BertEncoder encoder = BertEncoder.create(ctx, w)) {
            if (!adapters) {
                return encoder.forward(batch);
            }
            LayerStatistics stats = Calibration.statistics(encoder, calib, false, 4, s -> { });
            AdapterSet.Builder b = AdapterSet.builder(ctx).statistics(stats).budget(12L * 2 * 8 * 2)
                    .config(NoraConfig.builder().outerRank(8).innerRank(2).init(InnerInit.SIGMA).build());
            for (BertWeights.Linear l : w.linearLayers()) {
                b.layer(l.name(), l.weight(), l.outFeatures(), l.inFeatures());
            }
            try (AdapterSet set = b.build()) {
                encoder.useAdapters(set::linear);
                return encoder.forward(batch);
            }
        }
    }

    private static double relativeError(float[] got, float[] want) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < got.length; i++) {
            num += ((double) got[i] - want[i]) * ((double) got[i] - want[i]);
            den += (double) want[i] * want[i];
        }
        return Math.sqrt(num / den);
    }

    @Test
    void theEncoderOnCudaMatchesTheCpuWithAndWithoutAdapters() {
        BertWeights w = TestModel.random(11, 2, 96, 4, 192, 500);
        List<Encoding> batch = TestModel.randomBatch(12, 500, 1, 7, 33);
        List<Encoding> calib = TestModel.randomBatch(13, 500, 20, 17, 9, 31);
        for (boolean adapters : new boolean[] {false, true}) {
            float[] cpu = run(Backend.CPU, w, batch, calib, adapters);
            float[] gpu = run(Backend.CUDA, w, batch, calib, adapters);
            double err = relativeError(gpu, cpu);
            System.out.printf("encoder on CUDA vs CPU (%s): relative Frobenius error %.2e%n",
                    adapters ? "SIGMA adapters" : "plain", err);
            // SPEC §4: 1e-4 float32 (3e-4 with TF32), here through two blocks of linear layers
            assertTrue(err < 3e-4, (adapters ? "with adapters" : "plain") + ": relative error " + err);
        }
    }

    @Test
    void zeroAdaptersOnCudaLeaveTheOutputsBitIdentical() {
        BertWeights w = TestModel.random(21, 2, 64, 4, 128, 300);
        List<Encoding> batch = TestModel.randomBatch(22, 300, 5, 12);
        try (NoraContext ctx = NoraContext.create(Backend.CUDA); BertEncoder encoder = BertEncoder.create(ctx, w)) {
            float[] base = encoder.forward(batch);
            LayerStatistics stats = Calibration.statistics(encoder, batch, false, 2, s -> { });
            AdapterSet.Builder b = AdapterSet.builder(ctx).statistics(stats)
                    .config(NoraConfig.builder().outerRank(8).innerRank(2).build());
            for (BertWeights.Linear l : w.linearLayers()) {
                b.layer(l.name(), l.weight(), l.outFeatures(), l.inFeatures());
            }
            try (AdapterSet set = b.build()) {
                encoder.useAdapters(set::linear);
                assertArrayEquals(base, encoder.forward(batch));
            }
        }
    }
}
