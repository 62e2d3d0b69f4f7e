package io.jnora;

/**
 * Which backend a context runs on and why: what {@code jnora info} prints.
 *
 * @param requested what the caller asked for
 * @param chosen the backend in use (never {@link Backend#AUTO})
 * @param reason one line: why this backend (for AUTO on the CPU, why not CUDA)
 * @param device the device or library doing the arithmetic
 *
 * <p>Thread safety: immutable and thread-safe.
 */
public record BackendSelection(Backend requested, Backend chosen, String reason, String device) {
    @Override
    public String toString() {
        return chosen.name().toLowerCase() + " (" + reason + "; " + device + ")";
    }
}
