package io.jnora.backend;

/**
 * Work recorded once and replayed many times (made by {@link ComputeBackend#capture}): on CUDA a CUDA
 * graph of every launch and copy the work issued on the backend's stream, replayed by one
 * {@code cudaGraphLaunch} with no host work per kernel; on the CPU the work itself, run again. A replay
 * reads and writes the same memory as the recorded run, so new inputs go into the same matrices (and
 * new per-row adapters through {@code AdapterRegistry.stageRows}) before {@link #replay()}. One made
 * by {@code NoraContext.capture} refuses to replay once a matrix, layer or registry the step used
 * was closed, with an {@link IllegalStateException} naming it, instead of reaching freed memory.
 *
 * <p>Not thread-safe: it replays on its backend's one stream.
 */
public interface CapturedWork extends AutoCloseable {
    /**
     * Runs the recorded work again on the backend's stream (asynchronous on CUDA); an {@link
     * IllegalStateException} when this work, or (made by {@code NoraContext.capture}) something the
     * step used, was closed.
     */
    void replay();

    @Override
    void close();
}
