package io.jnora.cli;

import java.util.Locale;

/** Parsing of option values shared by the commands. */
final class OptionValues {
    private OptionValues() {}

    /** An enum constant from its command-line spelling (case-insensitive, '-' for '_'). */
    static <E extends Enum<E>> E parseEnum(Class<E> type, String value, String option) {
        String key = value.trim().toUpperCase(Locale.ROOT).replace('-', '_');
        for (E e : type.getEnumConstants()) {
            if (e.name().equals(key)) {
                return e;
            }
        }
        throw new IllegalArgumentException(option + ": unknown value '" + value + "'");
    }
}
