package io.jnora.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * F16 and BF16 conversions: known bit patterns, and exhaustive checks of rounding against an
 * independent reference (the midpoints between neighbouring representable values).
 */
class HalfPrecisionTest {
    private static short f16(float v) {
        return Float16.fromFloat(v);
    }

    private static void assertBits(int expected, short actual, String what) {
        assertEquals(expected, actual & 0xFFFF, what + ": expected 0x" + Integer.toHexString(expected) + ", got 0x"
                + Integer.toHexString(actual & 0xFFFF));
    }

    @Test
    void float16KnownBitPatternsBothWays() {
        float smallestSubnormal = 0x1p-24f;
        float largestSubnormal = 1023 * 0x1p-24f;
        float[] values = {1f, -2f, 65504f, -65504f, smallestSubnormal, largestSubnormal, 0x1p-14f, 0f, -0f,
            Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0.5f, 1.5f, 1f + 0x1p-10f};
        int[] bits = {0x3C00, 0xC000, 0x7BFF, 0xFBFF, 0x0001, 0x03FF, 0x0400, 0x0000, 0x8000,
            0x7C00, 0xFC00, 0x3800, 0x3E00, 0x3C01};
        for (int i = 0; i < values.length; i++) {
            assertBits(bits[i], f16(values[i]), "fromFloat(" + values[i] + ")");
            assertEquals(Float.floatToRawIntBits(values[i]), Float.floatToRawIntBits(Float16.toFloat((short) bits[i])),
                    "toFloat(0x" + Integer.toHexString(bits[i]) + ")");
        }
    }

    @Test
    void float16NaNStaysNaNAndOverflowRoundsToInfinity() {
        assertTrue(Float.isNaN(Float16.toFloat((short) 0x7E00)));
        assertTrue(Float.isNaN(Float16.toFloat((short) 0x7C01)));  // lowest-payload NaN is not infinity
        assertTrue(Float.isNaN(Float16.toFloat(f16(Float.NaN))));
        assertTrue(Float.isNaN(Float16.toFloat(f16(Float.intBitsToFloat(0x7F800001)))));  // payload below F16's bits
        assertBits(0xFE00, f16(Float.intBitsToFloat(0xFFC00000)), "negative NaN keeps its sign");
        assertBits(0x7C00, f16(65520f), "65520 is the tie between 65504 (odd) and 2^16: rounds to infinity");
        assertBits(0x7BFF, f16(Math.nextDown(65520f)), "just below the tie rounds to 65504");
        assertBits(0x7C00, f16(Float.MAX_VALUE), "beyond range");
        assertBits(0x0000, f16(0x1p-25f), "half the smallest subnormal ties to even zero");
        assertBits(0x0001, f16(Math.nextUp(0x1p-25f)), "just above the tie rounds up");
        assertBits(0x0002, f16(3 * 0x1p-25f), "1.5 units ties to even 2");
        assertBits(0x0400, f16(Math.nextDown(0x1p-14f)), "the largest float below 2^-14 rounds to the smallest normal");
        assertBits(0x3555, f16(1f / 3), "1/3");
    }

    @Test
    void float16EveryPatternWidensAndNarrowsBackExactly() {
        for (int h = 0; h <= 0xFFFF; h++) {
            float f = Float16.toFloat((short) h);
            boolean nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0;
            if (nan) {
                assertTrue(Float.isNaN(f), Integer.toHexString(h));
            } else {
                assertBits(h, f16(f), "round trip of 0x" + Integer.toHexString(h));
            }
        }
    }

    /** Between neighbours a and b, below the midpoint → a, above → b, at it → the one with an even mantissa. */
    @Test
    void float16RoundsToNearestEvenAtEveryMidpoint() {
        for (int h = 0; h < 0x7BFF; h++) {  // each positive finite half and its successor
            double low = Float16.toFloat((short) h);
            double high = Float16.toFloat((short) (h + 1));
            float mid = (float) ((low + high) / 2);  // needs 12 significant bits: exact in float
            assertEquals((low + high) / 2, mid, 0.0);
            int even = (h & 1) == 0 ? h : h + 1;
            assertBits(even, f16(mid), "tie at " + mid);
            assertBits(h, f16(Math.nextDown(mid)), "below " + mid);
            assertBits(h + 1, f16(Math.nextUp(mid)), "above " + mid);
            assertBits(h | 0x8000, f16(-Math.nextDown(mid)), "negative below " + mid);
        }
    }

    @Test
    void bfloat16KnownBitPatterns() {
        assertBits(0x3F80, BFloat16.fromFloat(1f), "1.0");
        assertBits(0xC000, BFloat16.fromFloat(-2f), "-2.0");
        assertBits(0x7F80, BFloat16.fromFloat(Float.POSITIVE_INFINITY), "inf");
        assertBits(0xFF80, BFloat16.fromFloat(Float.NEGATIVE_INFINITY), "-inf");
        assertBits(0x7FC0, BFloat16.fromFloat(Float.NaN), "NaN");
        assertBits(0x7FC0, BFloat16.fromFloat(Float.intBitsToFloat(0x7F800001)), "a low-payload NaN stays NaN, not inf");
        assertBits(0x3F80, BFloat16.fromFloat(1f + 0x1p-8f), "tie to even (down)");
        assertBits(0x3F82, BFloat16.fromFloat(1f + 3 * 0x1p-8f), "tie to even (up)");
        assertBits(0x3F81, BFloat16.fromFloat(Math.nextUp(1f + 0x1p-8f)), "above the tie");
        assertBits(0x7F80, BFloat16.fromFloat(Float.MAX_VALUE), "past the largest bfloat16");
        assertBits(0x0001, BFloat16.fromFloat(Float.intBitsToFloat(0x00010000)), "smallest subnormal");
        assertEquals(1f, BFloat16.toFloat((short) 0x3F80));
        assertEquals(Float.intBitsToFloat(0x00010000), BFloat16.toFloat((short) 0x0001));
        assertTrue(Float.isNaN(BFloat16.toFloat((short) 0x7FC0)));
    }

    @Test
    void bfloat16EveryPatternRoundTripsAndRelativeErrorIsAtMostHalfAnUlp() {
        for (int h = 0; h <= 0xFFFF; h++) {
            float f = BFloat16.toFloat((short) h);
            if (Float.isNaN(f)) {
                assertTrue(Float.isNaN(BFloat16.toFloat(BFloat16.fromFloat(f))));
            } else {
                assertBits(h, BFloat16.fromFloat(f), "round trip of 0x" + Integer.toHexString(h));
            }
        }
        java.util.SplittableRandom random = new java.util.SplittableRandom(11);
        for (int i = 0; i < 100_000; i++) {
            float x = (float) (random.nextDouble(-1, 1) * Math.pow(2, random.nextInt(-100, 100)));
            float y = BFloat16.toFloat(BFloat16.fromFloat(x));
            assertTrue(Math.abs(y - x) <= Math.abs(x) * 0x1p-8f, x + " → " + y);  // 8 significant bits: half-ulp 2^-8
        }
    }
}
