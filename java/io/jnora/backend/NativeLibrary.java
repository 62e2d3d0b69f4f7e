package io.jnora.backend;

import io.jnora.BackendUnavailableException;
import io.jnora.NativeFailureException;
import io.jnora.binding.JnoraNative;
import org.bytedeco.javacpp.BytePointer;

/**
 * Guarded, lazy loading of {@code libjnora} (see {@link OnceLoader}) and translation of its status codes.
 *
 * <p>Thread safety: thread-safe; the library is loaded once under a lock, and {@link #lastError()} is per thread.
 */
public final class NativeLibrary {
    private static final OnceLoader LIBJNORA = new OnceLoader("libjnora", JnoraNative.class);

    private NativeLibrary() {}

    /** Loads libjnora or throws {@link BackendUnavailableException} naming the cause. */
    public static void ensureLoaded() {
        LIBJNORA.ensureLoaded();
    }

    /** The library's version as "major.minor.patch". */
    public static String version() {
        ensureLoaded();
        int v = JnoraNative.jnora_version();
        return (v / 10000) + "." + (v / 100 % 100) + "." + (v % 100);
    }

    public static boolean cudaCompiled() {
        ensureLoaded();
        return JnoraNative.jnora_cuda_compiled() != 0;
    }

    /** The last native error on this thread, e.g. "context.cu:20: cudaGetDeviceCount: ...". */
    public static String lastError() {
        ensureLoaded();
        BytePointer message = JnoraNative.jnora_last_error();
        return message == null ? "" : message.getString();
    }

    /** Throws {@link NativeFailureException} naming {@code operation} when {@code status} is not success. */
    public static void check(int status, String operation) {
        if (status != JnoraNative.JNORA_STATUS_SUCCESS) {
            BytePointer text = JnoraNative.jnora_status_string(status);
            throw new NativeFailureException(operation + ": " + (text == null ? "status " + status : text.getString())
                    + " (" + lastError() + ")");
        }
    }
}
