package io.jnora.cli;

import io.jnora.backend.CpuBackend;
import java.util.function.Supplier;
import org.bytedeco.openblas.global.openblas_nolapack;

/**
 * OpenBLAS's thread count for the length of one command. The count is process-wide, so it is put
 * back afterwards: the commands also run inside tests and inside other programs.
 *
 * <p>Thread safety: the setting is global to the process; commands that run concurrently would see
 * each other's count (it changes speed, never results).
 */
final class BlasThreads {
    private BlasThreads() {}

    static <T> T with(int threads, Supplier<T> work) {
        CpuBackend.ensureOpenBlas();
        int previous = openblas_nolapack.blas_get_num_threads();
        openblas_nolapack.blas_set_num_threads(threads);
        try {
            return work.get();
        } finally {
            openblas_nolapack.blas_set_num_threads(previous);
        }
    }

    static void with(int threads, Runnable work) {
        with(threads, () -> {
            work.run();
            return null;
        });
    }
}
