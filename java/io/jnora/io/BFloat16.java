package io.jnora.io;

/**
 * bfloat16 (safetensors {@code BF16}): the top 16 bits of a float. Widening is a shift; narrowing
 * rounds to nearest, ties to even (as PyTorch does), and keeps NaN a (quiet) NaN, where plain
 * truncation or rounding could turn a NaN with a low payload into infinity.
 *
 * <p>Thread safety: stateless; thread-safe.
 */
public final class BFloat16 {
    private BFloat16() {}

    /** The float equal to a bfloat16's bits. */
    public static float toFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** The bfloat16 nearest a float (ties to even); values past the largest bfloat16 round to infinity. */
    public static short fromFloat(float value) {
        int f = Float.floatToRawIntBits(value);
        if ((f & 0x7FFFFFFF) > 0x7F800000) {
            return (short) ((f >>> 16) | 0x0040);
        }
        return (short) ((f + 0x7FFF + ((f >>> 16) & 1)) >>> 16);
    }
}
