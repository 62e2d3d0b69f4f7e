package io.jnora.backend;

import io.jnora.binding.JnoraNative;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.LongPointer;

/**
 * Decides, once per process, whether CUDA can run here, and why not. The order matters: our own
 * library (static cudart, safe without a driver) is asked for a device first, and only when one is
 * present are the JavaCPP CUDA presets touched, because a failed presets load poisons their classes
 * for the rest of the process.
 *
 * <p>Thread safety: thread-safe; the probe runs once under a lock and its result is published through a volatile field.
 */
public final class CudaProbe {
    /** The outcome: {@code available}, or the one-line {@code reason} it is not; {@code device} when it is. */
    public record Result(boolean available, String reason, String device) {}

    private static volatile Result result;

    private CudaProbe() {}

    public static Result probe() {
        Result r = result;
        if (r == null) {
            synchronized (CudaProbe.class) {
                r = result;
                if (r == null) {
                    r = result = run();
                }
            }
        }
        return r;
    }

    private static Result run() {
        try {
            NativeLibrary.ensureLoaded();
        } catch (RuntimeException e) {
            return new Result(false, e.getMessage(), null);
        }
        if (!NativeLibrary.cudaCompiled()) {
            return new Result(false, "libjnora was built without nvcc (CPU-only build)", null);
        }
        String device;
        try (IntPointer count = new IntPointer(1)) {
            if (JnoraNative.jnora_cuda_device_count(count) != JnoraNative.JNORA_STATUS_SUCCESS) {
                return new Result(false, "no CUDA device: " + stripLocation(NativeLibrary.lastError()), null);
            }
            device = describeDevice(0) + (count.get() > 1 ? " (device 0 of " + count.get() + ")" : "");
        }
        try {
            Loader.load(org.bytedeco.cuda.global.cudart.class);
            Loader.load(org.bytedeco.cuda.global.cublas.class);
        } catch (Throwable t) {
            return new Result(false, "a device is present but the CUDA libraries (cudart, cuBLAS) failed to load: " + t, null);
        }
        return new Result(true, "CUDA device found and the CUDA libraries loaded", device);
    }

    private static String describeDevice(int index) {
        try (BytePointer name = new BytePointer(256); IntPointer major = new IntPointer(1);
                IntPointer minor = new IntPointer(1); LongPointer memory = new LongPointer(1)) {
            NativeLibrary.check(JnoraNative.jnora_cuda_device_info(index, name, 256, major, minor, memory),
                    "jnora_cuda_device_info");
            return String.format("%s, sm_%d%d, %.1f GiB", name.getString(), major.get(), minor.get(),
                    memory.get() / (double) (1L << 30));
        }
    }

    /** Native messages start with "file:line: "; the reason line reads better without it. */
    private static String stripLocation(String message) {
        int at = message.indexOf(": ");
        return at > 0 && message.substring(0, at).matches(".*:\\d+") ? message.substring(at + 2) : message;
    }
}
