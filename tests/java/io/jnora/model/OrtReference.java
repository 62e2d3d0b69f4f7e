package io.jnora.model;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.jnora.text.Encoding;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;

/**
 * ONNX Runtime on the embedded ONNX file, the reference the Java encoder is checked against. Kept out of
 * the test classes' signatures so that they load (and skip) where ONNX Runtime is not on the class path.
 */
final class OrtReference {
    private static OrtSession session;

    private OrtReference() {}

    private static synchronized OrtSession session() throws OrtException {
        if (session == null) {
            byte[] model;
            try (InputStream in = EmbeddedModel.class.getResourceAsStream(EmbeddedModel.ONNX_RESOURCE)) {
                model = in.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            session = OrtEnvironment.getEnvironment().createSession(model, new OrtSession.SessionOptions());
        }
        return session;
    }

    /** ORT's last_hidden_state [B][L][hidden] for a batch padded to {@code length} with id 0, type 0 and mask 0. */
    static float[][][] lastHiddenState(List<Encoding> batch, int length) {
        long[][] ids = new long[batch.size()][length];
        long[][] mask = new long[batch.size()][length];
        long[][] types = new long[batch.size()][length];
        for (int b = 0; b < batch.size(); b++) {
            Encoding e = batch.get(b);
            for (int p = 0; p < e.length(); p++) {
                ids[b][p] = e.ids()[p];
                mask[b][p] = e.attentionMask()[p];
                types[b][p] = e.typeIds()[p];
            }
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OnnxTensor i = OnnxTensor.createTensor(env, ids); OnnxTensor m = OnnxTensor.createTensor(env, mask);
                OnnxTensor t = OnnxTensor.createTensor(env, types);
                OrtSession.Result r = session().run(Map.of("input_ids", i, "attention_mask", m, "token_type_ids", t))) {
            return (float[][][]) r.get("last_hidden_state").orElseThrow().getValue();
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime failed: " + e.getMessage(), e);
        }
    }
}
