package io.jnora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.Backend;
import io.jnora.InsufficientBudgetException;
import io.jnora.InvalidRankException;
import io.jnora.NoraContext;
import io.jnora.adapter.AdapterLayer;
import io.jnora.aira.AllocationStrategy;
import io.jnora.init.InnerInit;
import io.jnora.init.NoraConfig;
import io.jnora.init.ScaleMode;
import io.jnora.model.BertEncoder;
import io.jnora.model.BertWeights;
import io.jnora.model.TestModel;
import io.jnora.text.Encoding;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Whole-model recovery ({@link ModelRecovery}) on a small random BERT (2 blocks, hidden 48, 12 linear
 * layers): recovery raises the embedding cosine to the unpruned model, nothing pruned means a cosine of
 * 1, the installed adapters are what the report measured, and uniform and AIRA ranks keep one budget.
 */
class ModelRecoveryTest {
    private static final int VOCABULARY = 200;
    private static final BertWeights W = TestModel.random(11, 2, 48, 4, 96, VOCABULARY);
    private static final List<Encoding> CALIB = TestModel.randomBatch(12, VOCABULARY, lengths(40, 12, 30));
    private static final List<Encoding> HELD = TestModel.randomBatch(13, VOCABULARY, lengths(12, 8, 20));

    private NoraContext ctx;
    private BertEncoder encoder;

    private static int[] lengths(int count, int min, int max) {
        int[] out = new int[count];
        for (int i = 0; i < count; i++) {
            out[i] = min + (i * 7) % (max - min + 1);
        }
        return out;
    }

    @BeforeEach
    void open() {
        ctx = NoraContext.create(Backend.CPU);
        encoder = BertEncoder.create(ctx, W);
    }

    @AfterEach
    void close() {
        encoder.close();
        ctx.close();
    }

    private static NoraConfig adapter(int r, int rIn) {
        return NoraConfig.builder().outerRank(r).innerRank(rIn).scaleMode(ScaleMode.whiten()).build();
    }

    private ModelRecovery.Builder job(Pruning pruning) {
        return ModelRecovery.builder(encoder).pruning(pruning).adapter(adapter(16, 4)).calibration(CALIB).heldOut(HELD)
                .steps(150).batchRows(256).learningRate(2e-2);
    }

    /**
     * Half of every layer's entries pruned: the random model's embeddings drift to a mean cosine of 0.945; 150
     * steps per layer at r = 16, r_in = 4 lower every layer's held-out error (mean 0.265 → 0.143, optimum 0.142)
     * and bring the cosine to 0.991, closing 84% of the gap; at least half is asserted. A broken recovery (no
     * training, adapters not installed, the wrong base) leaves "after" at "before".
     */
    @Test
    void recoveringEveryLayerRaisesTheEmbeddingCosine() {
        try (ModelRecovery job = job(Pruning.magnitude(0.5)).build()) {
            ModelRecoveryReport r = job.run();
            assertEquals(12, r.layers().size());
            assertEquals(HELD.size(), r.cosineBefore().length);
            assertTrue(r.meanCosineBefore() < 0.99, "pruning half of each layer moves the embeddings: " + r.meanCosineBefore());
            assertTrue(r.meanCosineAfter() > r.meanCosineBefore() + 0.5 * (1 - r.meanCosineBefore()),
                    "recovery closes at least half of the gap: " + r.meanCosineBefore() + " -> " + r.meanCosineAfter());
            assertTrue(r.minCosineAfter() > r.minCosineBefore(), r.minCosineBefore() + " -> " + r.minCosineAfter());
            for (ModelRecoveryReport.Layer l : r.layers()) {
                assertTrue(l.recovery().errorAfter() < l.recovery().errorBefore(), l.name() + ": " + l.recovery());
            }
            // the report's "after" is the encoder as the job left it: the adapters are installed
            float[][] reference = baseEmbeddings();
            double[] now = ModelRecovery.cosines(reference, installedEmbeddings());
            assertArrayEquals(r.cosineAfter(), now, 1e-6);
        }
        // closing puts the encoder back on its frozen weights
        float[][] base = baseEmbeddings();
        float[][] now = installedEmbeddings();
        for (int k = 0; k < base.length; k++) {
            assertArrayEquals(base[k], now[k], "sentence " + k);
        }
    }

    private float[][] baseEmbeddings() {
        try (NoraContext c = NoraContext.create(Backend.CPU); BertEncoder plain = BertEncoder.create(c, W)) {
            return plain.embed(HELD);
        }
    }

    private float[][] installedEmbeddings() {
        return encoder.embed(HELD);
    }

    /** magnitude:0 prunes nothing: the "before" model is the unpruned one, cosine 1 to float rounding of the dot product. */
    @Test
    void withNothingPrunedTheCosineBeforeIsOne() {
        try (ModelRecovery job = job(Pruning.magnitude(0)).steps(5).build()) {
            ModelRecoveryReport r = job.run();
            for (double c : r.cosineBefore()) {
                assertEquals(1, c, 1e-6);
            }
            for (ModelRecoveryReport.Layer l : r.layers()) {
                assertEquals(0, l.recovery().errorBefore(), l.name());
            }
        }
    }

    /**
     * One budget below the uniform cost (so uniform cannot give every layer the config's r_in): both strategies stay
     * within it, the report's count is Σ 2·r·r_in of the layers, and the ranks written are the ones trained.
     */
    @Test
    void uniformAndAiraSpendTheSameBudget() {
        long budget = 12 * 2 * 16 * 3 + 100;
        long[] spent = new long[2];
        int i = 0;
        for (AllocationStrategy s : List.of(AllocationStrategy.UNIFORM, AllocationStrategy.OUTLIER_DRIVEN)) {
            try (ModelRecovery job = job(Pruning.magnitude(0.3)).allocation(s).budget(budget).steps(2).build()) {
                ModelRecoveryReport r = job.run();
                assertEquals(budget, r.budget());
                assertTrue(r.trainableParameters() <= budget, s + " spent " + r.trainableParameters());
                long sum = r.layers().stream().mapToLong(l -> 2L * l.outerRank() * l.innerRank()).sum();
                assertEquals(sum, r.trainableParameters(), s.toString());
                List<AdapterLayer> layers = job.adapterLayers();
                for (int k = 0; k < layers.size(); k++) {
                    assertEquals(r.layers().get(k).innerRank(), layers.get(k).innerRank());
                }
                if (s == AllocationStrategy.UNIFORM) {
                    assertTrue(r.layers().stream().allMatch(l -> l.innerRank() == 3), "uniform r_in 3 fits, 4 does not");
                }
                spent[i++] = r.trainableParameters();
            }
        }
        assertTrue(spent[0] > budget - 12 * 2 * 16, "uniform leaves less than one rank step unspent: " + spent[0]);
    }

    @Test
    void aBudgetBelowOneInnerRankPerLayerIsRefusedBeforeAnyWork() {
        InsufficientBudgetException e = assertThrows(InsufficientBudgetException.class,
                () -> job(Pruning.magnitude(0.5)).budget(100).build());
        assertEquals(12 * 2 * 16, e.minimumBudget());
        assertTrue(e.getMessage().contains("384"), e.getMessage());
    }

    @Test
    void badSettingsAreTypedErrors() {
        assertThrows(InvalidHyperparameterException.class, () -> job(Pruning.magnitude(0.5)).steps(0).build());
        assertThrows(InvalidHyperparameterException.class, () -> job(Pruning.magnitude(0.5)).learningRate(-1).build());
        assertThrows(InvalidHyperparameterException.class, () -> job(Pruning.magnitude(0.5)).batchRows(0).build());
        InvalidRankException rank = assertThrows(InvalidRankException.class, () -> job(Pruning.rank(49)).build());
        assertTrue(rank.getMessage().contains("min(m, n) = 48"), rank.getMessage());
        assertThrows(IllegalArgumentException.class, () -> job(Pruning.magnitude(0.5))
                .adapter(adapter(16, 4).toBuilder().init(InnerInit.SIGMA).build()).build());
        assertThrows(IllegalArgumentException.class, () -> job(Pruning.magnitude(0.5)).heldOut(List.of()).build());
        assertThrows(IllegalArgumentException.class, () -> job(Pruning.magnitude(0.5)).calibrationRows(0).build());
    }

    @Test
    void theDefaultBudgetIsAUniformInnerRankAtEveryLayersOuterRank() {
        assertEquals(12 * 2 * 16 * 4, ModelRecovery.uniformBudget(W, adapter(16, 4)));
        // outer rank 64 is clamped to min(m, n) = 48 per layer, and r_in 64 with it
        assertEquals(12 * 2 * 48 * 48, ModelRecovery.uniformBudget(W, adapter(64, 64)));
        assertNotEquals(0, ModelRecovery.uniformBudget(W, adapter(1, 1)));
    }
}
