package io.jnora;

import io.jnora.io.BFloat16;
import io.jnora.io.Float16;

/**
 * How a matrix stores its elements. Half precisions hold X, Y, W and the outer factors of a layer
 * at 2 bytes an element; arithmetic on them accumulates in float32 (cuBLAS's 32F compute type on
 * CUDA; widened operands and OpenBLAS on the CPU, which rounds results where CUDA does). SPEC §4
 * allows them 1e-2 against a float64 reference. The trainable inner factors stay FLOAT32.
 *
 * <p>Thread safety: immutable.
 */
public enum Precision {
    FLOAT32(4),
    BFLOAT16(2),
    FLOAT16(2);

    private final int bytes;

    Precision(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }

    public boolean isHalf() {
        return bytes == 2;
    }

    /** The nearest value of this precision, as 16 bits (half precisions only). */
    short narrow(float value) {
        return this == BFLOAT16 ? BFloat16.fromFloat(value) : Float16.fromFloat(value);
    }

    /** The float of 16 bits of this precision (half precisions only). */
    float widen(short bits) {
        return this == BFLOAT16 ? BFloat16.toFloat(bits) : Float16.toFloat(bits);
    }

    /** The value rounded to this precision (identity for FLOAT32). */
    public float round(float value) {
        return isHalf() ? widen(narrow(value)) : value;
    }
}
