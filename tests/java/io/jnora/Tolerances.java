package io.jnora;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.reference.Float64Reference;

/** The acceptance bounds of SPEC §4 and the assertions that use them. */
final class Tolerances {
    /**
     * float32 results against float64 references. Each output is a few float32 GEMMs in sequence
     * with sums of up to ~1000 terms: rounding gives ~1e-6 relative; 1e-5 leaves a margin while still
     * failing on any real mistake (a wrong term is O(1) relative).
     */
    static final double FLOAT32_VS_FLOAT64 = 1e-5;

    /** SPEC §4: float32 GPU results against the CPU backend. */
    static final double GPU_VS_CPU = 1e-4;
    /** SPEC §4: float32 on the GPU with TF32 tensor-core products allowed. */
    static final double GPU_TF32_VS_CPU = 3e-4;

    private Tolerances() {}

    static void assertClose(String what, float[] got, double[] want, double tolerance) {
        double err = Float64Reference.relativeFrobeniusError(got, want);
        assertTrue(err <= tolerance, what + ": relative Frobenius error " + err + " > " + tolerance);
    }

    /**
     * The relative Frobenius error within {@code tolerance}, or, where the result cancels, the error
     * relative to the output's magnitude (the same computation on absolute values) within a tenth of it.
     * For the fresh random small shapes, whose short sums sometimes cancel: a correct float32 result of
     * T = 5, n = m = r = 1 had a relative error of 3e-5 about one run in 250. Float32 rounding is bounded
     * relative to the magnitude by about (terms per sum + products in the chain)·2^-24, under 6e-7 for
     * those shapes (measured: at most 1.6e-7 over 400 runs of every odd shape), so the fallback does not
     * let a wrong term through (that is ~1/terms of the magnitude). Only the fallback is new: whatever
     * the plain check passed still passes, and nothing else except through the tighter bound. The
     * magnitude alone would be a weak check on large shapes, where random signs make the magnitude
     * ~√terms to ~1000× the result (measured).
     */
    static void assertCloseAllowingCancellation(String what, float[] got, double[] want, double[] magnitude, double tolerance) {
        double err = Float64Reference.relativeFrobeniusError(got, want);
        if (err <= tolerance) {
            return;
        }
        double toMagnitude = Float64Reference.errorRelativeToMagnitude(got, want, magnitude);
        assertTrue(toMagnitude <= tolerance / 10, what + ": relative Frobenius error " + err + " > " + tolerance
                + ", and relative to the magnitude " + toMagnitude + " > " + tolerance / 10);
    }

    static void assertCloseAllowingCancellation(String what, float[] got, float[] want, double[] magnitude, double tolerance) {
        assertCloseAllowingCancellation(what, got, Float64Reference.toDouble(want), magnitude, tolerance);
    }

    static void assertClose(String what, float[] got, float[] want, double tolerance) {
        assertClose(what, got, Float64Reference.toDouble(want), tolerance);
    }
}
