package io.jnora.io;

import static io.jnora.io.RawSafetensors.entry;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.JnoraException;
import io.jnora.SafetensorsFormatException;
import io.jnora.ShapeMismatchException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What {@link SafetensorsWriter} writes, {@link SafetensorsFile} reads back, and the bytes follow the format. */
class SafetensorsRoundTripTest {
    @TempDir
    Path dir;

    private static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    private static int count(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return (int) n;
    }

    @Test
    void f32RoundTripsBitExactForOddShapesScalarsAndEmptyTensors() {
        long[][] shapes = {{}, {0}, {1}, {7}, {3, 5}, {3, 0, 5}, {2, 3, 4, 5}, {1, 1, 1, 1, 1, 1, 1, 13}};
        SafetensorsWriter writer = new SafetensorsWriter();
        Map<String, float[]> expected = new LinkedHashMap<>();
        for (int i = 0; i < shapes.length; i++) {
            float[] v = random(count(shapes[i]), i);
            expected.put("t" + i, v);
            writer.add("t" + i, v, shapes[i]);
        }
        float[] special = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -0f, Float.MIN_VALUE, Float.MAX_VALUE};
        writer.add("special", special, 2, 3);
        Path file = dir.resolve("odd.safetensors");
        writer.write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (int i = 0; i < shapes.length; i++) {
                TensorInfo t = f.tensor("t" + i);
                assertEquals(Dtype.F32, t.dtype());
                assertArrayEquals(shapes[i], t.shape());
                assertEquals(count(shapes[i]), t.elementCount());
                assertArrayEquals(expected.get("t" + i), f.readFloats("t" + i));
            }
            float[] read = f.readFloats("special");
            for (int i = 0; i < special.length; i++) {
                assertEquals(Float.floatToRawIntBits(special[i]), Float.floatToRawIntBits(read[i]), "element " + i);
            }
            assertEquals(1, f.tensor("t0").elementCount());  // a scalar holds one value
            assertEquals(0, f.tensor("t0").rank());
        }
    }

    @Test
    void f16AndBf16RoundTripWithinTheirPrecisionAndStoreTheExpectedBits() throws IOException {
        float[] values = random(1000, 3);
        float[] known = {1f, -2f, 65504f, 0x1p-24f, Float.POSITIVE_INFINITY, Float.NaN};
        Path file = dir.resolve("half.safetensors");
        new SafetensorsWriter().add("h", Dtype.F16, values, 10, 100).add("b", Dtype.BF16, values, 1000)
                .add("hk", Dtype.F16, known, 6).add("bk", Dtype.BF16, new float[] {1f}, 1).write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(Dtype.F16, f.tensor("h").dtype());
            assertEquals(2000, f.tensor("h").byteLength());
            float[] h = f.readFloats("h");
            float[] b = f.readFloats("b");
            for (int i = 0; i < values.length; i++) {
                // relative rounding error: half an ulp, 2^-11 for F16 (11 significant bits), 2^-8 for BF16
                // (|values| < 2^-14 would be F16 subnormals with coarser absolute steps; Gaussians rarely fall there)
                assertEquals(values[i], h[i], Math.max(Math.abs(values[i]) * 0x1p-11f, 0x1p-25f), "F16 element " + i);
                assertEquals(values[i], b[i], Math.abs(values[i]) * 0x1p-8f, "BF16 element " + i);
            }
            float[] k = f.readFloats("hk");
            assertArrayEquals(new float[] {1f, -2f, 65504f, 0x1p-24f, Float.POSITIVE_INFINITY}, java.util.Arrays.copyOf(k, 5));
            assertTrue(Float.isNaN(k[5]));
        }
        // the stored bits themselves, read without the library: F16 1.0 = 0x3C00 …, BF16 1.0 = 0x3F80
        ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        long dataStart = 8 + raw.getLong(0);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            int at = (int) (dataStart + f.tensor("hk").begin());
            int[] expected = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x7E00};
            for (int i = 0; i < expected.length; i++) {
                assertEquals(expected[i], raw.getShort(at + 2 * i) & 0xFFFF, "F16 bits of element " + i);
            }
            assertEquals(0x3F80, raw.getShort((int) (dataStart + f.tensor("bk").begin())) & 0xFFFF);
        }
    }

    @Test
    void metadataRoundTripsIncludingUnicodeAndJsonInStrings() {
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("jnora", "{\"layers\":{\"layer\":{\"r\":8,\"r_in\":2}},\"version\":\"0.1.0\"}");
        metadata.put("format", "pt");
        metadata.put("note", "ΔW = s·B·B'·A'·A \n\t\"quoted\"");
        Path file = dir.resolve("meta.safetensors");
        new SafetensorsWriter().metadata(metadata).add("x", new float[] {1f}).write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(metadata, f.metadata());
            assertEquals(List.of("format", "jnora", "note"), List.copyOf(f.metadata().keySet()));  // written sorted
        }
    }

    @Test
    void aFileWithoutMetadataHasAnEmptyMetadataMap() {
        Path file = dir.resolve("plain.safetensors");
        new SafetensorsWriter().add("x", new float[] {1f}).write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertTrue(f.metadata().isEmpty());
        }
    }

    @Test
    void theWrittenBytesAreTheFormatsExactly() throws IOException {
        Path file = dir.resolve("golden.safetensors");
        new SafetensorsWriter().add("a", new float[] {1f, 2f}, 2).metadata("format", "pt").write(file);
        String json = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        String padded = json + " ".repeat((8 - json.length() % 8) % 8);
        assertArrayEquals(RawSafetensors.bytes(padded, RawSafetensors.f32(1f, 2f)), Files.readAllBytes(file));
    }

    @Test
    void dataStartsAtAMultipleOfEightAndTensorsAreAlignedToTheirElementSize() throws IOException {
        for (int extra = 0; extra < 9; extra++) {  // vary the header length through every residue mod 8
            Path file = dir.resolve("align" + extra + ".safetensors");
            new SafetensorsWriter().add("h" + "x".repeat(extra), Dtype.F16, new float[3], 3)
                    .add("f", new float[3], 3).add("b", Dtype.BF16, new float[1], 1).write(file);
            ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(0, (8 + raw.getLong(0)) % 8, "data section start");
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                assertEquals(List.of("f", "b", "h" + "x".repeat(extra)), f.names());  // widest first, then by name
                for (TensorInfo t : f.tensors()) {
                    assertEquals(0, t.begin() % t.dtype().byteSize(), t.toString());
                }
            }
        }
    }

    @Test
    void theBytesDoNotDependOnTheOrderOfTheCalls() throws IOException {
        Path first = dir.resolve("first.safetensors");
        Path second = dir.resolve("second.safetensors");
        new SafetensorsWriter().add("b", new float[] {1f}).add("a", new float[] {2f}).metadata("y", "1").metadata("x", "2")
                .write(first);
        new SafetensorsWriter().metadata("x", "2").add("a", new float[] {2f}).metadata("y", "1").add("b", new float[] {1f})
                .write(second);
        assertArrayEquals(Files.readAllBytes(first), Files.readAllBytes(second));
    }

    @Test
    void namesComeInHeaderOrder() {
        Path file = RawSafetensors.write(dir.resolve("order.safetensors"),
                "{" + entry("zeta", "F32", "[1]", 0, 4) + "," + entry("alpha", "F32", "[1]", 4, 8) + "}",
                RawSafetensors.f32(1f, 2f));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.of("zeta", "alpha"), f.names());
            assertArrayEquals(new float[] {2f}, f.readFloats("alpha"));
        }
    }

    @Test
    void writingReplacesAnExistingFileAndLeavesNoTemporaryFile() throws IOException {
        Path file = dir.resolve("replace.safetensors");
        Files.writeString(file, "old content");
        new SafetensorsWriter().add("x", new float[] {5f}).write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertArrayEquals(new float[] {5f}, f.readFloats("x"));
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList());
        }
    }

    @Test
    void aFailedWriteLeavesNoTemporaryFileAndNamesTheTarget() throws IOException {
        Path target = dir.resolve("occupied.safetensors");
        Files.createDirectory(target);
        Files.writeString(target.resolve("inside"), "keeps the directory non-empty");
        JnoraException e = assertThrows(JnoraException.class,
                () -> new SafetensorsWriter().add("x", new float[] {1f}).write(target));
        assertTrue(e.getMessage().contains("occupied.safetensors"), e.getMessage());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(target), files.toList());
        }
        JnoraException missing = assertThrows(JnoraException.class,
                () -> new SafetensorsWriter().write(dir.resolve("no/such/dir/x.safetensors")));
        assertTrue(missing.getMessage().contains("x.safetensors"), missing.getMessage());
    }

    @Test
    void theWriterRefusesValuesThatDoNotMatchTheShapeAndBadNames() {
        SafetensorsWriter w = new SafetensorsWriter().add("x", new float[6], 2, 3);
        ShapeMismatchException length = assertThrows(ShapeMismatchException.class, () -> w.add("y", new float[5], 2, 3));
        assertTrue(length.getMessage().contains("5") && length.getMessage().contains("[2, 3]"), length.getMessage());
        assertThrows(ShapeMismatchException.class, () -> w.add("y", new float[0], -1, 0));
        assertThrows(ShapeMismatchException.class, () -> w.add("y", new float[1], 1L << 40, 1L << 40));
        assertThrows(IllegalArgumentException.class, () -> w.add("x", new float[1]));
        assertThrows(IllegalArgumentException.class, () -> w.add("__metadata__", new float[1]));
        assertThrows(IllegalArgumentException.class, () -> w.add("", new float[1]));
        IllegalArgumentException dtype = assertThrows(IllegalArgumentException.class,
                () -> w.add("y", Dtype.I32, new float[1]));
        assertTrue(dtype.getMessage().contains("I32"), dtype.getMessage());
    }

    @Test
    void integerTensorsReadAsLongs() {
        ByteBuffer data = ByteBuffer.allocate(12 + 16 + 3).order(ByteOrder.LITTLE_ENDIAN);
        data.putInt(-1).putInt(0).putInt(Integer.MAX_VALUE).putLong(Long.MIN_VALUE).putLong(7).put((byte) 255).put((byte) 0)
                .put((byte) 1);
        Path file = RawSafetensors.write(dir.resolve("ints.safetensors"), "{" + entry("i32", "I32", "[3]", 0, 12) + ","
                + entry("i64", "I64", "[2]", 12, 28) + "," + entry("u8", "U8", "[3]", 28, 31) + "}", data.array());
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertArrayEquals(new long[] {-1, 0, Integer.MAX_VALUE}, f.readLongs("i32"));
            assertArrayEquals(new long[] {Long.MIN_VALUE, 7}, f.readLongs("i64"));
            assertArrayEquals(new long[] {255, 0, 1}, f.readLongs("u8"));
            SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> f.readFloats("i32"));
            assertTrue(e.getMessage().contains("I32") && e.getMessage().contains("ints.safetensors"), e.getMessage());
        }
    }

    @Test
    void tensorsLargerThanOneChunkReadWhole() {
        float[] values = random(700_000, 9);  // 2.8 MB as F32: three read chunks
        Path file = dir.resolve("large.safetensors");
        new SafetensorsWriter().add("w", values, 700, 1000).add("h", Dtype.BF16, values, 700_000).write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertArrayEquals(values, f.readFloats("w"));
            float[] h = f.readFloats("h");
            assertEquals(BFloat16.toFloat(BFloat16.fromFloat(values[699_999])), h[699_999]);
        }
    }

    @Test
    void holesAndTrailingBytesInTheDataSectionAreAccepted() {
        Path file = RawSafetensors.write(dir.resolve("holes.safetensors"),
                "{" + entry("a", "F32", "[1]", 4, 8) + "," + entry("b", "F32", "[1]", 12, 16) + "}",
                RawSafetensors.f32(9f, 1f, 9f, 2f, 9f));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertArrayEquals(new float[] {1f}, f.readFloats("a"));
            assertArrayEquals(new float[] {2f}, f.readFloats("b"));
        }
    }

    @Test
    void aHeaderPaddedWithSpacesAndUnknownEntryFieldsIsAccepted() {
        String header = "{" + "\"a\":{\"dtype\":\"F32\",\"future\":{\"x\":[1,2]},\"shape\":[1],\"data_offsets\":[0,4]}}    ";
        Path file = RawSafetensors.write(dir.resolve("padded.safetensors"), header, RawSafetensors.f32(3f));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertArrayEquals(new float[] {3f}, f.readFloats("a"));
        }
    }

    @Test
    void readingAMissingTensorListsTheNamesTheFileHolds() {
        SafetensorsWriter w = new SafetensorsWriter();
        for (int i = 0; i < 30; i++) {
            w.add("layer" + i + ".weight", new float[] {i});
        }
        Path file = dir.resolve("many.safetensors");
        w.write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> f.readFloats("bias"));
            assertTrue(e.getMessage().contains("many.safetensors") && e.getMessage().contains("\"bias\""), e.getMessage());
            assertTrue(e.getMessage().contains("\"layer0.weight\"") && e.getMessage().contains("and 10 more"), e.getMessage());
        }
    }

    @Test
    void aMissingFileIsAJnoraExceptionNamingIt() {
        JnoraException e = assertThrows(JnoraException.class, () -> SafetensorsFile.open(dir.resolve("absent.safetensors")));
        assertTrue(e.getMessage().contains("absent.safetensors"), e.getMessage());
    }

    @Test
    void readingAfterCloseIsRefused() {
        Path file = dir.resolve("closed.safetensors");
        new SafetensorsWriter().add("x", new float[] {1f}).write(file);
        SafetensorsFile f = SafetensorsFile.open(file);
        f.close();
        assertThrows(IllegalStateException.class, () -> f.readFloats("x"));
    }

    @Test
    void theHeaderIsUtf8AndNamesMayHoldAnyCharacter() {
        String name = "blocks.0.ΔW/é\"#";
        Path file = dir.resolve("names.safetensors");
        new SafetensorsWriter().add(name, new float[] {4f}).write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.of(name), f.names());
            assertArrayEquals(new float[] {4f}, f.readFloats(name));
        }
        assertTrue(StandardCharsets.UTF_8.newEncoder().canEncode(name));
    }
}
