package io.jnora.cli;

import io.jnora.NoraContext;
import io.jnora.init.NoraConfig;
import io.jnora.init.ScalingRule;
import io.jnora.train.LayerRecovery;
import io.jnora.train.RecoveryReport;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * RoRA's claim (SPEC §2.4): with a fixed step count and learning rate, s = α/√r_in keeps the recovery
 * improving as the inner rank grows where s = α/r_in stalls. Per layer and inner rank, both rules
 * train the same nested adapter (same outer pair, same A' init and minibatches per seed); the table
 * gives the held-out error after training (mean ± sd over the seeds) beside the closed-form optimum
 * at that rank, which is what a perfect optimiser would reach.
 */
@Command(name = "rora", mixinStandardHelpOptions = true,
        description = "Recovery error against the inner rank for s = α/r_in and s = α/√r_in (RoRA's rank-scaling claim).")
final class RoraExperiment implements Callable<Integer> {
    static final List<String> DEFAULT_LAYERS = List.of("0.attention.self.query", "5.attention.output.dense",
            "11.attention.self.value", "8.intermediate.dense");

    @Spec
    CommandSpec spec;

    @Mixin
    ExperimentOptions o;

    @Option(names = "--inner-ranks", defaultValue = "2,4,8,16,32,64", paramLabel = "R,R,...",
            description = "Inner ranks r_in (default: ${DEFAULT-VALUE}).")
    String innerRanks;

    @Option(names = "--outer-rank", defaultValue = "64", description = "Outer rank r, ≥ every r_in (default: ${DEFAULT-VALUE}).")
    int outerRank;

    @Option(names = "--alpha", defaultValue = "16", description = "α of both rules (default: ${DEFAULT-VALUE}).")
    double alpha;

    @Override
    public Integer call() {
        o.validate();
        int[] ranks = ExperimentOptions.positiveInts(innerRanks, "--inner-ranks");
        for (int rIn : ranks) {
            // the config validates r_in ≤ r (and r ≥ 1) before any model work
            NoraConfig.builder().outerRank(outerRank).innerRank(rIn).alpha(alpha).build();
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        return o.withBlasThreads(() -> {
            try (NoraContext ctx = NoraContext.create(o.backend.backend)) {
                List<ExperimentLayers.Layer> layers = o.layers(ctx, DEFAULT_LAYERS, err);
                Table table = new Table("layer", "r_in", "before", "s = α/r_in", "after, α/r_in", "s = α/√r_in",
                        "after, α/√r_in", "optimum");
                int runs = layers.size() * ranks.length * 2 * o.seeds;
                int done = 0;
                for (ExperimentLayers.Layer l : layers) {
                    for (int rIn : ranks) {
                        SeedSpread[] after = {new SeedSpread(), new SeedSpread()};
                        double before = Double.NaN;
                        double optimum = Double.NaN;
                        double[] scale = new double[2];
                        for (int seed = 1; seed <= o.seeds; seed++) {
                            for (ScalingRule rule : ScalingRule.values()) {
                                NoraConfig cfg = NoraConfig.builder().outerRank(outerRank).innerRank(rIn).alpha(alpha)
                                        .rule(rule).scaleMode(o.mode).seed(seed).build();
                                RecoveryReport r = recover(ctx, l, cfg, seed);
                                after[rule.ordinal()].add(r.errorAfter());
                                scale[rule.ordinal()] = cfg.scale();
                                before = r.errorBefore();
                                optimum = r.errorOptimum();
                                err.printf(Locale.ROOT, "[%d/%d] %s r_in=%d %s seed %d: %.4f -> %.4f (optimum %.4f, %.1f s)%n",
                                        ++done, runs, l.name(), rIn, rule.metadataName(), seed, r.errorBefore(),
                                        r.errorAfter(), r.errorOptimum(), r.seconds());
                            }
                        }
                        table.row(l.name(), rIn, fixed(before), fixed(scale[0]), after[0].format(4), fixed(scale[1]),
                                after[1].format(4), fixed(optimum));
                    }
                }
                out.printf(Locale.ROOT, "RoRA's rank-scaling claim: outer rank r = %d, α = %s, %s%n%n", outerRank,
                        ExperimentSettings.number(alpha), ExperimentSettings.describe(o, ctx));
                table.printMarkdown(out);
            }
            return 0;
        });
    }

    private RecoveryReport recover(NoraContext ctx, ExperimentLayers.Layer l, NoraConfig cfg, long seed) {
        try (LayerRecovery job = LayerRecovery.builder(ctx).weight(l.weight(), l.m(), l.n()).pruning(o.pruning)
                .calibration(l.trainRows(), l.trainCount()).heldOut(l.testRows(), l.testCount()).adapter(cfg)
                .optimizer(o.optimizer()).batchRows(o.batchRows).seed(seed).build()) {
            return job.run();
        }
    }

    static String fixed(double v) {
        return String.format(Locale.ROOT, "%.4f", v);
    }
}
