package io.jnora.cli;

import io.jnora.JnoraException;
import io.jnora.NativeFailureException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code java -jar jnora.jar COMMAND} (SPEC §6). Exit status: 0 success, 2 bad usage or input,
 * 1 internal failure, each failure as one clear line on standard error.
 *
 * <p>Thread safety: not thread-safe; picocli fills one instance per command line, and {@link #run(String...)}
 * makes a new one for every call.
 */
@Command(name = "jnora", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Nested low-rank adapters (NoRA) on the GPU and CPU.",
        subcommands = {InfoCommand.class, InitCommand.class, ForwardCommand.class, MergeCommand.class, RanksCommand.class,
            RecoverCommand.class, RecoverModelCommand.class, ExperimentCommand.class, ExportPeftCommand.class,
            ImportPeftCommand.class, DemoCommand.class, BenchCommand.class,
            CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs a command line and returns its exit status (for tests and embedding). */
    public static int run(String... args) {
        return run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
    }

    /** Runs a command line with the given standard output and error. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cli = new CommandLine(new Main()).setOut(out).setErr(err);
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            boolean badInput = e instanceof JnoraException && !(e instanceof NativeFailureException)
                    || e instanceof IllegalArgumentException;
            String name = commandName(commandLine);
            String message = String.valueOf(e.getMessage());
            // Messages that already start with the command ("init: --weight ...") are not prefixed twice.
            commandLine.getErr().println("jnora " + name + ": "
                    + (message.startsWith(name + ": ") ? message.substring(name.length() + 2) : message));
            return badInput ? 2 : 1;
        });
        // a bad option is one line too (SPEC §6), not the parser's message followed by the whole usage text
        cli.setParameterExceptionHandler((e, badArgs) -> {
            CommandLine command = e.getCommandLine();
            command.getErr().println("jnora " + commandName(command) + ": " + e.getMessage().replace('\n', ' ')
                    + " (see " + command.getCommandSpec().qualifiedName() + " --help)");
            return 2;
        });
        return cli.execute(args);
    }

    /** The command as named in errors: the top-level one ("experiment" for "experiment rora"), SPEC §6's one line. */
    private static String commandName(CommandLine command) {
        CommandLine c = command;
        while (c.getParent() != null && c.getParent().getParent() != null) {
            c = c.getParent();
        }
        return c.getCommandName();
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required (see --help)");
    }
}
