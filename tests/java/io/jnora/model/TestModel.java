package io.jnora.model;

import io.jnora.text.Encoding;
import io.jnora.text.WordPieceTokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;

/**
 * The embedded model for the tests, loaded once per test JVM (reading and parsing it takes a second or
 * two). Where it is not on the class path (the GPU check carries jnora.jar without the 133 MB ONNX file:
 * it does not fit the carry), the tests that need it are skipped, saying so.
 */
public final class TestModel {
    private static BertWeights weights;
    private static WordPieceTokenizer tokenizer;

    private TestModel() {}

    /** Skips the calling test unless the embedded ONNX file is on the class path. */
    public static void assumeModel() {
        Assumptions.assumeTrue(EmbeddedModel.class.getResource(EmbeddedModel.ONNX_RESOURCE) != null,
                "the embedded model " + EmbeddedModel.ONNX_RESOURCE + " is not on the class path");
    }

    /** Skips the calling test unless the class (a test-scope reference library) is on the class path. */
    public static void assumeClass(String name) {
        boolean present;
        try {
            Class.forName(name, false, TestModel.class.getClassLoader());
            present = true;
        } catch (ClassNotFoundException | LinkageError e) {
            present = false;
        }
        Assumptions.assumeTrue(present, name + " (a test dependency) is not on the class path");
    }

    public static synchronized BertWeights weights() {
        assumeModel();
        if (weights == null) {
            weights = EmbeddedModel.weights();
        }
        return weights;
    }

    public static synchronized WordPieceTokenizer tokenizer() {
        Assumptions.assumeTrue(EmbeddedModel.class.getResource(EmbeddedModel.TOKENIZER_RESOURCE) != null,
                "the embedded tokenizer is not on the class path");
        if (tokenizer == null) {
            tokenizer = EmbeddedModel.tokenizer();
        }
        return tokenizer;
    }

    public static List<Encoding> encode(List<String> texts) {
        List<Encoding> out = new ArrayList<>();
        for (String s : texts) {
            out.add(tokenizer().encode(s));
        }
        return out;
    }

    /** A small random BERT (Gaussian weights of BERT's init scale, γ near 1): for checks that need no real model. */
    public static BertWeights random(long seed, int layers, int hidden, int heads, int intermediate, int vocabulary) {
        SplittableRandom rng = new SplittableRandom(seed);
        BertConfig config = new BertConfig(layers, hidden, heads, intermediate, vocabulary, 64, 2, 1e-12f);
        List<BertWeights.Layer> blocks = new ArrayList<>();
        for (int i = 0; i < layers; i++) {
            String p = "encoder.layer." + i + ".";
            blocks.add(new BertWeights.Layer(linear(rng, p + "attention.self.query", hidden, hidden),
                    linear(rng, p + "attention.self.key", hidden, hidden), linear(rng, p + "attention.self.value", hidden, hidden),
                    linear(rng, p + "attention.output.dense", hidden, hidden),
                    linear(rng, p + "intermediate.dense", intermediate, hidden),
                    linear(rng, p + "output.dense", hidden, intermediate), norm(rng, hidden), norm(rng, hidden)));
        }
        return BertWeights.of(config, gaussian(rng, vocabulary * hidden, 0.5), gaussian(rng, 64 * hidden, 0.5),
                gaussian(rng, 2 * hidden, 0.5), norm(rng, hidden), blocks);
    }

    /** Random token ids (1 … vocabulary−1) of the given lengths, with [CLS]-like id 1 first. */
    public static List<Encoding> randomBatch(long seed, int vocabulary, int... lengths) {
        SplittableRandom rng = new SplittableRandom(seed);
        List<Encoding> batch = new ArrayList<>();
        for (int length : lengths) {
            int[] ids = new int[length];
            int[] mask = new int[length];
            List<String> tokens = new ArrayList<>();
            for (int p = 0; p < length; p++) {
                ids[p] = p == 0 ? 1 : 1 + rng.nextInt(vocabulary - 1);
                mask[p] = 1;
                tokens.add("t" + ids[p]);
            }
            batch.add(new Encoding(ids, new int[length], mask, tokens));
        }
        return batch;
    }

    private static BertWeights.Linear linear(SplittableRandom rng, String name, int out, int in) {
        return new BertWeights.Linear(name, out, in, gaussian(rng, out * in, 1 / Math.sqrt(in)), gaussian(rng, out, 0.02));
    }

    private static BertWeights.Norm norm(SplittableRandom rng, int hidden) {
        float[] gamma = gaussian(rng, hidden, 0.1);
        for (int j = 0; j < hidden; j++) {
            gamma[j] += 1;
        }
        return new BertWeights.Norm(gamma, gaussian(rng, hidden, 0.1));
    }

    private static float[] gaussian(SplittableRandom rng, int n, double scale) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) (io.jnora.backend.HostSvd.gaussian(rng) * scale);
        }
        return out;
    }
}
