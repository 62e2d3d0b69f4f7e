package io.jnora.io;

import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor's header entry once validated: its name, element type, shape (row-major) and its
 * {@code data_offsets}, the byte range {@code [begin, end)} relative to the start of the data section.
 * Immutable; by construction {@code end - begin == elementCount() * dtype().byteSize()}.
 *
 * <p>Thread safety: immutable (the shape is copied out) and thread-safe.
 */
public final class TensorInfo {
    private final String name;
    private final Dtype dtype;
    private final long[] shape;
    private final long elementCount;
    private final long begin;
    private final long end;

    TensorInfo(String name, Dtype dtype, long[] shape, long elementCount, long begin, long end) {
        this.name = Objects.requireNonNull(name);
        this.dtype = Objects.requireNonNull(dtype);
        this.shape = shape.clone();
        this.elementCount = elementCount;
        this.begin = begin;
        this.end = end;
    }

    public String name() {
        return name;
    }

    public Dtype dtype() {
        return dtype;
    }

    /** The dimensions, outermost first; empty for a scalar. A copy: the entry stays immutable. */
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    /** The product of the dimensions (1 for a scalar, 0 when any dimension is 0). */
    public long elementCount() {
        return elementCount;
    }

    /** First byte of the tensor, relative to the data section. */
    public long begin() {
        return begin;
    }

    /** One past the last byte of the tensor, relative to the data section. */
    public long end() {
        return end;
    }

    public long byteLength() {
        return end - begin;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype && Arrays.equals(shape, t.shape)
                && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape), begin, end);
    }

    /** For example {@code weight F32 [3, 4] data_offsets [0, 48]}. */
    @Override
    public String toString() {
        return name + " " + dtype + " " + Arrays.toString(shape) + " data_offsets [" + begin + ", " + end + "]";
    }
}
