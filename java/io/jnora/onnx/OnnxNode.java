package io.jnora.onnx;

import java.util.List;
import java.util.Map;

/**
 * A {@code NodeProto}: one operator of the graph, its inputs and outputs by value name, and its attributes.
 *
 * <p>Thread safety: immutable as the reader makes it (unmodifiable lists and maps) and thread-safe.
 */
public record OnnxNode(String name, String opType, String domain, List<String> inputs, List<String> outputs,
        Map<String, OnnxAttribute> attributes) {

    /** The attribute of that name, or null. */
    public OnnxAttribute attribute(String attributeName) {
        return attributes.get(attributeName);
    }
}
