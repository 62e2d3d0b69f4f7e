package io.jnora;

/**
 * Where the arithmetic runs (SPEC §3, "Backend choice").
 *
 * <p>Thread safety: constants without mutable state; thread-safe.
 */
public enum Backend {
    /** CUDA when a device is present and the CUDA libraries load, else the CPU. */
    AUTO,
    /** OpenBLAS on the host: always available; also the reference GPU results are tested against. */
    CPU,
    /** Our kernels and cuBLAS on an NVIDIA GPU; asking for it where there is none is an error. */
    CUDA;

    /** Parses {@code auto|cpu|cuda}, case-insensitively. */
    public static Backend parse(String name) {
        for (Backend b : values()) {
            if (b.name().equalsIgnoreCase(name.trim())) {
                return b;
            }
        }
        throw new IllegalArgumentException("unknown backend '" + name + "' (expected auto, cpu or cuda)");
    }
}
