package io.jnora.reliability;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.io.SafetensorsFile;
import io.jnora.io.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Nothing half-written (issue 11): a process killed with SIGKILL while it writes a large output leaves
 * the target either exactly as it was or complete, never partial. The writers write a temporary file
 * beside the target, named {@code .<target>.<random hex>.tmp}, force it, and rename it over the target;
 * a killed writer can leave that temporary file behind (nothing can delete it), and that is accepted:
 * its name says what it is, and no reader looks for it.
 */
class HalfWrittenFileTest {
    /** 8 Mi floats: 32 MiB, long enough to be killed in the middle of. */
    static final int VALUES = 8 << 20;

    @TempDir
    Path dir;

    /** The child process: writes the large file over and over until it is killed. */
    public static void main(String[] args) {
        Path target = Path.of(args[0]);
        float[] values = new float[VALUES];
        for (int i = 0; i < VALUES; i++) {
            values[i] = i;
        }
        System.out.println("writing");
        System.out.flush();
        while (true) {
            new SafetensorsWriter().add("big", values, VALUES).write(target);
        }
    }

    @Test
    void aWriterKilledMidWriteLeavesTheTargetWholeOrUnchanged() throws Exception {
        Path target = dir.resolve("out.safetensors");
        new SafetensorsWriter().add("small", new float[] {1, 2, 3}, 3).write(target);
        byte[] before = Files.readAllBytes(target);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        int killedMidWrite = 0;
        for (int round = 0; round < 4; round++) {
            Process child = new ProcessBuilder(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                    HalfWrittenFileTest.class.getName(), target.toString()).redirectErrorStream(true).start();
            try {
                child.getInputStream().read();  // "writing": the values are ready
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (temporaries().isEmpty() && System.nanoTime() < deadline) {  // wait until a write is under way
                    Thread.sleep(2);
                }
                Thread.sleep(round * 37L);
                killedMidWrite += temporaries().isEmpty() ? 0 : 1;
            } finally {
                child.destroyForcibly();  // SIGKILL on Linux
                child.waitFor(20, TimeUnit.SECONDS);
            }
            byte[] after = Files.readAllBytes(target);
            if (after.length == before.length) {
                assertArrayEquals(before, after, "round " + round + ": the target is neither the old file nor the new one");
            } else {
                try (SafetensorsFile f = SafetensorsFile.open(target)) {
                    float[] big = f.readFloats("big");
                    assertEquals(VALUES, big.length);
                    assertEquals(VALUES - 1, big[VALUES - 1], "round " + round + ": the new file is incomplete");
                }
                before = after;
            }
            for (Path leftover : temporaries()) {
                String name = leftover.getFileName().toString();
                assertTrue(name.matches("\\.out\\.safetensors\\.[0-9a-f]+\\.tmp"), "a leftover must be named as such: " + name);
                Files.delete(leftover);
            }
        }
        assertTrue(killedMidWrite > 0, "no round killed the writer in the middle of a write");
    }

    private List<Path> temporaries() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList();
        }
    }
}
