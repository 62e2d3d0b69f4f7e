package io.jnora.text;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Hugging Face tokenizers (the Rust library, through DJL's binding), the reference of the WordPiece
 * tokenizer. Kept out of the test class's signatures so that it loads (and skips) without DJL.
 */
final class HfTokenizerReference {
    /** One text's reference encoding: ids, type ids, attention mask and tokens. */
    record Result(long[] ids, long[] typeIds, long[] attentionMask, List<String> tokens) {}

    private HfTokenizerReference() {}

    /** Encodes each text with [CLS] … [SEP], truncated to {@code maxLength}, no padding. */
    static List<Result> encode(Path tokenizerJson, List<String> texts, int maxLength) {
        try (HuggingFaceTokenizer reference = HuggingFaceTokenizer.builder().optTokenizerPath(tokenizerJson)
                .optAddSpecialTokens(true).optTruncation(true).optMaxLength(maxLength).optPadding(false).build()) {
            List<Result> out = new ArrayList<>();
            for (String text : texts) {
                var e = reference.encode(text);
                out.add(new Result(e.getIds(), e.getTypeIds(), e.getAttentionMask(), Arrays.asList(e.getTokens())));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
