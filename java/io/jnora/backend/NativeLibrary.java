package io.jnora.backend;

import io.jnora.BackendUnavailableException;
import io.jnora.NativeFailureException;
import io.jnora.binding.JnoraNative;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;

/**
 * Guarded, lazy loading of {@code libjnora} and translation of its status codes. A library that
 * fails to load is reported once with its cause, and the same typed error is thrown at every
 * later use (JavaCPP would otherwise answer NoClassDefFoundError from then on).
 */
public final class NativeLibrary {
    private static final Object LOCK = new Object();
    private static volatile boolean loaded;
    private static volatile String failure;

    private NativeLibrary() {}

    /** Loads libjnora or throws {@link BackendUnavailableException} naming the cause. */
    public static void ensureLoaded() {
        if (loaded) {
            return;
        }
        synchronized (LOCK) {
            if (loaded) {
                return;
            }
            if (failure == null) {
                try {
                    Loader.load(JnoraNative.class);
                    loaded = true;
                    return;
                } catch (Throwable t) {
                    failure = t.toString();
                }
            }
            throw new BackendUnavailableException("libjnora failed to load: " + failure);
        }
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
