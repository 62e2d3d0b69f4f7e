package io.jnora.backend;

import org.bytedeco.javacpp.FloatPointer;

/**
 * Slots of adapters for grouped calls (SPEC §2.9): per slot the effective factors A (r×n) and
 * B (m×r) in the backend's memory, the rank and the scale. Made by {@link
 * ComputeBackend#createAdapterTable}; on CUDA it mirrors itself into device tables, so that a
 * grouped call finds every row's adapter without the host. The factors stay owned by the caller.
 *
 * <p>Thread safety: implementations are not thread-safe; a table lives on its context, which one thread at a time uses.
 */
public interface AdapterTable extends AutoCloseable {
    int capacity();

    /** Puts an adapter in a slot (replacing what was there). */
    void set(int slot, FloatPointer a, FloatPointer b, int rank, float scale);

    /** Empties a slot: rows that name it get no adapter term. */
    void clear(int slot);

    /** The largest rank in the table (0 when empty). */
    int maxRank();

    @Override
    void close();
}
