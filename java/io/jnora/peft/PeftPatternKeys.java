package io.jnora.peft;

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
 */
public final class PeftPatternKeys {
    private PeftPatternKeys() {}

    /** The key of {@code keys} that PEFT would pick for {@code module}, or null when it would use the default. */
    public static String matchingKey(Collection<String> keys, String module) {
        for (String key : keys) {
            if (compile(key).matcher(module).lookingAt()) {  // lookingAt: anchored at the start, like Python's re.match
                return key;
            }
        }
        return keys.contains(module) ? module : null;
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
