package io.jnora.io;

import static org.junit.jupiter.api.Assertions.fail;

import io.jnora.SafetensorsFormatException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mutated files are either read or refused with a SafetensorsFormatException, never another
 * exception (no OutOfMemoryError, index or negative-size exception, no hang). The seed is fresh on
 * each run and printed on failure; {@code -Djnora.fuzz.seed=N} replays one.
 */
class SafetensorsFuzzTest {
    private static final int ITERATIONS = 2000;
    private static final byte[] JSON_BYTES = "{}[]\":,-0123456789e.Ftrue null".getBytes(StandardCharsets.US_ASCII);

    @TempDir
    Path dir;

    private byte[] validFile() throws IOException {
        Path file = dir.resolve("valid.safetensors");
        new SafetensorsWriter()
                .add("layer.nora.A", new float[] {1, 2, 3, 4, 5, 6}, 2, 3)
                .add("layer.nora.B_inner", Dtype.F16, new float[] {0.5f, -1, 65504, Float.NaN}, 4, 1)
                .add("layer.nora.A_inner", Dtype.BF16, new float[] {1, 2}, 1, 2)
                .add("scalar", new float[] {7})
                .add("empty", new float[0], 0, 3)
                .metadata("jnora", "{\"r\":2,\"r_in\":1}")
                .write(file);
        return Files.readAllBytes(file);
    }

    /** One to three edits: bit flips, random bytes, JSON-significant bytes, deletions, insertions, truncation. */
    private static byte[] mutate(byte[] valid, SplittableRandom random) {
        byte[] b = valid.clone();
        int edits = 1 + random.nextInt(3);
        for (int e = 0; e < edits && b.length > 0; e++) {
            // most edits land in the length field and the header, where the parsing is
            int headerEnd = Math.min(b.length, 8 + (int) Math.min(valid.length, 400));
            int at = random.nextInt(4) == 0 ? random.nextInt(b.length) : random.nextInt(headerEnd);
            switch (random.nextInt(6)) {
                case 0 -> b[at] ^= (byte) (1 << random.nextInt(8));
                case 1 -> b[at] = (byte) random.nextInt(256);
                case 2 -> b[at] = JSON_BYTES[random.nextInt(JSON_BYTES.length)];
                case 3 -> {  // delete a byte
                    byte[] shorter = new byte[b.length - 1];
                    System.arraycopy(b, 0, shorter, 0, at);
                    System.arraycopy(b, at + 1, shorter, at, b.length - at - 1);
                    b = shorter;
                }
                case 4 -> {  // insert a JSON-significant byte
                    byte[] longer = new byte[b.length + 1];
                    System.arraycopy(b, 0, longer, 0, at);
                    longer[at] = JSON_BYTES[random.nextInt(JSON_BYTES.length)];
                    System.arraycopy(b, at, longer, at + 1, b.length - at);
                    b = longer;
                }
                default -> b = Arrays.copyOf(b, at);  // truncate
            }
        }
        return b;
    }

    @Test
    void mutatedFilesAreReadOrRefusedWithAFormatException() throws IOException {
        long seed = Long.getLong("jnora.fuzz.seed", System.nanoTime());
        SplittableRandom random = new SplittableRandom(seed);
        byte[] valid = validFile();
        Path file = dir.resolve("mutated.safetensors");
        int refusedCount = 0;
        for (int i = 0; i < ITERATIONS; i++) {
            byte[] mutated = mutate(valid, random);
            Files.write(file, mutated);
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                for (TensorInfo t : f.tensors()) {
                    if (t.dtype().isFloat()) {
                        f.readFloats(t.name());
                    } else if (t.dtype().isInteger()) {
                        f.readLongs(t.name());
                    }
                }
                f.metadata();
            } catch (SafetensorsFormatException expected) {
                refusedCount++;
            } catch (Throwable unexpected) {
                fail("seed " + seed + " (replay with -Djnora.fuzz.seed=" + seed + "), iteration " + i + ": "
                        + unexpected + " for a file of " + mutated.length + " bytes: "
                        + new String(mutated, StandardCharsets.ISO_8859_1), unexpected);
            }
        }
        if (refusedCount == 0) {
            fail("seed " + seed + ": no mutation was refused, so the fuzzer is not reaching the checks");
        }
    }
}
