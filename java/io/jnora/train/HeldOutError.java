package io.jnora.train;

/**
 * The held-out output error ‖X_t (W_base + ΔW − W)ᵀ‖_F / ‖X_t Wᵀ‖_F of a layer-wise recovery (SPEC
 * §2.10) after a given number of training steps: one point of its learning curve.
 *
 * <p>Thread safety: immutable and thread-safe.
 */
public record HeldOutError(int step, double error) {}
