package io.jnora.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * {@code jnora experiment}: the measurements behind docs/RESULTS.md (issue 10), each on real layers
 * of the embedded model, pruned and recovered layer by layer (SPEC §2.10), printed as a markdown table
 * with the settings above it; progress on standard error.
 */
@Command(name = "experiment", mixinStandardHelpOptions = true,
        description = "Run one of the documented experiments on real layers of the embedded model and print a markdown "
                + "table (docs/RESULTS.md).",
        subcommands = {RoraExperiment.class, NoraVsLoraExperiment.class, InitExperiment.class})
final class ExperimentCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(),
                "an experiment is required: rora, nora-vs-lora or init");
    }
}
