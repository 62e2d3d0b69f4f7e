package io.jnora.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.jnora.JnoraException;
import io.jnora.ShapeMismatchException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Collects float tensors and metadata, then writes them as one safetensors file (SPEC §5).
 *
 * <pre>{@code
 * new SafetensorsWriter()
 *         .add("layer.nora.A", outerA, r, n)                    // F32
 *         .add("layer.nora.A_inner", Dtype.BF16, innerA, rIn, r) // rounded to nearest even
 *         .metadata("jnora", json)
 *         .write(Path.of("adapter.safetensors"));
 * }</pre>
 *
 * <p>The bytes depend only on the content, never on the order of the calls: tensors are laid out
 * as the official writer lays them out, widest element type first and then by name, so each starts
 * aligned to its element size; {@code __metadata__} comes first with its keys sorted; the header is
 * padded with spaces so the data section starts at a multiple of 8. The file appears atomically: it
 * is written to a temporary file beside it, forced to disk, then moved over the target.
 *
 * <p>The value arrays are kept by reference and read by {@link #write}; do not change them in between.
 * Values are written as they are, NaN and infinities included: finiteness is checked where values are
 * used, not here.
 *
 * <p>Thread safety: not thread-safe; one writer per thread. Concurrent writes of different writers to one target
 * leave one complete file (atomic rename).
 */
public final class SafetensorsWriter {
    private static final int CHUNK_BYTES = 1 << 20;
    private static final JsonFactory JSON = new JsonFactory();

    private record Entry(String name, Dtype dtype, long[] shape, float[] values) {}

    private final Map<String, Entry> tensors = new HashMap<>();
    private final Map<String, String> metadata = new TreeMap<>();

    /** Adds an F32 tensor; {@code values} is row-major and holds exactly the product of {@code shape}. */
    public SafetensorsWriter add(String name, float[] values, long... shape) {
        return add(name, Dtype.F32, values, shape);
    }

    /** Adds a tensor stored as F32, F16 or BF16 (narrowed with round-to-nearest-even). */
    public SafetensorsWriter add(String name, Dtype dtype, float[] values, long... shape) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(values, "values");
        Objects.requireNonNull(shape, "shape");
        String operation = "SafetensorsWriter.add(" + Messages.quote(name) + ")";
        if (name.isEmpty() || name.equals(SafetensorsHeader.METADATA_KEY)) {
            throw new IllegalArgumentException(operation + ": a tensor cannot be named " + Messages.quote(name));
        }
        if (tensors.containsKey(name)) {
            throw new IllegalArgumentException(operation + ": a tensor of that name was already added");
        }
        if (!dtype.isFloat()) {
            throw new IllegalArgumentException(operation + ": dtype " + dtype + " cannot hold float values (use "
                    + Dtype.names(Dtype::isFloat) + ")");
        }
        if (shape.length > SafetensorsHeader.MAX_RANK) {
            throw new ShapeMismatchException(operation + ": shape has " + shape.length + " dimensions, more than the "
                    + SafetensorsHeader.MAX_RANK + " readers accept");
        }
        for (long d : shape) {
            if (d < 0) {
                throw new ShapeMismatchException(operation + ": shape " + Arrays.toString(shape) + " has a negative dimension");
            }
        }
        long expected;
        try {
            expected = SafetensorsHeader.elementCount(shape);
        } catch (ArithmeticException e) {
            throw new ShapeMismatchException(operation + ": shape " + Arrays.toString(shape) + " overflows a long");
        }
        if (expected != values.length) {
            throw new ShapeMismatchException(operation + ": values hold " + values.length + " floats but shape "
                    + Arrays.toString(shape) + " has " + expected + " elements");
        }
        tensors.put(name, new Entry(name, dtype, shape.clone(), values));
        return this;
    }

    /** Sets one {@code __metadata__} string (replacing an earlier value for the key). */
    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
        return this;
    }

    /** Sets several {@code __metadata__} strings. */
    public SafetensorsWriter metadata(Map<String, String> entries) {
        entries.forEach(this::metadata);
        return this;
    }

    /**
     * Writes the file atomically, replacing any file of that name; on failure no partial file or
     * temporary file is left behind. File-system failures are a {@link JnoraException} naming the file.
     */
    public void write(Path file) {
        Objects.requireNonNull(file, "file");
        List<Entry> layout = new ArrayList<>(tensors.values());
        layout.sort(Comparator.comparingInt((Entry e) -> -e.dtype().byteSize()).thenComparing(Entry::name));
        byte[] header = header(file, layout);
        Path target = file.toAbsolutePath();
        Path directory = target.getParent();
        Path temporary = directory.resolve("." + target.getFileName() + "."
                + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        boolean created = false;
        try {
            try (FileChannel channel = FileChannel.open(temporary, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                created = true;
                writeContent(channel, header, layout);
                channel.force(true);
            }
            try {
                Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temporary, target, StandardCopyOption.REPLACE_EXISTING);
            }
            created = false;
            syncDirectory(directory);
        } catch (IOException e) {
            JnoraException failure = new JnoraException(file + ": cannot write safetensors file ("
                    + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()) + ")", e);
            deleteAfterFailure(created, temporary, failure);
            throw failure;
        } catch (RuntimeException | Error e) {
            deleteAfterFailure(created, temporary, e);
            throw e;
        }
    }

    /** The 8-byte length, the JSON header and its space padding to a multiple of 8. */
    private byte[] header(Path file, List<Entry> layout) {
        ByteArrayOutputStream json = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(json)) {
            g.writeStartObject();
            if (!metadata.isEmpty()) {
                g.writeObjectFieldStart(SafetensorsHeader.METADATA_KEY);
                for (Map.Entry<String, String> m : metadata.entrySet()) {
                    g.writeStringField(m.getKey(), m.getValue());
                }
                g.writeEndObject();
            }
            long offset = 0;
            for (Entry e : layout) {
                long bytes = (long) e.values().length * e.dtype().byteSize();
                g.writeObjectFieldStart(e.name());
                g.writeStringField("dtype", e.dtype().name());
                g.writeFieldName("shape");
                g.writeArray(e.shape(), 0, e.shape().length);
                g.writeFieldName("data_offsets");
                g.writeArray(new long[] {offset, offset + bytes}, 0, 2);
                g.writeEndObject();
                offset += bytes;
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new JnoraException(file + ": cannot encode the safetensors header", e);  // memory output: unreachable
        }
        int padding = (8 - json.size() % 8) % 8;
        long length = json.size() + padding;
        if (length > SafetensorsHeader.MAX_HEADER_BYTES) {
            throw new IllegalArgumentException(file + ": the header would be " + length + " bytes, above the "
                    + SafetensorsHeader.MAX_HEADER_BYTES + " that readers accept (too much metadata?)");
        }
        ByteBuffer out = ByteBuffer.allocate(8 + (int) length).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(length).put(json.toByteArray());
        while (out.hasRemaining()) {
            out.put((byte) ' ');
        }
        return out.array();
    }

    private static void writeContent(FileChannel channel, byte[] header, List<Entry> layout) throws IOException {
        writeFully(channel, ByteBuffer.wrap(header));
        ByteBuffer chunk = ByteBuffer.allocate(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (Entry e : layout) {
            float[] values = e.values();
            for (float v : values) {
                if (chunk.remaining() < 4) {
                    writeFully(channel, chunk.flip());
                    chunk.clear();
                }
                switch (e.dtype()) {
                    case F32 -> chunk.putFloat(v);
                    case F16 -> chunk.putShort(Float16.fromFloat(v));
                    case BF16 -> chunk.putShort(BFloat16.fromFloat(v));
                    default -> throw new AssertionError(e.dtype());
                }
            }
        }
        writeFully(channel, chunk.flip());
    }

    private static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }

    /** Makes the rename itself durable; some platforms cannot open a directory, and then the file is still whole. */
    private static void syncDirectory(Path directory) {
        try (FileChannel d = FileChannel.open(directory, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException ignored) {
            // the data were forced before the move; only the directory entry's durability is left to the OS
        }
    }

    private static void deleteAfterFailure(boolean created, Path temporary, Throwable failure) {
        if (!created) {
            return;
        }
        try {
            Files.deleteIfExists(temporary);
        } catch (IOException e) {
            failure.addSuppressed(e);
        }
    }
}
