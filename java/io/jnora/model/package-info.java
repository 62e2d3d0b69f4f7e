/**
 * A real transformer encoder for the main job (issue 8): {@link io.jnora.model.BertWeights} from an ONNX
 * export's initializers, {@link io.jnora.model.BertEncoder} the forward pass with every linear layer on a
 * jnora backend (optionally through a nested adapter), {@link io.jnora.model.Calibration} the per-layer
 * activation statistics and held-out rows, {@link io.jnora.model.EmbeddedModel} the embedded default
 * (BAAI bge-small-en-v1.5) and its calibration text.
 */
package io.jnora.model;
