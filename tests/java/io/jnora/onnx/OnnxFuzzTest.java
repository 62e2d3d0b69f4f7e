package io.jnora.onnx;

import static org.junit.jupiter.api.Assertions.fail;

import io.jnora.OnnxFormatException;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Mutated ONNX files are either read (and every tensor decodes or is refused by type) or refused with
 * an OnnxFormatException, never another exception, an OutOfMemoryError or a hang. The seed is fresh on
 * each run and printed on failure; {@code -Djnora.fuzz.seed=N} replays one.
 */
class OnnxFuzzTest {
    private static final int ITERATIONS = 3000;

    @Test
    void mutatedFilesAreReadOrRefusedWithATypedException() {
        long seed = Long.getLong("jnora.fuzz.seed", new SplittableRandom().nextLong());
        SplittableRandom random = new SplittableRandom(seed);
        byte[] valid = ProtoWriter.smallModel();
        for (int i = 0; i < ITERATIONS; i++) {
            byte[] b = mutate(valid, random);
            try {
                OnnxModel m = OnnxModel.parse("fuzz.onnx", b);
                for (OnnxTensor t : m.graph().initializers().values()) {
                    decode(t);
                }
                for (OnnxNode n : m.graph().nodes()) {
                    for (var a : n.attributes().values()) {
                        if (a.t() != null) {
                            decode(a.t());
                        }
                    }
                }
            } catch (OnnxFormatException expected) {
                // refused with a typed exception: fine
            } catch (Throwable t) {
                fail("seed " + seed + ", iteration " + i + ": " + t, t);
            }
        }
    }

    private static void decode(OnnxTensor t) {
        try {
            t.toFloatArray();
        } catch (OnnxFormatException e) {
            t.toLongArray();  // an integer tensor, or refused again (typed)
        }
    }

    private static byte[] mutate(byte[] valid, SplittableRandom random) {
        byte[] b = valid.clone();
        int edits = 1 + random.nextInt(3);
        for (int e = 0; e < edits && b.length > 1; e++) {
            int at = random.nextInt(b.length);
            switch (random.nextInt(5)) {
                case 0 -> b[at] ^= (byte) (1 << random.nextInt(8));
                case 1 -> b[at] = (byte) random.nextInt(256);
                case 2 -> b[at] = (byte) (0x80 | random.nextInt(128));  // a continued varint byte
                case 3 -> {
                    byte[] shorter = new byte[b.length - 1];
                    System.arraycopy(b, 0, shorter, 0, at);
                    System.arraycopy(b, at + 1, shorter, at, b.length - at - 1);
                    b = shorter;
                }
                default -> b = java.util.Arrays.copyOf(b, at);  // truncate
            }
        }
        return b;
    }
}
