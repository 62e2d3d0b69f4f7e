package io.jnora.onnx;

import java.util.List;
import java.util.Map;

/**
 * A {@code GraphProto}: nodes in the file's (topological) order, initializers by name, inputs and outputs.
 *
 * <p>Thread safety: immutable as the reader makes it (unmodifiable lists and maps) and thread-safe.
 */
public record OnnxGraph(String name, List<OnnxNode> nodes, Map<String, OnnxTensor> initializers,
        List<OnnxValueInfo> inputs, List<OnnxValueInfo> outputs) {

    /** The initializer of that name, or null. */
    public OnnxTensor initializer(String tensorName) {
        return initializers.get(tensorName);
    }
}
