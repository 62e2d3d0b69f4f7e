package io.jnora.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jnora.JnoraException;
import io.jnora.text.Encoding;
import io.jnora.text.WordPieceTokenizer;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Fuzz target: the real model's tokenizer. First byte even: the rest is a {@code tokenizer.json} for
 * {@link WordPieceTokenizer#read} (which loads or refuses naming the file), and a loaded tokenizer then
 * encodes a few fixed texts; odd: the rest is text for a valid tokenizer to encode, decoded as UTF-8
 * (bit 1 clear) or as UTF-16LE code units, lone surrogates and all (bit 1 set), with a maximum length
 * from the first byte's upper bits. Encoding may refuse only with a {@link JnoraException}; every
 * encoding fits the maximum length and its tokens are those of its ids.
 */
public class TokenizerFuzzTest {
    private static final WordPieceTokenizer VALID = WordPieceTokenizer.read("fixture-tokenizer.json",
            new ByteArrayInputStream(Fixtures.tokenizerJson().getBytes(StandardCharsets.UTF_8)));
    private static final List<String> TEXTS = List.of("Hello, WORLD! The café [MASK] unable 中文 don't",
            "a".repeat(150) + " ab##b [CLS][SEP] \u0000\u200b\t\n", "");

    public static void fuzzerTestOneInput(byte[] data) {
        if (data.length == 0) {
            return;
        }
        byte[] rest = Arrays.copyOfRange(data, 1, data.length);
        if ((data[0] & 1) == 0) {
            Path file = FuzzFiles.write("tokenizer.json", rest);
            WordPieceTokenizer[] loaded = new WordPieceTokenizer[1];
            FuzzFiles.loadsOrRefuses(() -> loaded[0] = WordPieceTokenizer.read(file));
            if (loaded[0] != null) {
                for (String text : TEXTS) {
                    encodes(loaded[0], text, WordPieceTokenizer.DEFAULT_MAX_LENGTH);
                }
            }
        } else {
            String text = new String(rest, (data[0] & 2) == 0 ? StandardCharsets.UTF_8 : StandardCharsets.UTF_16LE);
            encodes(VALID, text, 2 + ((data[0] & 0xff) >>> 2));
            encodes(VALID, text, WordPieceTokenizer.DEFAULT_MAX_LENGTH);
        }
    }

    private static void encodes(WordPieceTokenizer tokenizer, String text, int maxLength) {
        Encoding e;
        try {
            e = tokenizer.encode(text, maxLength);
        } catch (JnoraException refused) {
            return;
        }
        int n = e.length();
        if (n < 2 || n > maxLength) {
            throw new AssertionError("an encoding of " + n + " tokens for a maximum of " + maxLength + ": " + e.tokens());
        }
        for (int i = 0; i < n; i++) {
            if (!tokenizer.token(e.ids()[i]).equals(e.tokens().get(i))) {
                throw new AssertionError("token " + i + " is " + e.tokens().get(i) + " but its id " + e.ids()[i]
                        + " is " + tokenizer.token(e.ids()[i]));
            }
        }
    }

    /** The seeds reach the end of the target: the fixture tokenizer splits words into its pieces. */
    @Test
    void theFixtureTokenizerSplitsIntoWordPieces() {
        assertEquals(List.of("[CLS]", "hello", ",", "cafe", "un", "##able", "[MASK]", "a", "##a", "[UNK]", "[SEP]"),
                VALID.encode("Hello, Café UNABLE[MASK] aa xyz").tokens());
    }

    @FuzzTest(maxDuration = "5m")
    void fuzz(byte[] data) {
        fuzzerTestOneInput(data);
    }
}
