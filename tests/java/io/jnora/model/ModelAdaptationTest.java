package io.jnora.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.Backend;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.adapter.AdapterSet;
import io.jnora.init.InnerInit;
import io.jnora.init.NoraConfig;
import io.jnora.init.ScaleMode;
import io.jnora.peft.LoraLayer;
import io.jnora.peft.PeftAdapter;
import io.jnora.stats.LayerStatistics;
import io.jnora.text.Encoding;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The main job on the real model (issue 8): calibration over the shipped text, every one of the 72
 * linear layers given a nested adapter under one AIRA budget, and the model's outputs at init: ZERO
 * leaves them bit-identical, SIGMA to float rounding; a "trained" set exports to PEFT and, imported
 * back as plain LoRA layers, gives the same outputs.
 */
class ModelAdaptationTest {
    private static final int OUTER = 16;
    private static final long BUDGET = 72L * 2 * OUTER * 4;

    @TempDir
    Path dir;

    private static LayerStatistics stats;

    /** Statistics of 48 calibration sentences, gathered once for the class (host data, any context). */
    private static synchronized LayerStatistics statistics(BertEncoder encoder, boolean covariance) {
        if (stats == null) {
            List<Encoding> calib = TestModel.encode(EmbeddedModel.calibrationSentences().subList(0, 48));
            stats = Calibration.statistics(encoder, calib, covariance, 16, s -> { });
        }
        return stats;
    }

    private static List<Encoding> heldOut() {
        return TestModel.encode(EmbeddedModel.heldOutSentences().subList(0, 8));
    }

    private static AdapterSet build(NoraContext ctx, BertWeights w, LayerStatistics stats, InnerInit init) {
        AdapterSet.Builder b = AdapterSet.builder(ctx).statistics(stats).budget(BUDGET).innerRankRange(1, OUTER)
                .config(NoraConfig.builder().outerRank(OUTER).innerRank(4).scaleMode(ScaleMode.meanAbs()).init(init).build());
        for (BertWeights.Linear l : w.linearLayers()) {
            b.layer(l.name(), l.weight(), l.outFeatures(), l.inFeatures());
        }
        return b.build();
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs((double) a[i] - b[i]));
        }
        return d;
    }

    @Test
    void calibrationGathersEveryLinearLayerInDepthOrderWithSharedQkvInputs() {
        BertWeights w = TestModel.weights();
        try (NoraContext ctx = NoraContext.create(Backend.CPU); BertEncoder encoder = BertEncoder.create(ctx, w)) {
            LayerStatistics stats = statistics(encoder, false);
            assertEquals(encoder.linearLayerNames(), List.copyOf(stats.names()));
            long tokens = TestModel.encode(EmbeddedModel.calibrationSentences().subList(0, 48)).stream()
                    .mapToLong(Encoding::length).sum();
            for (String name : stats.names()) {
                assertEquals(tokens, stats.get(name).count(), name);
                assertEquals(w.linear(name).inFeatures(), stats.get(name).channels(), name);
            }
            assertTrue(stats.get("encoder.layer.3.attention.self.query") == stats.get("encoder.layer.3.attention.self.value"));
            var rows = Calibration.rows(encoder, heldOut(), 20, 4);
            assertEquals(20, rows.get("encoder.layer.0.output.dense").count());
            assertEquals(1536, rows.get("encoder.layer.0.output.dense").columns());
        }
    }

    @Test
    void zeroInitLeavesTheModelsOutputsBitIdentical() {
        BertWeights w = TestModel.weights();
        List<Encoding> held = heldOut();
        try (NoraContext ctx = NoraContext.create(Backend.CPU); BertEncoder encoder = BertEncoder.create(ctx, w)) {
            float[] base = encoder.forward(held);
            try (AdapterSet set = build(ctx, w, statistics(encoder, false), InnerInit.ZERO)) {
                assertEquals(72, set.names().size());
                assertTrue(set.trainableParameters() <= BUDGET && set.trainableParameters() > BUDGET / 2,
                        "Σ 2·r·r_in = " + set.trainableParameters());
                encoder.useAdapters(set::linear);
                assertArrayEquals(base, encoder.forward(held));
            }
        }
    }

    /**
     * One SIGMA set of 72 layers serves both checks (each set costs 72 activation-aware SVDs): at init the
     * outputs are the base model's to float rounding; after a "training" step it exports to PEFT and the
     * import, plain LoRA layers on the original weights, gives the same outputs.
     */
    @Test
    void sigmaInitKeepsTheOutputsAndATrainedSetRoundTripsThroughPeft() {
        BertWeights w = TestModel.weights();
        List<Encoding> held = heldOut();
        Path peft = dir.resolve("peft");
        try (NoraContext ctx = NoraContext.create(Backend.CPU); BertEncoder encoder = BertEncoder.create(ctx, w)) {
            float[] base = encoder.forward(held);
            float[][] baseEmb = BertEncoder.clsPooledNormalized(base, held, 384);
            float[] trained;
            try (AdapterSet set = build(ctx, w, statistics(encoder, false), InnerInit.SIGMA)) {
                encoder.useAdapters(set::linear);
                float[] atInit = encoder.forward(held);
                float[][] emb = BertEncoder.clsPooledNormalized(atInit, held, 384);
                double hidden = maxAbsDiff(base, atInit);
                double embedding = 0;
                for (int b = 0; b < held.size(); b++) {
                    embedding = Math.max(embedding, maxAbsDiff(baseEmb[b], emb[b]));
                }
                System.out.printf("SIGMA init vs base model: hidden states max |Δ| %.2e, [CLS] embeddings max |Δ| %.2e%n",
                        hidden, embedding);
                // W_res + s·BB'A'A re-adds in float32 what was subtracted: ~1e-7 per layer, through 12 layers
                assertTrue(hidden > 0 && hidden < 1e-4, "hidden states max |Δ| " + hidden);
                assertTrue(embedding < 1e-5, "embeddings max |Δ| " + embedding);

                SplittableRandom rng = new SplittableRandom(8);
                for (String name : set.names()) {  // "training": move every B' so that each adapter term shows
                    float[] innerB = set.linear(name).innerB().toArray();
                    for (int j = 0; j < innerB.length; j++) {
                        innerB[j] += (float) (0.05 * (rng.nextDouble() - 0.5));
                    }
                    set.linear(name).innerB().copyFrom(innerB);
                }
                trained = encoder.forward(held);
                set.exportPeft(peft);
            }
            assertTrue(maxAbsDiff(base, trained) > 1e-2, "the trained adapters change the outputs");

            Map<String, LoraLayer> imported = PeftAdapter.read(peft);
            assertEquals(encoder.linearLayerNames(), List.copyOf(imported.keySet()));
            Map<String, NestedLinear> lora = new HashMap<>();
            for (var e : imported.entrySet()) {
                lora.put(e.getKey(), e.getValue().build(ctx, w.linear(e.getKey()).weight()));  // on the original W
            }
            encoder.useAdapters(lora::get);
            float[] roundTrip = encoder.forward(held);
            double diff = maxAbsDiff(trained, roundTrip);
            System.out.printf("PEFT export/import of 72 trained layers: last hidden state max |Δ| %.2e%n", diff);
            assertTrue(diff < 1e-4, "max |Δ| " + diff);
            lora.values().forEach(NestedLinear::close);
        }
    }
}
