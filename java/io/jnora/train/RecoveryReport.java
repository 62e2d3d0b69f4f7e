package io.jnora.train;

/**
 * The outcome of a layer-wise recovery (SPEC §2.10). Errors are the held-out output error
 * ‖X_t (W_base + ΔW − W)ᵀ‖_F / ‖X_t Wᵀ‖_F: before training (ΔW = 0), after it, and at the closed-form
 * optimum (the best rank-r_in correction on the training rows: the WHITEN truncation of W − W_base
 * with λ → 0), computed independently of the training.
 *
 * @param trainRows calibration rows trained on
 * @param testRows held-out rows the errors are measured on
 * @param heldOutGiven whether the held-out rows were given (else the last 10% of the calibration)
 * @param steps training steps taken
 * @param finalLoss the last step's mean squared error on its minibatch
 * @param seconds wall time of the training loop
 *
 * <p>Thread safety: immutable and thread-safe.
 */
public record RecoveryReport(String pruning, int trainRows, int testRows, boolean heldOutGiven, int steps,
        double errorBefore, double errorAfter, double errorOptimum, double finalLoss, double seconds) {
    /** How far training came from the optimum: error after / error at the optimum (1 is optimal). */
    public double afterOverOptimum() {
        return errorAfter / errorOptimum;
    }
}
