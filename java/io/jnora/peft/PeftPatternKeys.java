package io.jnora.peft;

import io.jnora.AdapterFormatException;
import java.util.Collection;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * How PEFT picks the {@code rank_pattern} / {@code alpha_pattern} entry of a module (SPEC §5: keys
 * are "matched against the end of a module's name, as PEFT matches them").
 *
 * <p>The rule, as PEFT ≥ 0.15 implements it ({@code peft.utils.other.get_pattern_key}, and its LoRA
 * developer guide, "Fine grained control over ranks and alpha"): each key is a regular expression;
 * the keys are tried in the order of the JSON object and the first key {@code K} for which
 * {@code (.*\.)?(K)$} matches the module's name from its start wins; if none matches, an entry whose
 * key is exactly the module's name is used, else the top-level {@code r} / {@code lora_alpha}. So
 * {@code "q_proj"} matches {@code model.q_proj} and {@code q_proj} but not {@code model.xq_proj};
 * {@code "^q_proj"} matches only a top-level {@code q_proj}. Module names are those of the base model
 * (the tensor name without {@code base_model.model.} and {@code .lora_A.weight}).
 *
 * <p>Keys are compiled as Java regular expressions; on the names PyTorch modules have and the patterns
 * people write (literals, {@code ^}, {@code .}, classes, alternation, {@code \d+}) the two dialects
 * agree. A key that Java cannot compile (Python-only syntax such as {@code (?P<name>…)}) is refused
 * by the caller, never skipped.
 *
 * <p>A key is data from the file, so a key that compiles but backtracks catastrophically on a module's
 * name ({@code (a+)+$} against {@code aaa…a!} doubles its work with each character) must not hang the
 * reader: each match may read at most {@link #MATCH_BUDGET} characters of the name (counted through the
 * {@link CharSequence} the matcher reads), and a key that needs more, or that recurses deeper than the
 * stack allows, is an {@link AdapterFormatException} naming the file, the field and the key.
 *
 * <p>Stateless utility: thread-safe.
 */
public final class PeftPatternKeys {
    /**
     * The most characters one key may read while matching one module name: a plain key reads a few
     * times the name's length (a module name is some tens of characters), a catastrophic one billions.
     */
    public static final long MATCH_BUDGET = 10_000_000L;

    private PeftPatternKeys() {}

    /** The key of {@code keys} that PEFT would pick for {@code module}, or null when it would use the default. */
    public static String matchingKey(Collection<String> keys, String module) {
        return matchingKey(keys, module, "pattern");
    }

    /**
     * As {@link #matchingKey(Collection, String)}; {@code field} names where the keys come from (the file
     * and the field, e.g. {@code adapter_config.json: "rank_pattern"}) in the refusal of a key whose
     * matching exceeds {@link #MATCH_BUDGET}.
     */
    public static String matchingKey(Collection<String> keys, String module, String field) {
        for (String key : keys) {
            if (matchesStart(key, module, field)) {
                return key;
            }
        }
        return keys.contains(module) ? module : null;
    }

    private static boolean matchesStart(String key, String module, String field) {
        try {
            return compile(key).matcher(new BudgetedChars(module, new long[] {MATCH_BUDGET})).lookingAt();  // like re.match
        } catch (BudgetExceeded e) {
            throw new AdapterFormatException(field + " key \"" + shorten(key) + "\" reads more than " + MATCH_BUDGET
                    + " characters to match module \"" + shorten(module) + "\" (catastrophic backtracking);"
                    + " PEFT's re would hang on it as well: simplify the pattern");
        } catch (StackOverflowError e) {
            throw new AdapterFormatException(field + " key \"" + shorten(key) + "\" recurses too deeply to match"
                    + " module \"" + shorten(module) + "\" (" + module.length() + " characters): simplify the pattern");
        }
    }

    private static String shorten(String s) {
        return s.length() <= 80 ? s : s.substring(0, 80) + "…";
    }

    /** The matcher's view of a module name: every character it reads is counted against a shared budget. */
    private static final class BudgetedChars implements CharSequence {
        private final String text;
        private final long[] budget;

        BudgetedChars(String text, long[] budget) {
            this.text = text;
            this.budget = budget;
        }

        @Override
        public char charAt(int index) {
            if (--budget[0] < 0) {
                throw new BudgetExceeded();
            }
            return text.charAt(index);
        }

        @Override
        public int length() {
            return text.length();
        }

        @Override
        public CharSequence subSequence(int start, int end) {
            return new BudgetedChars(text.substring(start, end), budget);
        }

        @Override
        public String toString() {
            return text;
        }
    }

    /** Thrown out of the matcher when the budget is spent; carries no stack trace (it is caught at once). */
    private static final class BudgetExceeded extends RuntimeException {
        private static final long serialVersionUID = 1L;

        BudgetExceeded() {
            super(null, null, false, false);
        }
    }

    /**
     * The pattern PEFT builds from a key; {@link PatternSyntaxException} when Java cannot compile it.
     * Every key of a config is compiled once at read time so that a bad key is refused even when no
     * module happens to reach it.
     */
    static Pattern compile(String key) {
        return Pattern.compile("(.*\\.)?(" + key + ")$");
    }
}
