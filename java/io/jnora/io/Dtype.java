package io.jnora.io;

import java.util.Arrays;
import java.util.Optional;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/**
 * The element types a safetensors header may name, with their sizes. Every one can be listed and
 * validated; only {@link #isFloat() F32, F16 and BF16} convert to {@code float}, and the integer
 * types up to 32 bits unsigned and 64 bits signed convert to {@code long} (index tensors, SPEC §6).
 * Sub-byte types (F4, F6) are not listed: their sizes do not fit this byte-granular model.
 *
 * <p>Thread safety: constants without mutable state; thread-safe.
 */
public enum Dtype {
    BOOL(1), U8(1), I8(1), F8_E5M2(1), F8_E4M3(1),
    I16(2), U16(2), F16(2), BF16(2),
    I32(4), U32(4), F32(4),
    I64(8), U64(8), F64(8);

    private final int byteSize;

    Dtype(int byteSize) {
        this.byteSize = byteSize;
    }

    /** Bytes per element in the data section. */
    public int byteSize() {
        return byteSize;
    }

    /** Whether {@link SafetensorsFile#readFloats} converts this type. */
    public boolean isFloat() {
        return this == F32 || this == F16 || this == BF16;
    }

    /** Whether {@link SafetensorsFile#readLongs} converts this type exactly (U64 may not fit a long). */
    public boolean isInteger() {
        return switch (this) {
            case U8, I8, I16, U16, I32, U32, I64 -> true;
            default -> false;
        };
    }

    /** The type a header names, matched exactly as the format spells it (upper case). */
    public static Optional<Dtype> fromHeaderName(String name) {
        for (Dtype d : values()) {
            if (d.name().equals(name)) {
                return Optional.of(d);
            }
        }
        return Optional.empty();
    }

    /** The names of the types satisfying a filter, for error messages. */
    static String names(Predicate<Dtype> filter) {
        return Arrays.stream(values()).filter(filter).map(Dtype::name).collect(Collectors.joining(", "));
    }
}
