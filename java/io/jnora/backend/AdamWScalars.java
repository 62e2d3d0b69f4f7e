package io.jnora.backend;

/**
 * The scalars of one AdamW update (SPEC §2.10), formed in float64 and rounded once, exactly as
 * {@code adamw_scalars} in native/cuda/adamw.cu forms them: powers by repeated squaring (IEEE
 * products only, so Java and C++ agree to the bit, which {@code Math.pow} does not promise), then
 * the element update in float32 in one fixed order. With equal inputs the CPU and the GPU therefore
 * produce equal floats.
 */
record AdamWScalars(float decay, float beta1, float beta2, float oneMinusBeta1, float oneMinusBeta2, float stepSize,
        float biasCorrection2Sqrt, float eps, float gradScale) {

    static AdamWScalars of(float lr, float beta1, float beta2, float eps, float weightDecay, float gradScale, int step) {
        return new AdamWScalars(
                (float) (1.0 - (double) lr * (double) weightDecay),
                beta1,
                beta2,
                (float) (1.0 - (double) beta1),
                (float) (1.0 - (double) beta2),
                (float) ((double) lr / (1.0 - power(beta1, step))),
                (float) Math.sqrt(1.0 - power(beta2, step)),
                eps,
                gradScale);
    }

    /** x^e for e ≥ 0 by repeated squaring in float64. */
    static double power(double x, int e) {
        double result = 1.0;
        double base = x;
        while (e > 0) {
            if ((e & 1) != 0) {
                result *= base;
            }
            base *= base;
            e >>= 1;
        }
        return result;
    }
}
