package io.jnora.model;

import java.util.List;

/**
 * Sees the input rows of the encoder's linear layers as a forward pass runs (for calibration: activation
 * statistics, held-out rows). One call per distinct input: the query, key and value projections of a
 * block share theirs, so {@code layers} names all layers that take these rows. Only rows of tokens whose
 * attention mask is 1 are passed. The array is the encoder's own: read it during the call, copy what
 * is kept.
 *
 * <p>Thread safety: called synchronously on the encoder's thread; an observer need be thread-safe only if encoders
 * on several threads share it.
 */
@FunctionalInterface
public interface LinearInputObserver {
    void observe(List<String> layers, float[] rows, int rowCount, int columns);
}
