package io.jnora;

/**
 * Library-wide constants.
 *
 * <p>Thread safety: constants only; thread-safe.
 */
public final class Jnora {
    /** The library version; the native library reports its own (they match in a release). */
    public static final String VERSION = "0.1.0";

    private Jnora() {}
}
