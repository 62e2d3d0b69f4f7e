package io.jnora.fuzz;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jnora.JnoraException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * What every fuzz target shares: a scratch directory (on {@code /dev/shm} when there is one, so a
 * campaign is not bound by the disk), writing an input there, splicing a fuzzed metadata string into a
 * valid safetensors file, and the property itself: a reader either returns or throws a
 * {@link JnoraException} whose message names the file. Anything else escapes and is the finding.
 */
public final class FuzzFiles {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final Path DIR = scratch();

    private FuzzFiles() {}

    private static Path scratch() {
        try {
            String given = System.getProperty("jnora.fuzz.dir");
            Path shm = Path.of("/dev/shm");
            Path parent = given != null ? Path.of(given) : Files.isDirectory(shm) && Files.isWritable(shm) ? shm : null;
            Path dir = parent == null ? Files.createTempDirectory("jnora-fuzz") : Files.createTempDirectory(parent, "jnora-fuzz");
            dir.toFile().deleteOnExit();
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes {@code bytes} to {@code name} in the scratch directory (replacing it). */
    static Path write(String name, byte[] bytes) {
        Path file = DIR.resolve(name);
        try {
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        file.toFile().deleteOnExit();
        return file;
    }

    static byte[] read(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The property of every reader: it loads, or refuses with the library's typed exception naming the file. */
    static void loadsOrRefuses(Runnable reader) {
        try {
            reader.run();
        } catch (JnoraException refused) {
            String message = refused.getMessage();
            if (message == null || !message.contains(DIR.toString())) {
                throw new AssertionError("a refusal must name the file: " + message, refused);
            }
        }
    }

    /** A valid safetensors file with its {@code __metadata__[key]} replaced by {@code value} (tensors unchanged). */
    static byte[] withMetadata(byte[] valid, String key, String value) {
        ByteBuffer in = ByteBuffer.wrap(valid).order(ByteOrder.LITTLE_ENDIAN);
        int headerLength = (int) in.getLong(0);
        try {
            ObjectNode header = (ObjectNode) JSON.readTree(Arrays.copyOfRange(valid, 8, 8 + headerLength));
            ((ObjectNode) header.get("__metadata__")).put(key, value);
            byte[] json = JSON.writeValueAsBytes(header);
            int data = valid.length - 8 - headerLength;
            return ByteBuffer.allocate(8 + json.length + data).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).put(json)
                    .put(valid, 8 + headerLength, data).array();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The {@code __metadata__[key]} string of a valid file (for seeds). */
    static String metadata(byte[] valid, String key) {
        int headerLength = (int) ByteBuffer.wrap(valid).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        try {
            return JSON.readTree(Arrays.copyOfRange(valid, 8, 8 + headerLength)).get("__metadata__").get(key).asText();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A mode byte followed by a payload: the seeds' layout for targets with two input kinds. */
    static byte[] tagged(int mode, byte[] payload) {
        byte[] out = new byte[payload.length + 1];
        out[0] = (byte) mode;
        System.arraycopy(payload, 0, out, 1, payload.length);
        return out;
    }
}
