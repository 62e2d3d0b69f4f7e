package io.jnora.backend;

/**
 * The per-row adapter slots of a grouped call (SPEC §2.9), held where the backend computes. Made by
 * {@link ComputeBackend#createRowIndex}. On CUDA it is a device array filled from pinned host memory
 * by an asynchronous copy on the backend's stream, so a grouped call reads it without the host and
 * without a synchronisation: the call can be captured in a CUDA graph, and {@link #set} before each
 * replay changes the rows' adapters (the vLLM/Punica pattern of persistent mapping buffers).
 *
 * <p>Not thread-safe: it belongs to its backend's one stream.
 */
public interface RowIndex extends AutoCloseable {
    /** The most rows it holds. */
    int capacity();

    /**
     * Stages {@code rows} slot indices (−1 for none), already checked by the caller, for the next
     * grouped calls. Returns without waiting for the GPU; the values are copied before it returns.
     */
    void set(int[] slots, int rows);

    /** The rows staged by the last {@link #set}. */
    int rows();

    @Override
    void close();
}
