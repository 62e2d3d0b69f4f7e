package io.jnora.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.TokenizerFormatException;
import io.jnora.model.EmbeddedModel;
import io.jnora.model.TestModel;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The WordPiece tokenizer against the reference: Hugging Face tokenizers (the Rust library, through
 * DJL's binding) reading the same tokenizer.json.
 */
class WordPieceTokenizerTest {
    @TempDir
    Path dir;

    /** Texts that exercise each step: accents, case, punctuation, CJK, controls, special tokens, long words. */
    static final List<String> EDGE_CASES = List.of(
            "Héllo, wörld! Naïve café-goers don't [MASK] it.",
            "İstanbul ÅNGSTRÖM straße ﬁne Ǆ ǅ ΣΑΣ",
            "中文字符测试 and 日本語のテキスト",
            "emoji 😀 test\u0000ctrl\u200bzero\u00a0nbsp\u2003em\u3000ideographic",
            "tab\tnew\nline\r\nreturn",
            "a[CLS]b[SEP]c [UNK] [PAD][MASK]",
            "x".repeat(150) + " short",
            "supercalifragilisticexpialidocious antidisestablishmentarianism",
            "$100 + <tag> = ^ ` | ~ @ #hash 3.14159 ≈ π",
            "“Quoted” ‘single’ — dash … ellipsis « guillemets »",
            "",
            "   ",
            "naïve résumé coöperate Ångström",
            "unpaired \uD83D surrogate");

    private static Path tokenizerFile(Path dir) throws IOException {
        Path file = dir.resolve("tokenizer.json");
        try (InputStream in = EmbeddedModel.class.getResourceAsStream(EmbeddedModel.TOKENIZER_RESOURCE)) {
            Files.copy(in, file);
        }
        return file;
    }

    @Test
    void matchesHuggingFaceTokenizersOnTheCalibrationTextAndEdgeCases() throws IOException {
        TestModel.assumeClass("ai.djl.huggingface.tokenizers.HuggingFaceTokenizer");
        WordPieceTokenizer tok = TestModel.tokenizer();
        List<String> texts = new ArrayList<>(EmbeddedModel.calibrationText());
        texts.addAll(EDGE_CASES);
        texts.add(String.join(" ", EmbeddedModel.calibrationText()));  // truncated at 512
        List<HfTokenizerReference.Result> reference = HfTokenizerReference.encode(tokenizerFile(dir), texts, 512);
        for (int i = 0; i < texts.size(); i++) {
            HfTokenizerReference.Result want = reference.get(i);
            Encoding got = tok.encode(texts.get(i));
            assertArrayEquals(want.ids(), Arrays.stream(got.ids()).asLongStream().toArray(),
                    "ids of \"" + texts.get(i) + "\": want " + want.tokens() + ", got " + got.tokens());
            assertArrayEquals(want.typeIds(), Arrays.stream(got.typeIds()).asLongStream().toArray());
            assertArrayEquals(want.attentionMask(), Arrays.stream(got.attentionMask()).asLongStream().toArray());
        }
    }

    @Test
    void truncationKeepsClsAndSepAroundTheFirstPieces() {
        WordPieceTokenizer tok = TestModel.tokenizer();
        Encoding full = tok.encode("one two three four five six seven eight nine ten");
        Encoding cut = tok.encode("one two three four five six seven eight nine ten", 6);
        assertEquals(List.of("[CLS]", "one", "two", "three", "four", "[SEP]"), cut.tokens());
        assertEquals(12, full.length());
        assertEquals(2, tok.encode("anything", 2).length());
        assertThrows(IllegalArgumentException.class, () -> tok.encode("x", 1));
    }

    @Test
    void knownIdsOfBertUncased() {
        Encoding e = TestModel.tokenizer().encode("The quick brown fox");
        assertArrayEquals(new int[] {101, 1996, 4248, 2829, 4419, 102}, e.ids());
        assertEquals(List.of("[CLS]", "the", "quick", "brown", "fox", "[SEP]"), e.tokens());
    }

    private static TokenizerFormatException refused(String json) {
        return assertThrows(TokenizerFormatException.class, () -> WordPieceTokenizer.read("bad.json",
                new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8))));
    }

    private static final String MINIMAL = "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\","
            + " \"continuing_subword_prefix\": \"##\", \"max_input_chars_per_word\": 100,"
            + " \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 2, \"un\": 3, \"##able\": 4}},"
            + " \"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true},"
            + " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
            + " \"post_processor\": {\"type\": \"BertProcessing\", \"cls\": [\"[CLS]\", 1], \"sep\": [\"[SEP]\", 2]}}";

    @Test
    void aMinimalFileTokenizesWithTheContinuationPrefix() {
        WordPieceTokenizer tok = WordPieceTokenizer.read("min.json", new ByteArrayInputStream(MINIMAL.getBytes(StandardCharsets.UTF_8)));
        assertEquals(List.of("[CLS]", "un", "##able", "[UNK]", "[SEP]"), tok.encode("UNABLE unknown").tokens());
    }

    @Test
    void unsupportedOrBrokenFilesAreTypedErrorsNamingFileAndField() {
        assertTrue(refused("{not json").getMessage().contains("bad.json"));
        TokenizerFormatException bpe = refused(MINIMAL.replace("\"WordPiece\"", "\"BPE\""));
        assertTrue(bpe.getMessage().contains("bad.json") && bpe.getMessage().contains("model.type"), bpe.getMessage());
        TokenizerFormatException dup = refused(MINIMAL.replace("\"##able\": 4", "\"##able\": 3"));
        assertTrue(dup.getMessage().contains("model.vocab") && dup.getMessage().contains("twice"), dup.getMessage());
        TokenizerFormatException unk = refused(MINIMAL.replace("\"unk_token\": \"[UNK]\"", "\"unk_token\": \"<unk>\""));
        assertTrue(unk.getMessage().contains("model.unk_token"), unk.getMessage());
        TokenizerFormatException pre = refused(MINIMAL.replace("BertPreTokenizer", "Whitespace"));
        assertTrue(pre.getMessage().contains("pre_tokenizer.type"), pre.getMessage());
        TokenizerFormatException post = refused(MINIMAL.replace("\"BertProcessing\"", "\"RobertaProcessing\""));
        assertTrue(post.getMessage().contains("post_processor.type"), post.getMessage());
    }

    @Test
    void aLongTextFullOfSpecialTokensIsSplitInLinearTime() {
        // 300 000 [CLS] in 2.7 MB, with [SEP] never present: re-searching every special token after each
        // match would scan the rest of the text 300 000 times (~10^12 characters)
        WordPieceTokenizer tok = WordPieceTokenizer.read("special.json", new ByteArrayInputStream(MINIMAL.replace(
                "{\"model\"", "{\"added_tokens\": [{\"id\": 1, \"content\": \"[CLS]\"}, {\"id\": 2, \"content\": \"[SEP]\"}],"
                + " \"model\"").getBytes(StandardCharsets.UTF_8)));
        String text = "[CLS] un ".repeat(300_000);
        Encoding e = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> tok.encode(text, 8));
        assertEquals(List.of("[CLS]", "[CLS]", "un", "[CLS]", "un", "[CLS]", "un", "[SEP]"), e.tokens());
    }
}
