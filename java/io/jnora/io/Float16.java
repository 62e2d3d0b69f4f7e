package io.jnora.io;

/**
 * IEEE 754 binary16 ("half", safetensors {@code F16}) to and from {@code float}. Java 17 lacks
 * {@code Float.float16ToFloat}; these agree with it: exact widening including subnormals, infinities
 * and NaN payloads, and narrowing rounded to nearest, ties to even, overflowing to infinity.
 *
 * <p>Thread safety: stateless; thread-safe.
 */
public final class Float16 {
    private Float16() {}

    /** The float equal to a half's bits (widening is always exact). */
    public static float toFloat(short bits) {
        int h = bits & 0xFFFF;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1F;
        int mantissa = h & 0x3FF;
        if (exponent == 0x1F) {  // infinity, or NaN keeping its payload in the high mantissa bits
            return Float.intBitsToFloat(sign | 0x7F800000 | mantissa << 13);
        }
        if (exponent == 0) {  // zero or subnormal: mantissa × 2^-24, exact in float
            float magnitude = mantissa * 0x1p-24f;
            return sign == 0 ? magnitude : -magnitude;
        }
        return Float.intBitsToFloat(sign | (exponent + 127 - 15) << 23 | mantissa << 13);
    }

    /** The half nearest a float (ties to even); beyond 65520 in magnitude that is infinity; NaN stays NaN. */
    public static short fromFloat(float value) {
        int f = Float.floatToRawIntBits(value);
        int sign = (f >>> 16) & 0x8000;
        int magnitude = f & 0x7FFFFFFF;
        if (magnitude > 0x7F800000) {  // NaN: keep the top payload bits, force quiet so it never becomes infinity
            return (short) (sign | 0x7E00 | (magnitude >>> 13) & 0x3FF);
        }
        if (magnitude >= 0x477FF000) {  // ≥ 65520, the midpoint between 65504 (odd) and 2^16: to infinity
            return (short) (sign | 0x7C00);
        }
        if (magnitude < 0x38800000) {  // below 2^-14: a subnormal half; |x|·2^24 is exact in double, rint ties to even
            int units = (int) Math.rint(Math.abs((double) value) * 0x1p24);
            return (short) (sign | units);  // 1024 units carries into the smallest normal, 0x0400
        }
        int rebiased = magnitude - ((127 - 15) << 23);
        int half = rebiased >>> 13;
        int dropped = rebiased & 0x1FFF;
        if (dropped > 0x1000 || dropped == 0x1000 && (half & 1) == 1) {
            half++;  // a carry out of the mantissa correctly bumps the exponent
        }
        return (short) (sign | half);
    }
}
