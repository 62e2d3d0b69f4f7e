package io.jnora.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import io.jnora.SafetensorsFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The JSON header of a safetensors file, parsed and checked against the length of the data section
 * before anything in it is trusted. Parsing streams over the header (no JSON tree), so memory stays
 * proportional to the number of tensors however the header is crafted, and each failure names the
 * byte offset of the offending token in the file.
 *
 * <p>Accepted and refused, beyond the format's own rules: entries may leave holes in the data section
 * and the section may have trailing bytes (the official library refuses both; neither can mislead a
 * reader); two tensors whose byte ranges overlap are refused, as the official library refuses them (no
 * writer produces them: they mean one tensor's bytes would be read as another's); unknown fields inside
 * an entry are ignored, as the official library ignores them; duplicate names or fields are refused
 * (JSON leaves their meaning undefined).
 */
final class SafetensorsHeader {
    /** The official library's limit; a longer header is a crafted or broken file. */
    static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;
    /** NumPy's limit on dimensions; a longer shape is nonsense that could only cost memory. */
    static final int MAX_RANK = 64;
    static final String METADATA_KEY = "__metadata__";

    /**
     * Field names are not canonicalised: a header's names are mostly unique, and a crafted header full of
     * colliding names would otherwise make Jackson's symbol table fail with an unchecked exception.
     * (Jackson then parses through a decoding reader, so its locations count chars; see byteOffset.)
     */
    private static final JsonFactory JSON = JsonFactory.builder()
            .disable(JsonFactory.Feature.CANONICALIZE_FIELD_NAMES).build();

    final Map<String, TensorInfo> tensors;  // header order
    final Map<String, String> metadata;     // header order

    private SafetensorsHeader(Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.tensors = Collections.unmodifiableMap(tensors);
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    /**
     * Parses and validates a header: {@code file} names the file in messages, {@code json} is the
     * header (it starts at byte 8 of the file) and {@code dataLength} the bytes that follow it.
     */
    static SafetensorsHeader parse(String file, byte[] json, long dataLength) {
        return new Parser(file, json, dataLength).parse();
    }

    private static final class Parser {
        private static final long HEADER_START = 8;

        private final String file;
        private final byte[] json;
        private final long dataLength;
        private final long dataStart;
        private final Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        private Map<String, String> metadata;
        private JsonParser p;

        Parser(String file, byte[] json, long dataLength) {
            this.file = file;
            this.json = json;
            this.dataLength = dataLength;
            this.dataStart = HEADER_START + json.length;
        }

        SafetensorsHeader parse() {
            requireUtf8();
            if (json.length == 0 || json[0] != '{') {
                throw fail(HEADER_START, "header does not start with '{' (a safetensors header is a JSON object)");
            }
            try (JsonParser parser = JSON.createParser(json)) {
                p = parser;
                try {
                    parseObject();
                } catch (JsonProcessingException e) {  // caught here, while the parser still knows where it stopped
                    long at = e.getLocation() == null ? -1 : e.getLocation().getCharOffset();
                    if (at < 0) {
                        at = p.currentLocation().getCharOffset();
                    }
                    throw new SafetensorsFormatException(file + ": header is not valid JSON at byte "
                            + byteOffset(at) + ": " + e.getOriginalMessage(), e);
                }
            } catch (IOException e) {  // a byte[] source has no I/O; any other parser failure is still a bad header
                throw new SafetensorsFormatException(file + ": header cannot be parsed: " + e.getMessage(), e);
            }
            refuseOverlaps();
            return new SafetensorsHeader(tensors, metadata == null ? new LinkedHashMap<>() : metadata);
        }

        private void parseObject() throws IOException {
            p.nextToken();
            JsonToken token;
            while ((token = p.nextToken()) == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                long at = tokenChar();
                p.nextToken();
                if (key.equals(METADATA_KEY)) {
                    if (metadata != null) {
                        throw failAtChar(at, "header holds \"" + METADATA_KEY + "\" twice");
                    }
                    metadata = parseMetadata();
                } else {
                    if (tensors.containsKey(key)) {
                        throw failAtChar(at, "tensor " + Messages.quote(key) + " appears twice in the header");
                    }
                    tensors.put(key, parseEntry(key, at));
                }
            }
            if (token != JsonToken.END_OBJECT) {  // the parser itself refuses anything else; kept as a guard
                throw failAtChar(tokenChar(), "header object is not closed");
            }
            if (p.nextToken() != null) {
                throw failAtChar(tokenChar(), "header has content after its JSON object (only space padding may follow)");
            }
        }

        /** Decodes in small steps so that a bad byte is located and no second copy of the header is made. */
        private void requireUtf8() {
            CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
            ByteBuffer in = ByteBuffer.wrap(json);
            CharBuffer out = CharBuffer.allocate(4096);
            while (true) {
                CoderResult result = decoder.decode(in, out, true);
                if (result.isError()) {
                    throw fail(HEADER_START + in.position(), "header is not valid UTF-8");
                }
                out.clear();
                if (result.isUnderflow()) {
                    break;
                }
            }
            decoder.flush(out);
        }

        private Map<String, String> parseMetadata() throws IOException {
            if (p.currentToken() != JsonToken.START_OBJECT) {
                throw failAtChar(tokenChar(), "\"" + METADATA_KEY + "\" is " + describe(p.currentToken())
                        + ", expected an object of strings");
            }
            Map<String, String> values = new LinkedHashMap<>();
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                long at = tokenChar();
                if (p.nextToken() != JsonToken.VALUE_STRING) {
                    throw failAtChar(tokenChar(), "\"" + METADATA_KEY + "\" entry " + Messages.quote(key) + " is "
                            + describe(p.currentToken()) + ", expected a string");
                }
                if (values.put(key, p.getText()) != null) {
                    throw failAtChar(at, "\"" + METADATA_KEY + "\" holds " + Messages.quote(key) + " twice");
                }
            }
            return values;
        }

        private TensorInfo parseEntry(String name, long entryOffset) throws IOException {
            String tensor = "tensor " + Messages.quote(name);
            if (p.currentToken() != JsonToken.START_OBJECT) {
                throw failAtChar(tokenChar(), tensor + " entry is " + describe(p.currentToken())
                        + ", expected an object with \"dtype\", \"shape\" and \"data_offsets\"");
            }
            Dtype dtype = null;
            long[] shape = null;
            long[] offsets = null;
            long shapeAt = entryOffset;
            long offsetsAt = entryOffset;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                long fieldOffset = tokenChar();
                p.nextToken();
                switch (field) {
                    case "dtype" -> {
                        requireFirst(dtype, tensor, field, fieldOffset);
                        dtype = parseDtype(tensor);
                    }
                    case "shape" -> {
                        requireFirst(shape, tensor, field, fieldOffset);
                        shapeAt = fieldOffset;
                        shape = parseIntegers(tensor, field, MAX_RANK);
                    }
                    case "data_offsets" -> {
                        requireFirst(offsets, tensor, field, fieldOffset);
                        offsetsAt = fieldOffset;
                        offsets = parseIntegers(tensor, field, 2);
                        if (offsets.length != 2) {
                            throw failAtChar(fieldOffset, tensor + " \"data_offsets\" has " + offsets.length
                                    + " values, expected 2 ([begin, end])");
                        }
                    }
                    default -> p.skipChildren();
                }
            }
            requirePresent(dtype, tensor, "dtype", entryOffset);
            requirePresent(shape, tensor, "shape", entryOffset);
            requirePresent(offsets, tensor, "data_offsets", entryOffset);
            return validate(name, tensor, dtype, shape, offsets[0], offsets[1], shapeAt, offsetsAt);
        }

        private Dtype parseDtype(String tensor) throws IOException {
            if (p.currentToken() != JsonToken.VALUE_STRING) {
                throw failAtChar(tokenChar(), tensor + " \"dtype\" is " + describe(p.currentToken()) + ", expected a string");
            }
            String text = p.getText();
            return Dtype.fromHeaderName(text).orElseThrow(() -> failAtChar(tokenChar(), tensor + " \"dtype\" "
                    + Messages.quote(text) + " is unknown (known: " + Dtype.names(d -> true) + ")"));
        }

        /** An array of non-negative integers that fit a long, at most {@code limit} of them. */
        private long[] parseIntegers(String tensor, String field, int limit) throws IOException {
            String what = tensor + " \"" + field + "\"";
            if (p.currentToken() != JsonToken.START_ARRAY) {
                throw failAtChar(tokenChar(), what + " is " + describe(p.currentToken()) + ", expected an array of integers");
            }
            List<Long> values = new ArrayList<>();
            JsonToken token;
            while ((token = p.nextToken()) != JsonToken.END_ARRAY) {
                long at = tokenChar();
                if (values.size() == limit) {
                    throw failAtChar(at, what + " has more than " + limit + " values");
                }
                if (token != JsonToken.VALUE_NUMBER_INT) {
                    throw failAtChar(at, what + " value " + values.size() + " is " + describe(token)
                            + ", expected a non-negative integer");
                }
                if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                    throw failAtChar(at, what + " value " + values.size() + " (" + shorten(p.getText()) + ") is too large");
                }
                long value = p.getLongValue();
                if (value < 0) {
                    throw failAtChar(at, what + " value " + values.size() + " is negative (" + value + ")");
                }
                values.add(value);
            }
            return values.stream().mapToLong(Long::longValue).toArray();
        }

        /** Checks an entry against the data section; {@code shapeAt} and {@code offsetsAt} locate its fields. */
        private TensorInfo validate(String name, String tensor, Dtype dtype, long[] shape, long begin, long end,
                long shapeAt, long offsetsAt) {
            String range = " \"data_offsets\" [" + begin + ", " + end + "]";
            if (begin > end) {
                throw failAtChar(offsetsAt, tensor + range + " has begin after end");
            }
            if (end > dataLength) {
                throw fail(dataStart + end, tensor + range + " ends beyond the data section, which holds " + dataLength
                        + " bytes (file bytes " + dataStart + " to " + (dataStart + dataLength) + "); the file may be truncated");
            }
            long elements;
            long bytes;
            try {
                elements = elementCount(shape);
                bytes = Math.multiplyExact(elements, dtype.byteSize());
            } catch (ArithmeticException e) {
                throw failAtChar(shapeAt, tensor + " \"shape\" " + Arrays.toString(shape)
                        + " overflows: its byte size does not fit 64 bits");
            }
            if (end - begin != bytes) {
                throw failAtChar(offsetsAt, tensor + range + " spans " + (end - begin) + " bytes but \"shape\" "
                        + Arrays.toString(shape) + " of " + dtype + " needs " + elements + " × "
                        + dtype.byteSize() + " = " + bytes);
            }
            return new TensorInfo(name, dtype, shape, elements, begin, end);
        }

        private void refuseOverlaps() {
            List<TensorInfo> byBegin = new ArrayList<>();
            for (TensorInfo t : tensors.values()) {
                if (t.byteLength() > 0) {  // an empty tensor occupies no bytes, wherever it points
                    byBegin.add(t);
                }
            }
            byBegin.sort(Comparator.comparingLong(TensorInfo::begin));
            for (int i = 1; i < byBegin.size(); i++) {
                TensorInfo previous = byBegin.get(i - 1);
                TensorInfo next = byBegin.get(i);
                if (next.begin() < previous.end()) {
                    throw fail(dataStart + next.begin(), "tensor " + Messages.quote(next.name()) + " \"data_offsets\" ["
                            + next.begin() + ", " + next.end() + "] overlaps tensor " + Messages.quote(previous.name())
                            + " [" + previous.begin() + ", " + previous.end() + "]");
                }
            }
        }

        private void requireFirst(Object seen, String tensor, String field, long offset) {
            if (seen != null) {
                throw failAtChar(offset, tensor + " has \"" + field + "\" twice");
            }
        }

        private void requirePresent(Object value, String tensor, String field, long offset) {
            if (value == null) {
                throw failAtChar(offset, tensor + " has no \"" + field + "\"");
            }
        }

        /** The current token's position in characters: the parser decodes, so it counts chars, not bytes. */
        private long tokenChar() {
            return p.currentTokenLocation().getCharOffset();
        }

        /**
         * The file offset of the header's {@code chars}-th character; computed only for a message, since it
         * walks the (already validated) UTF-8 from the start. A 4-byte sequence is two chars (a surrogate pair).
         */
        private long byteOffset(long chars) {
            long counted = 0;
            int i = 0;
            while (i < json.length && counted < chars) {
                int lead = json[i] & 0xFF;
                int length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
                counted += length == 4 ? 2 : 1;
                i += length;
            }
            return HEADER_START + Math.min(i, json.length);
        }

        private SafetensorsFormatException failAtChar(long chars, String problem) {
            return fail(byteOffset(chars), problem);
        }

        private SafetensorsFormatException fail(long byteOffset, String problem) {
            return new SafetensorsFormatException(file + ": " + problem + " (at byte " + byteOffset + ")");
        }
    }

    /** The product of the dimensions; 0 if any is 0 (even when the others would overflow). */
    static long elementCount(long[] shape) {
        for (long d : shape) {
            if (d == 0) {
                return 0;
            }
        }
        long product = 1;
        for (long d : shape) {
            product = Math.multiplyExact(product, d);
        }
        return product;
    }

    private static String describe(JsonToken token) {
        if (token == null) {
            return "missing";
        }
        return switch (token) {
            case START_OBJECT -> "an object";
            case START_ARRAY -> "an array";
            case VALUE_STRING -> "a string";
            case VALUE_NUMBER_INT -> "an integer";
            case VALUE_NUMBER_FLOAT -> "a non-integer number";
            case VALUE_TRUE, VALUE_FALSE -> "a boolean";
            case VALUE_NULL -> "null";
            default -> token.toString();
        };
    }

    private static String shorten(String text) {
        return text.length() <= 40 ? text : text.substring(0, 40) + "…";
    }
}
