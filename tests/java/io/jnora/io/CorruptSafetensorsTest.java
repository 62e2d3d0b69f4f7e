package io.jnora.io;

import static io.jnora.io.RawSafetensors.entry;
import static io.jnora.io.RawSafetensors.f32;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.SafetensorsFormatException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A catalogue of inconsistent files (SPEC §5): each is refused with a SafetensorsFormatException whose
 * message names the file and the offending field, before anything is allocated from its claims.
 */
class CorruptSafetensorsTest {
    @TempDir
    Path dir;

    /** Opens the file and reads every tensor; the refusal must name the file and each fragment. */
    private SafetensorsFormatException refused(String fileName, byte[] content, String... fragments) {
        Path file = RawSafetensors.write(dir.resolve(fileName), content);
        SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> {
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                for (String name : f.names()) {
                    f.readFloats(name);
                }
            }
        });
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        for (String fragment : fragments) {
            assertTrue(e.getMessage().contains(fragment), "expected \"" + fragment + "\" in: " + e.getMessage());
        }
        return e;
    }

    private SafetensorsFormatException refused(String fileName, String header, byte[] data, String... fragments) {
        return refused(fileName, RawSafetensors.bytes(header, data), fragments);
    }

    private static byte[] lengthField(long headerLength, int extraBytes) {
        return ByteBuffer.allocate(8 + extraBytes).order(ByteOrder.LITTLE_ENDIAN).putLong(headerLength).array();
    }

    @Test
    void aFileShorterThanTheLengthFieldIsRefused() {
        refused("short.safetensors", new byte[] {1, 2, 3}, "3 bytes", "8-byte header length");
        refused("empty.safetensors", new byte[0], "0 bytes");
    }

    @Test
    void aHeaderLengthBeyondTheFileIsRefused() {
        refused("long-header.safetensors", lengthField(1000, 10), "header length 1000", "10 bytes", "at byte 0");
    }

    @Test
    void aHeaderLengthAbove2To63IsReadUnsignedAndRefused() {
        refused("huge-header.safetensors", lengthField(-1L, 4), "header length 18446744073709551615");
    }

    @Test
    void aHeaderLengthAboveTheLimitIsRefusedEvenWhenTheFileIsThatLong() throws IOException {
        Path file = dir.resolve("limit.safetensors");
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.write(lengthField(150L << 20, 0));
            raf.setLength(200L << 20);  // sparse: costs no disk
        }
        SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(file));
        assertTrue(e.getMessage().contains("limit.safetensors") && e.getMessage().contains("limit of"), e.getMessage());
    }

    @Test
    void aHeaderThatIsNotUtf8IsRefusedAtTheBadByte() {
        byte[] header = "{\"a\u00ff\":{}}".getBytes(StandardCharsets.ISO_8859_1);
        byte[] content = ByteBuffer.allocate(8 + header.length).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length)
                .put(header).array();
        refused("latin1.safetensors", content, "UTF-8", "at byte 11");
    }

    @Test
    void invalidJsonIsRefusedWithItsPosition() {
        refused("cut.safetensors", "{\"a\":{\"dtype\":\"F32\",", new byte[0], "not valid JSON at byte 28");  // 8 + 20
        refused("colon.safetensors", "{\"a\" {}}", new byte[0], "not valid JSON at byte 13");
        refused("nan.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[NaN]}}", new byte[0], "not valid JSON");
    }

    @Test
    void aHeaderThatIsNotAnObjectIsRefused() {
        refused("array.safetensors", "[1,2]", new byte[0], "header does not start with '{'");
        refused("blank.safetensors", "", new byte[0], "header does not start with '{'");
        refused("trailing.safetensors", "{} {}", new byte[0], "content after");
    }

    @Test
    void anEntryThatIsNotAnObjectIsRefused() {
        refused("entry.safetensors", "{\"w\":[0,4]}", new byte[4], "tensor \"w\"", "an array", "expected an object");
    }

    @Test
    void missingFieldsAreRefusedByName() {
        refused("no-dtype.safetensors", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4], "\"w\"", "\"dtype\"");
        refused("no-shape.safetensors", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", new byte[4], "\"w\"", "\"shape\"");
        refused("no-offsets.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", new byte[4], "\"w\"", "\"data_offsets\"");
    }

    @Test
    void fieldsOfTheWrongJsonTypeAreRefused() {
        refused("dtype-number.safetensors", "{" + entry("w", "F32", "[1]", 0, 4).replace("\"F32\"", "5") + "}",
                new byte[4], "\"w\" \"dtype\" is an integer");
        refused("shape-string.safetensors", "{" + entry("w", "F32", "\"1\"", 0, 4) + "}", new byte[4],
                "\"w\" \"shape\" is a string");
        refused("shape-float.safetensors", "{" + entry("w", "F32", "[1.5]", 0, 4) + "}", new byte[4],
                "\"shape\" value 0 is a non-integer number");
        refused("shape-null.safetensors", "{" + entry("w", "F32", "[null]", 0, 4) + "}", new byte[4], "\"shape\"", "null");
        refused("offsets-object.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"b\":0}}}",
                new byte[4], "\"data_offsets\" is an object");
        refused("offsets-one.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}",
                new byte[4], "\"data_offsets\" has 1 values");
        refused("offsets-three.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}",
                new byte[8], "\"data_offsets\" has more than 2");
        refused("dup-field.safetensors", "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                new byte[4], "\"dtype\" twice");
    }

    @Test
    void anUnknownDtypeIsRefusedListingTheKnownOnes() {
        refused("dtype.safetensors", "{" + entry("w", "F8", "[1]", 0, 1) + "}", new byte[1], "\"w\" \"dtype\" \"F8\"",
                "unknown", "BF16");
        refused("lower.safetensors", "{" + entry("w", "f32", "[1]", 0, 4) + "}", new byte[4], "\"f32\" is unknown");
    }

    @Test
    void negativeAndOversizedDimensionsAreRefused() {
        refused("negative.safetensors", "{" + entry("w", "F32", "[2,-1]", 0, 4) + "}", new byte[4],
                "\"w\" \"shape\" value 1 is negative");
        refused("bigint.safetensors", "{" + entry("w", "F32", "[100000000000000000000000]", 0, 4) + "}", new byte[4],
                "\"shape\" value 0", "too large");
        refused("offset-negative.safetensors", "{" + entry("w", "F32", "[1]", -4, 0) + "}", new byte[4],
                "\"data_offsets\" value 0 is negative");
        String rank65 = Arrays.toString(new int[65]).replace(" ", "");
        refused("rank.safetensors", "{" + entry("w", "F32", rank65, 0, 0) + "}", new byte[0], "\"shape\" has more than 64");
    }

    @Test
    void byteOffsetsInMessagesCountUtf8BytesNotCharacters() {
        String header = "{" + entry("\ud83d\ude00ΔW", "F32", "[-1]", 0, 0) + "}";  // 4-byte and 2-byte characters
        long expected = 8 + header.substring(0, header.indexOf("-1")).getBytes(StandardCharsets.UTF_8).length;
        refused("unicode.safetensors", header, new byte[0], "\"shape\" value 0 is negative", "(at byte " + expected + ")");
    }

    @Test
    void aShapeWhoseSizeOverflowsIsRefused() {
        refused("overflow.safetensors", "{" + entry("w", "F32", "[1099511627776,1099511627776]", 0, 4) + "}", new byte[4],
                "\"w\" \"shape\"", "overflows");
        refused("overflow-bytes.safetensors", "{" + entry("w", "F64", "[2305843009213693952]", 0, 8) + "}", new byte[8],
                "overflows");  // 2^61 elements fit a long, their 2^64 bytes do not
    }

    @Test
    void beginAfterEndIsRefused() {
        refused("reversed.safetensors", "{" + entry("w", "F32", "[1]", 8, 4) + "}", new byte[8], "\"w\" \"data_offsets\" [8, 4]",
                "begin after end");
    }

    @Test
    void offsetsBeyondTheDataSectionAreRefusedWithTheByteOffset() {
        String header = "{" + entry("w", "F32", "[100]", 0, 400) + "}";
        long dataStart = 8 + header.length();
        refused("beyond.safetensors", header, new byte[4], "\"w\" \"data_offsets\" [0, 400]", "beyond the data section",
                "at byte " + (dataStart + 400));
    }

    @Test
    void aByteRangeThatDisagreesWithTheShapeIsRefused() {
        refused("mismatch.safetensors", "{" + entry("w", "F32", "[2]", 0, 4) + "}", new byte[8], "\"w\" \"data_offsets\" [0, 4]",
                "spans 4 bytes", "[2] of F32 needs 2 × 4 = 8");
        refused("dtype-size.safetensors", "{" + entry("w", "F16", "[2]", 0, 8) + "}", new byte[8], "needs 2 × 2 = 4");
    }

    @Test
    void aTruncatedDataSectionIsRefused() {
        String header = "{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[3]", 8, 20) + "}";
        byte[] whole = RawSafetensors.bytes(header, f32(1, 2, 3, 4, 5));
        refused("truncated.safetensors", Arrays.copyOf(whole, whole.length - 2), "\"b\" \"data_offsets\" [8, 20]",
                "truncated");
    }

    @Test
    void aFileCutAfterItWasOpenedIsRefusedWhenRead() throws IOException {
        Path file = dir.resolve("shrinks.safetensors");
        new SafetensorsWriter().add("w", new float[1000], 1000).write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            try (FileChannel c = FileChannel.open(file, StandardOpenOption.WRITE)) {
                c.truncate(Files.size(file) - 100);
            }
            SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> f.readFloats("w"));
            assertTrue(e.getMessage().contains("shrinks.safetensors") && e.getMessage().contains("truncated after"),
                    e.getMessage());
        }
    }

    @Test
    void overlappingTensorsAreRefused() {
        refused("overlap.safetensors", "{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[2]", 4, 12) + "}",
                new byte[12], "\"b\" \"data_offsets\" [4, 12] overlaps tensor \"a\"");
    }

    @Test
    void emptyTensorsMayShareAnOffset() throws IOException {
        Path file = RawSafetensors.write(dir.resolve("empty-share.safetensors"),
                "{" + entry("a", "F32", "[0]", 4, 4) + "," + entry("b", "F32", "[2]", 0, 8) + "}", new byte[8]);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertTrue(f.readFloats("a").length == 0 && f.readFloats("b").length == 2);
        }
    }

    @Test
    void duplicateNamesAreRefused() {
        refused("dup.safetensors", "{" + entry("a", "F32", "[1]", 0, 4) + "," + entry("a", "F32", "[1]", 4, 8) + "}",
                new byte[8], "\"a\" appears twice");
    }

    @Test
    void metadataMustBeAnObjectOfStrings() {
        refused("meta-array.safetensors", "{\"__metadata__\":[\"a\"]}", new byte[0], "\"__metadata__\" is an array");
        refused("meta-number.safetensors", "{\"__metadata__\":{\"r\":8}}", new byte[0],
                "\"__metadata__\" entry \"r\" is an integer, expected a string");
        refused("meta-null.safetensors", "{\"__metadata__\":{\"r\":null}}", new byte[0], "\"r\" is null");
        refused("meta-twice.safetensors", "{\"__metadata__\":{},\"__metadata__\":{}}", new byte[0], "\"__metadata__\" twice");
    }

    @Test
    void readingAnotherDtypeAsFloatNamesTheDtype() {
        refused("u64.safetensors", "{" + entry("idx", "U64", "[1]", 0, 8) + "}", new byte[8], "\"idx\" \"dtype\" is U64",
                "does not convert to float");
        Path file = dir.resolve("u64.safetensors");
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> f.readLongs("idx"));
            assertTrue(e.getMessage().contains("U64") && e.getMessage().contains("long"), e.getMessage());
        }
    }

    @Test
    void aTensorTooLargeForAJavaArrayIsRefusedBeforeAllocating() throws IOException {
        String header = "{" + entry("big", "F16", "[2147483648]", 0, 1L << 32) + "}";
        Path file = RawSafetensors.write(dir.resolve("big.safetensors"), header, new byte[0]);
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(raf.length() + (1L << 32));  // sparse: the data section exists but costs no disk
        }
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> f.readFloats("big"));
            assertTrue(e.getMessage().contains("big.safetensors") && e.getMessage().contains("2147483648 elements")
                    && e.getMessage().contains("float[]"), e.getMessage());
        }
    }
}
