package io.jnora.cli;

import picocli.CommandLine.Option;

/** The synthetic layer's shape, shared by demo and bench. */
final class LayerShapeOptions {
    @Option(names = "--rows", defaultValue = "256", description = "Tokens T per batch (default: ${DEFAULT-VALUE}).")
    int rows;

    @Option(names = "--in", defaultValue = "1024", description = "Input features n (default: ${DEFAULT-VALUE}).")
    int in;

    @Option(names = "--out", defaultValue = "1024", description = "Output features m (default: ${DEFAULT-VALUE}).")
    int out;

    @Option(names = "--rank", defaultValue = "64", description = "Outer rank r (default: ${DEFAULT-VALUE}).")
    int rank;

    @Option(names = "--inner-rank", defaultValue = "16", description = "Inner rank r_in (default: ${DEFAULT-VALUE}).")
    int innerRank;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of the synthetic data (default: ${DEFAULT-VALUE}).")
    long seed;

    String describe() {
        return "T=" + rows + " n=" + in + " m=" + out + " r=" + rank + " r_in=" + innerRank;
    }
}
