package io.jnora.io;

import io.jnora.JnoraException;
import io.jnora.SafetensorsFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * An open safetensors file (SPEC §5): its validated header, and its tensors read on demand.
 *
 * <p>{@link #open} reads the 8-byte little-endian header length and the JSON header, and checks every
 * entry against the file's length before anything is allocated from it, so a crafted or truncated
 * file is a {@link SafetensorsFormatException} naming the file, the field and the byte offset, never
 * an {@code OutOfMemoryError} or an index exception. Tensors are then read with positioned reads in
 * bounded chunks; the channel stays open until {@link #close}. Reads do not share state and may run
 * concurrently. Failures of the file system itself (missing file, permissions) are a
 * {@link JnoraException} naming the file.
 *
 * <p>Thread safety: thread-safe for reading (an immutable header, positional reads on the channel); a read after
 * {@link #close()} is an IllegalStateException, one that races it a JnoraException.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** A Java array's practical maximum length; larger tensors cannot be read into one. */
    static final int MAX_ARRAY_LENGTH = Integer.MAX_VALUE - 8;
    private static final int HEADER_LENGTH_BYTES = 8;
    private static final int CHUNK_BYTES = 1 << 20;  // a multiple of every element size

    private final Path path;
    private final FileChannel channel;
    private final SafetensorsHeader header;
    private final long dataStart;
    private volatile boolean closed;

    private SafetensorsFile(Path path, FileChannel channel) throws IOException {
        this.path = path;
        this.channel = channel;
        long size = channel.size();
        if (size < HEADER_LENGTH_BYTES) {
            throw fail("file is " + size + " bytes, shorter than the 8-byte header length");
        }
        ByteBuffer lengthField = ByteBuffer.allocate(HEADER_LENGTH_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        readFully(lengthField, 0, "the header length");
        long headerLength = lengthField.getLong(0);  // unsigned in the format: negative here means ≥ 2^63
        if (headerLength < 0 || headerLength > size - HEADER_LENGTH_BYTES) {
            throw fail("header length " + Long.toUnsignedString(headerLength) + " (bytes 0 to 7) exceeds the "
                    + (size - HEADER_LENGTH_BYTES) + " bytes that follow it (at byte 0)");
        }
        if (headerLength > SafetensorsHeader.MAX_HEADER_BYTES) {
            throw fail("header length " + headerLength + " (bytes 0 to 7) exceeds the limit of "
                    + SafetensorsHeader.MAX_HEADER_BYTES + " bytes (at byte 0)");
        }
        byte[] json = new byte[(int) headerLength];
        readFully(ByteBuffer.wrap(json), HEADER_LENGTH_BYTES, "the header");
        this.dataStart = HEADER_LENGTH_BYTES + headerLength;
        this.header = SafetensorsHeader.parse(path.toString(), json, size - dataStart);
    }

    /** Opens and validates a file; the caller closes it. */
    public static SafetensorsFile open(Path path) {
        Objects.requireNonNull(path, "path");
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ);
        } catch (IOException e) {
            throw ioFailure(path, "cannot open safetensors file", e);
        }
        try {
            return new SafetensorsFile(path, channel);
        } catch (IOException e) {
            closeAfterFailure(channel, e);
            throw ioFailure(path, "cannot read safetensors file", e);
        } catch (RuntimeException | Error e) {
            closeAfterFailure(channel, e);
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    /** Tensor names in header order (the order of the keys in the file's JSON header). */
    public List<String> names() {
        return List.copyOf(header.tensors.keySet());
    }

    /** Every tensor's entry, in header order. */
    public List<TensorInfo> tensors() {
        return List.copyOf(header.tensors.values());
    }

    public boolean contains(String name) {
        return header.tensors.containsKey(name);
    }

    /** A tensor's entry; a name the file does not hold is refused with the names it does hold. */
    public TensorInfo tensor(String name) {
        TensorInfo info = header.tensors.get(Objects.requireNonNull(name, "name"));
        if (info == null) {
            throw fail("no tensor " + Messages.quote(name) + "; the file holds " + Messages.nameList(header.tensors.keySet()));
        }
        return info;
    }

    /** The {@code __metadata__} strings, in header order; empty when the header has none. */
    public Map<String, String> metadata() {
        return header.metadata;
    }

    /** A tensor's values as float32 in row-major order; only F32, F16 and BF16 convert (exactly). */
    public float[] readFloats(String name) {
        TensorInfo t = tensor(name);
        if (!t.dtype().isFloat()) {
            throw fail("tensor " + Messages.quote(name) + " \"dtype\" is " + t.dtype() + ", which does not convert to"
                    + " float (" + Dtype.names(Dtype::isFloat) + " do)");
        }
        float[] values = new float[arrayLength(t, "float[]")];
        readChunks(t, (chunk, first) -> {
            int count = chunk.remaining() / t.dtype().byteSize();
            switch (t.dtype()) {
                case F32 -> chunk.asFloatBuffer().get(values, first, count);
                case F16 -> {
                    for (int i = 0; i < count; i++) {
                        values[first + i] = Float16.toFloat(chunk.getShort(2 * i));
                    }
                }
                case BF16 -> {
                    for (int i = 0; i < count; i++) {
                        values[first + i] = BFloat16.toFloat(chunk.getShort(2 * i));
                    }
                }
                default -> throw new AssertionError(t.dtype());
            }
        });
        return values;
    }

    /**
     * A tensor of integers (indices, SPEC §6 {@code --row-adapter}) as longs; the signed types and
     * U8, U16, U32 convert exactly. U64 is refused since its values may not fit a long.
     */
    public long[] readLongs(String name) {
        TensorInfo t = tensor(name);
        if (!t.dtype().isInteger()) {
            throw fail("tensor " + Messages.quote(name) + " \"dtype\" is " + t.dtype() + ", which does not convert to"
                    + " long (" + Dtype.names(Dtype::isInteger) + " do)");
        }
        long[] values = new long[arrayLength(t, "long[]")];
        readChunks(t, (chunk, first) -> {
            int count = chunk.remaining() / t.dtype().byteSize();
            for (int i = 0; i < count; i++) {
                values[first + i] = switch (t.dtype()) {
                    case I8 -> chunk.get(i);
                    case U8 -> chunk.get(i) & 0xFF;
                    case I16 -> chunk.getShort(2 * i);
                    case U16 -> chunk.getShort(2 * i) & 0xFFFF;
                    case I32 -> chunk.getInt(4 * i);
                    case U32 -> chunk.getInt(4 * i) & 0xFFFFFFFFL;
                    case I64 -> chunk.getLong(8 * i);
                    default -> throw new AssertionError(t.dtype());
                };
            }
        });
        return values;
    }

    @Override
    public void close() {
        closed = true;
        try {
            channel.close();
        } catch (IOException e) {
            throw ioFailure(path, "cannot close safetensors file", e);
        }
    }

    @Override
    public String toString() {
        return path + " (" + header.tensors.size() + " tensors)";
    }

    private interface ChunkConsumer {
        /** {@code chunk} holds whole elements from index {@code firstElement}, little-endian, from position 0. */
        void accept(ByteBuffer chunk, int firstElement);
    }

    /** Streams a tensor's bytes through one bounded buffer, so reading never doubles a tensor's memory. */
    private void readChunks(TensorInfo t, ChunkConsumer consumer) {
        if (closed) {
            throw new IllegalStateException(path + ": safetensors file is closed");
        }
        long length = t.byteLength();
        ByteBuffer buffer = ByteBuffer.allocate((int) Math.min(CHUNK_BYTES, length)).order(ByteOrder.LITTLE_ENDIAN);
        long done = 0;
        while (done < length) {
            int step = (int) Math.min(buffer.capacity(), length - done);
            buffer.clear().limit(step);
            try {
                readFully(buffer, dataStart + t.begin() + done, "tensor " + Messages.quote(t.name()));
            } catch (IOException e) {
                throw ioFailure(path, "cannot read tensor " + Messages.quote(t.name()), e);
            }
            buffer.flip();
            consumer.accept(buffer, (int) (done / t.dtype().byteSize()));
            done += step;
        }
    }

    /** Fills the buffer from a file position; the end of the file first means it shrank after {@link #open}. */
    private void readFully(ByteBuffer buffer, long position, String what) throws IOException {
        long start = position;
        while (buffer.hasRemaining()) {
            int read = channel.read(buffer, position);
            if (read < 0) {
                throw fail("file ends at byte " + position + " while reading " + what + " (bytes " + start + " to "
                        + (start + buffer.limit()) + "); it was truncated after it was opened");
            }
            position += read;
        }
    }

    private int arrayLength(TensorInfo t, String array) {
        if (t.elementCount() > MAX_ARRAY_LENGTH) {
            throw fail("tensor " + Messages.quote(t.name()) + " \"shape\" " + Arrays.toString(t.shape())
                    + " has " + t.elementCount() + " elements, more than a " + array + " holds (" + MAX_ARRAY_LENGTH + ")");
        }
        return (int) t.elementCount();
    }

    private SafetensorsFormatException fail(String problem) {
        return new SafetensorsFormatException(path + ": " + problem);
    }

    private static JnoraException ioFailure(Path path, String action, IOException e) {
        String detail = e.getMessage() == null || e.getMessage().equals(path.toString()) ? "" : ": " + e.getMessage();
        return new JnoraException(path + ": " + action + " (" + e.getClass().getSimpleName() + detail + ")", e);
    }

    private static void closeAfterFailure(FileChannel channel, Throwable failure) {
        try {
            channel.close();
        } catch (IOException e) {
            failure.addSuppressed(e);
        }
    }
}
