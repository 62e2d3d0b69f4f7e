package io.jnora.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Issue 11: every public top-level type of the library says in its class Javadoc whether it may be
 * shared between threads. A scan of the sources under {@code java/io/jnora}: the Javadoc comment just
 * before the type's declaration (annotations may stand between) must mention threads.
 */
class ThreadSafetyDocumentedTest {
    private static final Pattern DECLARATION = Pattern.compile(
            "(?m)^public (?:(?:final|abstract|sealed|non-sealed|strictfp) )*(?:class|interface|record|enum|@interface) (\\w+)");
    private static final Pattern ANNOTATIONS_ONLY = Pattern.compile("\\s*(@\\w+(\\.\\w+)*(\\((?s:.*)\\))?\\s*)*");

    @Test
    void everyPublicTypeDocumentsItsThreadSafety() throws IOException {
        List<String> offenders = new ArrayList<>();
        int types = 0;
        try (Stream<Path> files = Files.walk(Path.of("java/io/jnora"))) {
            for (Path file : files.filter(f -> f.toString().endsWith(".java")).sorted().toList()) {
                String source = Files.readString(file);
                Matcher m = DECLARATION.matcher(source);
                if (!m.find()) {
                    continue;
                }
                types++;
                String before = source.substring(0, m.start());
                int open = before.lastIndexOf("/**");
                int close = before.lastIndexOf("*/");
                boolean documented = open >= 0 && close > open && ANNOTATIONS_ONLY.matcher(before.substring(close + 2)).matches()
                        && before.substring(open, close).toLowerCase().contains("thread");
                if (!documented) {
                    offenders.add(m.group(1) + " (" + file + ")");
                }
            }
        }
        assertTrue(types > 60, "found only " + types + " public types: is the working directory the repository root?");
        assertEquals(List.of(), offenders, "public types whose class Javadoc does not say whether they are thread-safe");
    }
}
