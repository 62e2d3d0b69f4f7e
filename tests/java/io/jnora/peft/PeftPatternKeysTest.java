package io.jnora.peft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.AdapterFormatException;
import java.time.Duration;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * PEFT's rank_pattern / alpha_pattern rule, checked against the cases its LoRA developer guide
 * states ("Fine grained control over ranks and alpha") for a model with modules foo, module.foo,
 * module.foobar, module.module.foo and module.module.barfoo.
 */
class PeftPatternKeysTest {
    private static String pick(List<String> keys, String module) {
        return PeftPatternKeys.matchingKey(keys, module);
    }

    @Test
    void aPlainKeyMatchesTheModuleAndAnyModuleEndingInDotKey() {
        List<String> keys = List.of("foo");
        assertEquals("foo", pick(keys, "foo"));
        assertEquals("foo", pick(keys, "module.foo"));
        assertEquals("foo", pick(keys, "module.module.foo"));
        assertNull(pick(keys, "module.foobar"));
        assertNull(pick(keys, "module.module.barfoo"));
    }

    @Test
    void aCaretAnchorsTheKeyAtTheStartOfTheName() {
        assertEquals("^foo", pick(List.of("^foo"), "foo"));
        assertNull(pick(List.of("^foo"), "module.foo"));
        assertNull(pick(List.of("^foo"), "module.module.foo"));
        assertEquals("^module.foo", pick(List.of("^module.foo"), "module.foo"));
        assertNull(pick(List.of("^module.foo"), "module.module.foo"));
    }

    @Test
    void aDottedKeyMatchesEveryModuleEndingInIt() {
        List<String> keys = List.of("module.foo");
        assertEquals("module.foo", pick(keys, "module.foo"));
        assertEquals("module.foo", pick(keys, "module.module.foo"));
        assertNull(pick(keys, "foo"));
    }

    @Test
    void anchoredFullNamesSelectExactlyTheirModules() {
        List<String> keys = List.of("^foo", "^module.module.foo");
        assertEquals("^foo", pick(keys, "foo"));
        assertEquals("^module.module.foo", pick(keys, "module.module.foo"));
        assertNull(pick(keys, "module.foo"));
    }

    @Test
    void theFirstMatchingKeyInTheConfigsOrderWins() {
        assertEquals("foo", pick(List.of("foo", "module.foo"), "module.foo"));
        assertEquals("module.foo", pick(List.of("module.foo", "foo"), "module.foo"));
    }

    @Test
    void keysAreRegularExpressions() {
        assertEquals("layers\\.[0-3]\\.q_proj", pick(List.of("layers\\.[0-3]\\.q_proj"), "model.layers.2.q_proj"));
        assertNull(pick(List.of("layers\\.[0-3]\\.q_proj"), "model.layers.7.q_proj"));
        assertEquals("(q|v)_proj", pick(List.of("(q|v)_proj"), "attn.v_proj"));
    }

    @Test
    void aKeyEqualToTheNameIsUsedEvenWhenAsARegexItDoesNotMatch() {
        assertEquals("a+b", pick(List.of("a+b"), "a+b"));  // PEFT falls back to an exact dictionary lookup
        assertNull(pick(List.of("a+b"), "x.a+b"));
    }

    @Test
    void aKeyThatBacktracksCatastrophicallyIsRefusedWithinTheBudget() {
        // (.*a){25} on 28 a's and a mismatch tries every way to cut the name into 25 pieces: 16 s unbounded
        // on JDK 17, and each further a multiplies that. ((a+)+$, the textbook case, is not catastrophic in
        // Java 9+: its matcher memoizes greedy group loops; PEFT's Python re has no such defence.)
        String module = "a".repeat(40) + "!";
        AdapterFormatException e = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> assertThrows(
                AdapterFormatException.class, () -> PeftPatternKeys.matchingKey(List.of("q_proj", "(a+)+$", "(.*a){25}"),
                        module, "cfg.json: \"rank_pattern\"")));
        assertTrue(e.getMessage().startsWith("cfg.json: \"rank_pattern\" key \"(.*a){25}\""), e.getMessage());
        assertTrue(e.getMessage().contains(module) && e.getMessage().contains("catastrophic backtracking"), e.getMessage());
    }

    @Test
    void theBudgetLeavesRoomForLongNamesAndOrdinaryKeys() {
        String module = "model." + "block.".repeat(2000) + "q_proj";
        assertEquals("q_proj", pick(List.of("(x|y)+_proj", "layers\\.\\d+\\.v_proj", "q_proj"), module));
    }
}
