package io.jnora.onnx;

import java.util.List;

/**
 * A graph input or output ({@code ValueInfoProto}): its name, element type and dims, each dim a number
 * or a symbolic name such as {@code batch_size} ("?" when neither is given).
 *
 * <p>Thread safety: immutable as the reader makes it (an unmodifiable list) and thread-safe.
 */
public record OnnxValueInfo(String name, OnnxDataType elementType, List<String> dims) {}
