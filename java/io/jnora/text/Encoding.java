package io.jnora.text;

import java.util.List;

/**
 * A tokenized text as a BERT encoder takes it: token ids with {@code [CLS]} first and {@code [SEP]} last,
 * token-type ids (all 0 for a single text), the attention mask (all 1: no padding) and the tokens.
 *
 * <p>Thread safety: its arrays are not copied; safe to share between threads as long as nobody writes to them.
 */
public record Encoding(int[] ids, int[] typeIds, int[] attentionMask, List<String> tokens) {
    public Encoding {
        if (ids.length != typeIds.length || ids.length != attentionMask.length || ids.length != tokens.size()) {
            throw new IllegalArgumentException("Encoding: ids, type ids, attention mask and tokens differ in length ("
                    + ids.length + ", " + typeIds.length + ", " + attentionMask.length + ", " + tokens.size() + ")");
        }
    }

    public int length() {
        return ids.length;
    }
}
