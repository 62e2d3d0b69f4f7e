package io.jnora.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.Backend;
import io.jnora.JnoraException;
import io.jnora.NoraContext;
import io.jnora.ShapeMismatchException;
import io.jnora.text.Encoding;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The encoder's own contract on a small random BERT (no model file needed): batching does not change a
 * sequence's states, masked keys are not attended to, bad inputs are typed errors.
 */
class RandomBertTest {
    private static final BertWeights W = TestModel.random(5, 2, 48, 4, 96, 200);

    @Test
    void aSequencesStatesDoNotDependOnItsBatch() {
        List<Encoding> batch = TestModel.randomBatch(6, 200, 4, 9, 1);
        try (NoraContext ctx = NoraContext.create(Backend.CPU); BertEncoder encoder = BertEncoder.create(ctx, W)) {
            float[] together = encoder.forward(batch);
            int offset = 0;
            for (Encoding e : batch) {
                float[] alone = encoder.forward(List.of(e));
                float[] slice = Arrays.copyOfRange(together, offset * 48, (offset + e.length()) * 48);
                double diff = 0;
                for (int i = 0; i < alone.length; i++) {
                    diff = Math.max(diff, Math.abs(alone[i] - slice[i]));
                }
                assertTrue(diff < 1e-5, "sequence of " + e.length() + ": max |Δ| " + diff);  // GEMM blocking may differ
                offset += e.length();
            }
        }
    }

    @Test
    void maskedTokensAreNotAttendedTo() {
        Encoding e = TestModel.randomBatch(7, 200, 6).get(0);
        int[] ids = Arrays.copyOf(e.ids(), 10);
        int[] mask = Arrays.copyOf(e.attentionMask(), 10);
        for (int p = 6; p < 10; p++) {
            ids[p] = 3 + p;  // arbitrary tokens behind mask 0 must not matter
        }
        List<String> tokens = new ArrayList<>(e.tokens());
        for (int p = 6; p < 10; p++) {
            tokens.add("pad");
        }
        Encoding padded = new Encoding(ids, new int[10], mask, tokens);
        try (NoraContext ctx = NoraContext.create(Backend.CPU); BertEncoder encoder = BertEncoder.create(ctx, W)) {
            float[] plain = encoder.forward(List.of(e));
            float[] withPad = encoder.forward(List.of(padded));
            for (int i = 0; i < plain.length; i++) {
                assertEquals(plain[i], withPad[i], 1e-5, "element " + i);
            }
            float[][] emb = encoder.embed(List.of(e));
            double norm = 0;
            for (float v : emb[0]) {
                norm += v * v;
            }
            assertEquals(1, norm, 1e-5);
        }
    }

    @Test
    void badInputsAreTypedErrors() {
        try (NoraContext ctx = NoraContext.create(Backend.CPU); BertEncoder encoder = BertEncoder.create(ctx, W)) {
            Encoding bad = new Encoding(new int[] {1, 200}, new int[2], new int[] {1, 1}, List.of("a", "b"));
            JnoraException e = assertThrows(JnoraException.class, () -> encoder.forward(List.of(bad)));
            assertTrue(e.getMessage().contains("id 200"), e.getMessage());
            Encoding badType = new Encoding(new int[] {1, 2}, new int[] {0, 2}, new int[] {1, 1}, List.of("a", "b"));
            assertThrows(JnoraException.class, () -> encoder.forward(List.of(badType)));
            Encoding tooLong = TestModel.randomBatch(8, 200, 65).get(0);
            assertThrows(ShapeMismatchException.class, () -> encoder.forward(List.of(tooLong)));
            assertThrows(IllegalArgumentException.class, () -> encoder.forward(List.of()));
        }
        assertThrows(ShapeMismatchException.class, () -> BertWeights.of(W.config(), new float[3], W.positionEmbeddings(),
                W.tokenTypeEmbeddings(), W.embeddingNorm(), W.layers()));
        assertArrayEquals(W.linearLayers().get(4).weight(), W.linear("encoder.layer.0.intermediate.dense").weight());
    }
}
