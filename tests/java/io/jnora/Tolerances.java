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
     * Like {@link #assertClose(String, float[], double[], double)}, but relative to the output's magnitude
     * (the same computation on absolute values): for the fresh random small shapes, whose short sums
     * sometimes cancel (seen 1 run in ~250 with T = 5, n = m = r = 1). Never looser than the plain
     * check where nothing cancels.
     */
    static void assertCloseToMagnitude(String what, float[] got, double[] want, double[] magnitude, double tolerance) {
        double err = Float64Reference.errorRelativeToMagnitude(got, want, magnitude);
        assertTrue(err <= tolerance, what + ": Frobenius error relative to the magnitude " + err + " > " + tolerance
                + " (relative to the result: " + Float64Reference.relativeFrobeniusError(got, want) + ")");
    }

    static void assertCloseToMagnitude(String what, float[] got, float[] want, double[] magnitude, double tolerance) {
        assertCloseToMagnitude(what, got, Float64Reference.toDouble(want), magnitude, tolerance);
    }

    static void assertClose(String what, float[] got, float[] want, double tolerance) {
        assertClose(what, got, Float64Reference.toDouble(want), tolerance);
    }
}
