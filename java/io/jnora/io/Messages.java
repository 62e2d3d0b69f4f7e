package io.jnora.io;

import java.util.Collection;
import java.util.stream.Collectors;

/** Text for error messages; names come from untrusted files, so they are quoted and shortened. */
final class Messages {
    private static final int MAX_NAME_CHARS = 80;
    private static final int MAX_LISTED_NAMES = 20;

    private Messages() {}

    /** A name in quotes, cut to a readable length (a crafted header may hold megabyte-long names). */
    static String quote(String name) {
        String shown = name.length() <= MAX_NAME_CHARS ? name : name.substring(0, MAX_NAME_CHARS) + "…";
        return '"' + shown + '"';
    }

    /** The first names of a collection, quoted, with how many more were left out. */
    static String nameList(Collection<String> names) {
        if (names.isEmpty()) {
            return "none";
        }
        String shown = names.stream().limit(MAX_LISTED_NAMES).map(Messages::quote).collect(Collectors.joining(", "));
        int more = names.size() - MAX_LISTED_NAMES;
        return more > 0 ? shown + " and " + more + " more" : shown;
    }
}
