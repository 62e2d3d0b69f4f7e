package io.jnora.backend;

/**
 * Work recorded once and replayed many times (made by {@link ComputeBackend#capture}): on CUDA a CUDA
 * graph of every launch and copy the work issued on the backend's stream, replayed by one
 * {@code cudaGraphLaunch} with no host work per kernel; on the CPU the work itself, run again. A replay
 * reads and writes the same memory as the recorded run, so new inputs go into the same matrices (and
 * new per-row adapters through {@code AdapterRegistry.stageRows}) before {@link #replay()}.
 *
 * <p>Not thread-safe: it replays on its backend's one stream.
 */
public interface CapturedWork extends AutoCloseable {
    /** Runs the recorded work again on the backend's stream (asynchronous on CUDA). */
    void replay();

    @Override
    void close();
}
