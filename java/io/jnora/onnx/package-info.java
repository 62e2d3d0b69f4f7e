/**
 * ONNX model files read by hand from the protocol-buffers wire format ({@link io.jnora.onnx.OnnxModel}):
 * the graph's nodes and initializers, bounds-checked, with every failure an
 * {@link io.jnora.OnnxFormatException} naming the file, byte offset and field.
 */
package io.jnora.onnx;
