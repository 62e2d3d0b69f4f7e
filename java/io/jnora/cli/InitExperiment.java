package io.jnora.cli;

import io.jnora.NoraContext;
import io.jnora.init.InnerInit;
import io.jnora.init.NoraConfig;
import io.jnora.init.OuterSplit;
import io.jnora.train.LayerRecovery;
import io.jnora.train.RecoveryReport;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The init ablation of NoRA supplementary Tables 1–2, measured on layer-wise recovery (SPEC §2.3,
 * §2.10): random orthonormal outer factors (RANDOM_OUTER, the tables' "Random, Random") against the
 * AwSVD outer factors of the difference with each split of Σ (ZERO inner init: the tables' UΣ,V / U,ΣV
 * / U√Σ,√ΣV rows) and SIGMA (the inner pair starts at the top r_in singular values, NoRA §3.2). The
 * table gives the held-out error at init, after training (mean ± sd over the seeds) and the optimum.
 */
@Command(name = "init", mixinStandardHelpOptions = true,
        description = "Inner-init ablation: zero (per outer split), sigma and random-outer, recovery error at init and "
                + "after training (NoRA supplementary Tables 1–2).")
final class InitExperiment implements Callable<Integer> {
    static final List<String> DEFAULT_LAYERS = List.of("0.attention.self.query", "5.attention.output.dense",
            "11.attention.self.value", "8.intermediate.dense");

    @Spec
    CommandSpec spec;

    @Mixin
    ExperimentOptions o;

    @Option(names = "--outer-rank", defaultValue = "64", description = "Outer rank r (default: ${DEFAULT-VALUE}).")
    int outerRank;

    @Option(names = "--inner-rank", defaultValue = "8", description = "Inner rank r_in (default: ${DEFAULT-VALUE}).")
    int innerRank;

    @Option(names = "--inits", defaultValue = "zero,sigma,random-outer", paramLabel = "I,I,...",
            description = "Inner inits (zero, sigma, random-outer; default: ${DEFAULT-VALUE}).")
    String inits;

    @Option(names = "--splits", defaultValue = "b-sigma,a-sigma,sqrt-sigma", paramLabel = "S,S,...",
            description = "Outer splits for the zero init (b-sigma: B = UΣ; a-sigma: A = ΣVᵀS⁻¹; sqrt-sigma; default: "
                    + "${DEFAULT-VALUE}).")
    String splits;

    /** One row's adapter: an init and, for ZERO, a split. */
    private record Variant(InnerInit init, OuterSplit split) {
        String initName() {
            return init.name().toLowerCase(Locale.ROOT).replace('_', '-');
        }

        String splitName() {
            return switch (init) {
                case ZERO -> split == OuterSplit.SIGMA_IN_B ? "B = UΣ, A = VᵀS⁻¹" : split == OuterSplit.SIGMA_IN_A
                        ? "B = U, A = ΣVᵀS⁻¹" : "B = U√Σ, A = √ΣVᵀS⁻¹";
                case SIGMA -> "B = U, A = VᵀS⁻¹; √Σ in B', A'";
                case RANDOM_OUTER -> "random orthonormal";
            };
        }
    }

    @Override
    public Integer call() {
        o.validate();
        List<Variant> variants = variants();
        NoraConfig.builder().outerRank(outerRank).innerRank(innerRank).build();  // ranks checked before model work
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        return o.withBlasThreads(() -> {
            try (NoraContext ctx = NoraContext.create(o.backend.backend)) {
                List<ExperimentLayers.Layer> layers = o.layers(ctx, DEFAULT_LAYERS, err);
                Table table = new Table("layer", "init", "outer factors", "at init", "after training", "optimum");
                int runs = layers.size() * variants.size() * o.seeds;
                int done = 0;
                for (ExperimentLayers.Layer l : layers) {
                    for (Variant v : variants) {
                        SeedSpread atInit = new SeedSpread();
                        SeedSpread after = new SeedSpread();
                        double optimum = Double.NaN;
                        for (int seed = 1; seed <= o.seeds; seed++) {
                            NoraConfig cfg = NoraConfig.builder().outerRank(outerRank).innerRank(innerRank)
                                    .scaleMode(o.mode).init(v.init()).split(v.split()).seed(seed).build();
                            RecoveryReport r;
                            try (LayerRecovery job = LayerRecovery.builder(ctx).weight(l.weight(), l.m(), l.n())
                                    .pruning(o.pruning).calibration(l.trainRows(), l.trainCount())
                                    .heldOut(l.testRows(), l.testCount()).adapter(cfg).optimizer(o.optimizer())
                                    .batchRows(o.batchRows).seed(seed).build()) {
                                r = job.run();
                            }
                            atInit.add(r.errorBefore());
                            after.add(r.errorAfter());
                            optimum = r.errorOptimum();
                            err.printf(Locale.ROOT, "[%d/%d] %s %s %s seed %d: %.4f -> %.4f (optimum %.4f, %.1f s)%n",
                                    ++done, runs, l.name(), v.initName(), cfg.splitUsed(), seed, r.errorBefore(),
                                    r.errorAfter(), r.errorOptimum(), r.seconds());
                        }
                        table.row(l.name(), v.initName(), v.splitName(), atInit.format(4), after.format(4),
                                RoraExperiment.fixed(optimum));
                    }
                }
                out.printf(Locale.ROOT, "Inner-init ablation: r = %d, r_in = %d, s = 1 (α = r_in, LoRA rule), %s%n%n",
                        outerRank, innerRank, ExperimentSettings.describe(o, ctx));
                table.printMarkdown(out);
            }
            return 0;
        });
    }

    private List<Variant> variants() {
        List<Variant> out = new ArrayList<>();
        List<OuterSplit> splitList = new ArrayList<>();
        for (String s : splits.split(",")) {
            splitList.add(parseSplit(s));
        }
        for (String name : inits.split(",")) {
            InnerInit init = OptionValues.parseEnum(InnerInit.class, name, "--inits");
            if (init == InnerInit.ZERO) {
                for (OuterSplit s : splitList) {
                    out.add(new Variant(init, s));
                }
            } else {
                out.add(new Variant(init, OuterSplit.SIGMA_IN_B));
            }
        }
        return out;
    }

    private static OuterSplit parseSplit(String name) {
        for (OuterSplit s : OuterSplit.values()) {
            if (s.metadataName().equalsIgnoreCase(name.trim())) {
                return s;
            }
        }
        throw new IllegalArgumentException("--splits: unknown split '" + name.trim() + "' (expected b-sigma, a-sigma or "
                + "sqrt-sigma)");
    }
}
