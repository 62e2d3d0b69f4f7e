package io.jnora.cli;

import io.jnora.Matrix;
import io.jnora.NoraContext;
import io.jnora.Precision;
import io.jnora.backend.ComputeBackend;

/**
 * The two floors of an operation, measured on the machine at hand rather than taken from a data
 * sheet: the GEMM peak (a square float32 GEMM large enough to run at full speed) and the memory
 * bandwidth (a copy of a buffer far larger than the caches). An operation's floor is the larger of
 * its FLOP over the peak and its bytes over the bandwidth; the bench prints each time against it.
 */
record HardwareFloors(double flopPerSecond, double bytesPerSecond, int gemmSize, long copyBytes, Precision precision) {
    /** The peak of a square GEMM of {@code precision} operands (float32 accumulation) and the copy bandwidth. */
    static HardwareFloors measure(NoraContext ctx, int gemmSize, long copyBytes, int iterations, Precision precision) {
        ComputeBackend backend = ctx.computeBackend();
        double gemmSeconds;
        try (Matrix a = ctx.filled(gemmSize, gemmSize, 0.5f, precision);
                Matrix b = ctx.filled(gemmSize, gemmSize, 0.25f, precision);
                Matrix c = ctx.zeros(gemmSize, gemmSize, precision)) {
            gemmSeconds = best(ctx, iterations, () -> ctx.linear(a, b, c));
        }
        int cols = 1024;
        int rows = (int) Math.max(1, copyBytes / Float.BYTES / cols);
        double copySeconds;
        try (Matrix src = ctx.filled(rows, cols, 1f); Matrix dst = ctx.zeros(rows, cols)) {
            copySeconds = best(ctx, iterations, () -> backend.copy(ctx.memoryOf(src), ctx.memoryOf(dst), src.size()));
        }
        long moved = 2L * rows * cols * Float.BYTES;  // read and write
        return new HardwareFloors(2.0 * gemmSize * gemmSize * gemmSize / gemmSeconds, moved / copySeconds, gemmSize, moved,
                precision);
    }

    /** The floor of an operation, in milliseconds. */
    double floorMillis(double flop, double bytes) {
        return Math.max(flop / flopPerSecond, bytes / bytesPerSecond) * 1e3;
    }

    String describe() {
        return String.format("measured peak %.1f GFLOP/s (%s GEMM %d³), bandwidth %.1f GB/s (copy of %d MiB)",
                flopPerSecond / 1e9, precision, gemmSize, bytesPerSecond / 1e9, copyBytes >> 20);
    }

    // The fastest of a few runs: a peak is what the machine can do, not what it usually does.
    private static double best(NoraContext ctx, int iterations, Runnable op) {
        double best = Double.MAX_VALUE;
        for (int i = 0; i < iterations + 1; i++) {
            long start = System.nanoTime();
            op.run();
            ctx.synchronize();
            double s = (System.nanoTime() - start) / 1e9;
            if (i > 0) {
                best = Math.min(best, s);
            }
        }
        return best;
    }
}
