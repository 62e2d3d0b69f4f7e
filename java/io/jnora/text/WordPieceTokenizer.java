package io.jnora.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jnora.JnoraException;
import io.jnora.TokenizerFormatException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * BERT's tokenizer from a Hugging Face {@code tokenizer.json}: the special tokens split out of the raw
 * text first, then {@link BertNormalizer} (clean-up, CJK spacing, accent stripping, lowercasing), the
 * BERT pre-tokenizer (split on whitespace, each punctuation character its own word), greedy
 * longest-match-first WordPiece with the continuing-subword prefix ({@code ##}; a word longer than
 * {@code max_input_chars_per_word} or with an unmatched piece is {@code [UNK]}), truncation to the
 * maximum length, and {@code [CLS] … [SEP]} around it.
 *
 * <p>Only that pipeline is accepted; any other model, normalizer, pre-tokenizer or post-processor type
 * is a {@link TokenizerFormatException} naming the file and the field.
 *
 * <p>Thread safety: immutable and thread-safe; {@link #encode} keeps its work in local variables.
 */
public final class WordPieceTokenizer {
    /** BERT's position table: no sequence is longer. */
    public static final int DEFAULT_MAX_LENGTH = 512;

    private final Map<String, Integer> vocab;
    private final String[] tokensById;
    private final String unknownToken;
    private final String prefix;
    private final int maxInputCharsPerWord;
    private final BertNormalizer normalizer;
    private final List<String> specialTokens;  // longest first, so that a longer one wins at the same position
    private final int clsId;
    private final int sepId;
    private final int unknownId;

    private WordPieceTokenizer(Map<String, Integer> vocab, String[] tokensById, String unknownToken, String prefix,
            int maxInputCharsPerWord, BertNormalizer normalizer, List<String> specialTokens, int clsId, int sepId) {
        this.vocab = vocab;
        this.tokensById = tokensById;
        this.unknownToken = unknownToken;
        this.prefix = prefix;
        this.maxInputCharsPerWord = maxInputCharsPerWord;
        this.normalizer = normalizer;
        this.specialTokens = specialTokens;
        this.clsId = clsId;
        this.sepId = sepId;
        this.unknownId = vocab.get(unknownToken);
    }

    /** Reads a tokenizer.json file. */
    public static WordPieceTokenizer read(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            return read(file.toString(), in);
        } catch (IOException e) {
            throw new JnoraException("cannot read tokenizer file " + file + ": " + e.getMessage(), e);
        }
    }

    /** Reads tokenizer.json from a stream; {@code name} names it in messages. */
    public static WordPieceTokenizer read(String name, InputStream in) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(in);
        } catch (IOException e) {
            throw new TokenizerFormatException("tokenizer file " + name + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw fail(name, "(root)", "is not a JSON object");
        }
        JsonNode model = object(name, root, "model");
        requireType(name, model, "model", "WordPiece");
        JsonNode vocabNode = object(name, model, "model.vocab");
        Map<String, Integer> vocab = new HashMap<>(vocabNode.size() * 2);
        String[] byId = new String[vocabNode.size()];
        var fields = vocabNode.fields();
        while (fields.hasNext()) {
            var e = fields.next();
            JsonNode idNode = e.getValue();
            if (!idNode.canConvertToInt() || !idNode.isIntegralNumber()) {
                throw fail(name, "model.vocab[\"" + shorten(e.getKey()) + "\"]", "is not an integer id");
            }
            int id = idNode.intValue();
            if (id < 0 || id >= byId.length || byId[id] != null) {
                throw fail(name, "model.vocab[\"" + shorten(e.getKey()) + "\"]", "id " + id
                        + (id < 0 || id >= byId.length ? " is outside [0, " + byId.length + ")" : " is used twice"));
            }
            byId[id] = e.getKey();
            vocab.put(e.getKey(), id);
        }
        String unk = text(name, model, "unk_token", "model.unk_token");
        String prefix = text(name, model, "continuing_subword_prefix", "model.continuing_subword_prefix");
        JsonNode maxChars = model.get("max_input_chars_per_word");
        if (maxChars == null || !maxChars.canConvertToInt() || maxChars.intValue() < 1) {
            throw fail(name, "model.max_input_chars_per_word", "must be a positive integer");
        }
        requireToken(name, vocab, unk, "model.unk_token");

        JsonNode norm = object(name, root, "normalizer");
        requireType(name, norm, "normalizer", "BertNormalizer");
        boolean lowercase = flag(name, norm, "lowercase", true);
        JsonNode strip = norm.get("strip_accents");
        boolean stripAccents = strip == null || strip.isNull() ? lowercase : flag(name, norm, "strip_accents", lowercase);
        BertNormalizer normalizer = new BertNormalizer(flag(name, norm, "clean_text", true),
                flag(name, norm, "handle_chinese_chars", true), stripAccents, lowercase);
        requireType(name, object(name, root, "pre_tokenizer"), "pre_tokenizer", "BertPreTokenizer");

        JsonNode post = object(name, root, "post_processor");
        String cls;
        String sep;
        String postType = post.path("type").asText();
        if (postType.equals("TemplateProcessing")) {
            JsonNode single = post.get("single");
            if (single == null || !single.isArray() || single.size() != 3
                    || !single.get(0).has("SpecialToken") || !single.get(1).has("Sequence") || !single.get(2).has("SpecialToken")) {
                throw fail(name, "post_processor.single", "must be [SpecialToken, Sequence, SpecialToken] ([CLS] $A [SEP])");
            }
            cls = single.get(0).path("SpecialToken").path("id").asText();
            sep = single.get(2).path("SpecialToken").path("id").asText();
        } else if (postType.equals("BertProcessing")) {
            cls = post.path("cls").path(0).asText();
            sep = post.path("sep").path(0).asText();
        } else {
            throw fail(name, "post_processor.type", "is \"" + shorten(postType)
                    + "\"; only TemplateProcessing ([CLS] $A [SEP]) and BertProcessing are supported");
        }
        requireToken(name, vocab, cls, "post_processor (first special token)");
        requireToken(name, vocab, sep, "post_processor (last special token)");

        List<String> special = new ArrayList<>();
        JsonNode added = root.get("added_tokens");
        if (added != null && !added.isNull()) {
            if (!added.isArray()) {
                throw fail(name, "added_tokens", "is not an array");
            }
            for (int i = 0; i < added.size(); i++) {
                JsonNode t = added.get(i);
                String content = t.path("content").asText("");
                if (content.isEmpty() || !t.path("id").canConvertToInt()) {
                    throw fail(name, "added_tokens[" + i + "]", "needs a content and an integer id");
                }
                Integer id = vocab.get(content);
                if (id == null || id != t.path("id").intValue()) {
                    throw fail(name, "added_tokens[" + i + "]", "\"" + shorten(content) + "\" with id "
                            + t.path("id").intValue() + " is not that entry of the vocabulary");
                }
                if (t.path("normalized").asBoolean(false) || t.path("lstrip").asBoolean(false)
                        || t.path("rstrip").asBoolean(false) || t.path("single_word").asBoolean(false)) {
                    throw fail(name, "added_tokens[" + i + "]", "normalized, lstrip, rstrip and single_word are not"
                            + " supported (only tokens matched verbatim in the raw text)");
                }
                special.add(content);
            }
        }
        special.sort((a, b) -> Integer.compare(b.length(), a.length()));
        return new WordPieceTokenizer(vocab, byId, unk, prefix, maxChars.intValue(), normalizer,
                Collections.unmodifiableList(special), vocab.get(cls), vocab.get(sep));
    }

    /** Tokenizes one text, truncated to {@link #DEFAULT_MAX_LENGTH} tokens with [CLS] and [SEP]. */
    public Encoding encode(String text) {
        return encode(text, DEFAULT_MAX_LENGTH);
    }

    /** Tokenizes one text; the pieces are cut from the right so that, with [CLS] and [SEP], at most {@code maxLength} remain. */
    public Encoding encode(String text, int maxLength) {
        if (maxLength < 2) {
            throw new IllegalArgumentException("WordPieceTokenizer.encode: maxLength " + maxLength
                    + " leaves no room for [CLS] and [SEP]");
        }
        List<Integer> pieces = new ArrayList<>();
        // each special token's first occurrence at or after `at` (-1: none left), searched again only once
        // passed, so that a long text with many special tokens is split in linear, not quadratic, time
        int[] occurrence = new int[specialTokens.size()];
        java.util.Arrays.fill(occurrence, -2);
        int at = 0;
        while (at <= text.length()) {
            int next = text.length();
            String found = null;
            for (int k = 0; k < occurrence.length; k++) {
                if (occurrence[k] != -1 && occurrence[k] < at) {
                    occurrence[k] = text.indexOf(specialTokens.get(k), at);
                }
                int i = occurrence[k];
                if (i >= 0 && i < next) {
                    next = i;
                    found = specialTokens.get(k);
                }
            }
            wordPieces(text.substring(at, next), pieces);
            if (found == null) {
                break;
            }
            pieces.add(vocab.get(found));
            at = next + found.length();
        }
        int kept = Math.min(pieces.size(), maxLength - 2);
        int[] ids = new int[kept + 2];
        ids[0] = clsId;
        for (int i = 0; i < kept; i++) {
            ids[i + 1] = pieces.get(i);
        }
        ids[kept + 1] = sepId;
        List<String> tokens = new ArrayList<>(ids.length);
        for (int id : ids) {
            tokens.add(tokensById[id]);
        }
        int[] mask = new int[ids.length];
        java.util.Arrays.fill(mask, 1);
        return new Encoding(ids, new int[ids.length], mask, Collections.unmodifiableList(tokens));
    }

    /** Normalises, pre-tokenizes and WordPiece-splits a stretch of text without special tokens. */
    private void wordPieces(String text, List<Integer> out) {
        if (text.isEmpty()) {
            return;
        }
        String normalized = normalizer.normalize(text);
        StringBuilder word = new StringBuilder();
        int i = 0;
        while (i < normalized.length()) {
            int c = normalized.codePointAt(i);
            i += Character.charCount(c);
            if (BertNormalizer.isWhitespace(c)) {
                flush(word, out);
            } else if (BertNormalizer.isPunctuation(c)) {
                flush(word, out);
                word.appendCodePoint(c);
                flush(word, out);
            } else {
                word.appendCodePoint(c);
            }
        }
        flush(word, out);
    }

    private void flush(StringBuilder word, List<Integer> out) {
        if (word.length() > 0) {
            wordPiece(word.toString(), out);
            word.setLength(0);
        }
    }

    /** Greedy longest-match-first WordPiece of one word (lengths in code points, as the reference counts chars). */
    private void wordPiece(String word, List<Integer> out) {
        int[] cps = word.codePoints().toArray();
        if (cps.length > maxInputCharsPerWord) {
            out.add(unknownId);
            return;
        }
        List<Integer> pieces = new ArrayList<>();
        int start = 0;
        while (start < cps.length) {
            int end = cps.length;
            Integer match = null;
            while (start < end) {
                String sub = new String(cps, start, end - start);
                match = vocab.get(start > 0 ? prefix + sub : sub);
                if (match != null) {
                    break;
                }
                end--;
            }
            if (match == null) {
                out.add(unknownId);
                return;
            }
            pieces.add(match);
            start = end;
        }
        out.addAll(pieces);
    }

    public int vocabularySize() {
        return tokensById.length;
    }

    /** The id of a token, or -1. */
    public int id(String token) {
        Integer id = vocab.get(token);
        return id == null ? -1 : id;
    }

    public String token(int id) {
        return tokensById[id];
    }

    public String unknownToken() {
        return unknownToken;
    }

    private static JsonNode object(String file, JsonNode parent, String path) {
        String field = path.substring(path.lastIndexOf('.') + 1);
        JsonNode n = parent.get(field);
        if (n == null || !n.isObject()) {
            throw fail(file, path, n == null ? "is missing" : "is not an object");
        }
        return n;
    }

    private static void requireType(String file, JsonNode node, String path, String type) {
        String actual = node.path("type").asText("");
        if (!actual.equals(type)) {
            throw fail(file, path + ".type", "is \"" + shorten(actual) + "\"; only " + type + " is supported");
        }
    }

    private static String text(String file, JsonNode node, String field, String path) {
        JsonNode n = node.get(field);
        if (n == null || !n.isTextual()) {
            throw fail(file, path, "must be a string");
        }
        return n.asText();
    }

    private static boolean flag(String file, JsonNode node, String field, boolean absent) {
        JsonNode n = node.get(field);
        if (n == null || n.isNull()) {
            return absent;
        }
        if (!n.isBoolean()) {
            throw fail(file, "normalizer." + field, "must be true or false");
        }
        return n.booleanValue();
    }

    private static void requireToken(String file, Map<String, Integer> vocab, String token, String path) {
        if (!vocab.containsKey(token)) {
            throw fail(file, path, "names \"" + shorten(token) + "\", which is not in the vocabulary");
        }
    }

    private static TokenizerFormatException fail(String file, String field, String what) {
        return new TokenizerFormatException("tokenizer file " + file + ": " + field + " " + what);
    }

    private static String shorten(String s) {
        return s.length() <= 60 ? s : s.substring(0, 60) + "…";
    }
}
