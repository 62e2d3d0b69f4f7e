package io.jnora.train;

import io.jnora.JnoraException;

/**
 * A training setting is out of range (a learning rate ≤ 0, fewer than one step, ...); the message names it.
 *
 * <p>Thread safety: immutable once constructed (its message is fixed); safe to hand to any thread.
 */
public class InvalidHyperparameterException extends JnoraException {
    private static final long serialVersionUID = 1L;

    public InvalidHyperparameterException(String message) {
        super(message);
    }
}
