package io.jnora;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;

import io.jnora.cli.Main;
import java.lang.reflect.Field;
import java.util.Locale;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import org.junit.jupiter.api.Test;

/**
 * Every command's option descriptions are valid format strings: picocli formats them for {@code --help}, and a
 * bare '%' (say "10% of the rows") makes it print a warning and fall back to the raw text.
 */
class HelpTextTest {
    @Test
    void everyOptionDescriptionFormatsCleanly() {
        CommandLine root = new CommandLine(new Main());
        for (CommandLine command : root.getSubcommands().values()) {
            for (OptionSpec option : command.getCommandSpec().options()) {
                // the annotation's text: OptionSpec.description() has already been through the formatter
                if (!(option.userObject() instanceof Field field) || field.getAnnotation(Option.class) == null) {
                    continue;
                }
                for (String line : field.getAnnotation(Option.class).description()) {
                    String text = line.replace("${DEFAULT-VALUE}", "x");
                    assertDoesNotThrow(() -> String.format(Locale.ROOT, text),
                            () -> command.getCommandName() + " " + option.longestName() + ": '" + line + "' is not a valid format"
                                    + " string (write % as %%)");
                }
            }
        }
    }
}
