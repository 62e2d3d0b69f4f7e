package io.jnora.model;

/**
 * The shape of a BERT encoder, as read from the ONNX file (weights' shapes, and from the graph the
 * attention heads and the layer-norm epsilon).
 *
 * <p>Thread safety: immutable and thread-safe.
 */
public record BertConfig(int layers, int hidden, int heads, int intermediate, int vocabularySize, int maxPositions,
        int tokenTypes, float layerNormEps) {

    public int headDim() {
        return hidden / heads;
    }

    @Override
    public String toString() {
        return layers + " layers, hidden " + hidden + ", " + heads + " heads of " + headDim() + ", intermediate "
                + intermediate + ", vocabulary " + vocabularySize + ", " + maxPositions + " positions, layer-norm ε "
                + layerNormEps;
    }
}
