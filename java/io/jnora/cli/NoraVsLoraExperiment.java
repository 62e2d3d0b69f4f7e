package io.jnora.cli;

import io.jnora.NoraContext;
import io.jnora.init.NoraConfig;
import io.jnora.train.HeldOutError;
import io.jnora.train.LayerRecovery;
import io.jnora.train.LoraRecovery;
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
 * NoRA against a plain LoRA at the same number of trainable parameters, on layer-wise recovery
 * (SPEC §2.10). For a LoRA of rank k on an m×n layer (k·(m + n) parameters) and a nested adapter of
 * inner rank r_in, the outer rank is r = k·(m + n) / (2·r_in), so that 2·r·r_in = k·(m + n) exactly
 * (refused when that is not a whole number ≤ min(m, n)). Both train with the same AdamW, schedule,
 * minibatches and scale s = 1; the table gives the held-out error after training, the closed-form
 * optimum of each adapter's rank, the steps each needed to reach the worse of the two final errors
 * (evaluated every {@code --eval-every} steps, per seed) and the training time per step.
 */
@Command(name = "nora-vs-lora", mixinStandardHelpOptions = true,
        description = "NoRA against plain LoRA at equal trainable parameters: error reached, steps to reach it, time per "
                + "step.")
final class NoraVsLoraExperiment implements Callable<Integer> {
    static final List<String> DEFAULT_LAYERS = List.of("0.attention.self.query", "5.attention.self.value",
            "11.attention.output.dense");

    @Spec
    CommandSpec spec;

    @Mixin
    ExperimentOptions o;

    @Option(names = "--lora-ranks", defaultValue = "4,8", paramLabel = "K,K,...",
            description = "LoRA ranks k; each gives the nested adapter's outer rank (default: ${DEFAULT-VALUE}).")
    String loraRanks;

    @Option(names = "--inner-rank", defaultValue = "16", description = "The nested adapter's r_in (default: ${DEFAULT-VALUE}).")
    int innerRank;

    @Option(names = "--eval-every", defaultValue = "10",
            description = "Held-out evaluation interval for the steps-to-reach column (default: ${DEFAULT-VALUE}).")
    int evalEvery;

    /** The nested adapter's outer rank with exactly the LoRA's trainable parameters, or an error. */
    static int matchingOuterRank(int m, int n, int k, int innerRank) {
        long lora = (long) k * (m + n);
        if (lora % (2L * innerRank) != 0 || lora / (2L * innerRank) > Math.min(m, n) || lora / (2L * innerRank) < innerRank) {
            throw new IllegalArgumentException("--lora-ranks: a rank-" + k + " LoRA on a " + m + "×" + n + " layer has "
                    + lora + " parameters; a nested adapter with r_in = " + innerRank + " matches it only with r = "
                    + lora + "/" + (2 * innerRank) + ", which must be a whole number in [r_in, min(m, n) = "
                    + Math.min(m, n) + "]");
        }
        return (int) (lora / (2L * innerRank));
    }

    @Override
    public Integer call() {
        o.validate();
        int[] ks = ExperimentOptions.positiveInts(loraRanks, "--lora-ranks");
        if (innerRank < 1) {
            throw new IllegalArgumentException("--inner-rank must be ≥ 1, got " + innerRank);
        }
        if (evalEvery < 1) {
            throw new IllegalArgumentException("--eval-every must be ≥ 1, got " + evalEvery);
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        return o.withBlasThreads(() -> {
            try (NoraContext ctx = NoraContext.create(o.backend.backend)) {
                List<ExperimentLayers.Layer> layers = o.layers(ctx, DEFAULT_LAYERS, err);
                for (ExperimentLayers.Layer l : layers) {
                    for (int k : ks) {
                        matchingOuterRank(l.m(), l.n(), k, innerRank);  // every pairing checked before training
                    }
                }
                Table table = new Table("layer", "adapter", "trainable", "before", "after", "optimum",
                        "steps to target", "ms/step");
                int runs = layers.size() * ks.length * o.seeds;
                int done = 0;
                for (ExperimentLayers.Layer l : layers) {
                    for (int k : ks) {
                        int r = matchingOuterRank(l.m(), l.n(), k, innerRank);
                        Arm nora = new Arm();
                        Arm lora = new Arm();
                        for (int seed = 1; seed <= o.seeds; seed++) {
                            List<HeldOutError> noraCurve = new ArrayList<>();
                            List<HeldOutError> loraCurve = new ArrayList<>();
                            NoraConfig cfg = NoraConfig.builder().outerRank(r).innerRank(innerRank).scaleMode(o.mode)
                                    .seed(seed).build();
                            RecoveryReport nr;
                            try (LayerRecovery job = LayerRecovery.builder(ctx).weight(l.weight(), l.m(), l.n())
                                    .pruning(o.pruning).calibration(l.trainRows(), l.trainCount())
                                    .heldOut(l.testRows(), l.testCount()).adapter(cfg).optimizer(o.optimizer())
                                    .batchRows(o.batchRows).seed(seed).evaluateEvery(evalEvery, noraCurve::add).build()) {
                                nr = job.run();
                                nora.parameters = 2L * r * innerRank;
                            }
                            RecoveryReport lr;
                            try (LoraRecovery job = LoraRecovery.builder(ctx).weight(l.weight(), l.m(), l.n())
                                    .pruning(o.pruning).calibration(l.trainRows(), l.trainCount())
                                    .heldOut(l.testRows(), l.testCount()).rank(k).optimizer(o.optimizer())
                                    .batchRows(o.batchRows).seed(seed).initSeed(seed).evaluateEvery(evalEvery, loraCurve::add)
                                    .build()) {
                                lr = job.run();
                                lora.parameters = job.trainableParameters();
                            }
                            if (nora.parameters != lora.parameters) {
                                throw new IllegalStateException("nora-vs-lora: " + nora.parameters + " against "
                                        + lora.parameters + " trainable parameters");
                            }
                            double target = Math.max(nr.errorAfter(), lr.errorAfter());
                            nora.add(nr, stepsToReach(noraCurve, target));
                            lora.add(lr, stepsToReach(loraCurve, target));
                            err.printf(Locale.ROOT, "[%d/%d] %s k=%d seed %d: LoRA %.4f, NoRA r=%d r_in=%d %.4f (%.1f / %.1f "
                                    + "ms/step)%n", ++done, runs, l.name(), k, seed, lr.errorAfter(), r, innerRank,
                                    nr.errorAfter(), 1e3 * lr.seconds() / lr.steps(), 1e3 * nr.seconds() / nr.steps());
                        }
                        lora.row(table, l.name(), "LoRA k = " + k);
                        nora.row(table, l.name(), "NoRA r = " + r + ", r_in = " + innerRank);
                    }
                }
                out.printf(Locale.ROOT, "NoRA against LoRA at equal trainable parameters: s = 1 for both; NoRA's outer "
                        + "pair from the AwSVD of W − W_base, inner init zero; LoRA as PEFT initialises it; steps to "
                        + "target: the first evaluation (every %d steps) at or below the worse of the two final errors of "
                        + "the same seed; %s%n%n", evalEvery, ExperimentSettings.describe(o, ctx));
                table.printMarkdown(out);
            }
            return 0;
        });
    }

    /** The first evaluated step whose error is at most {@code target} (the last step always qualifies for one arm). */
    static int stepsToReach(List<HeldOutError> curve, double target) {
        for (HeldOutError p : curve) {
            if (p.error() <= target) {
                return p.step();
            }
        }
        return curve.get(curve.size() - 1).step();
    }

    /** One adapter's figures over the seeds. */
    private static final class Arm {
        long parameters;
        double before = Double.NaN;
        double optimum = Double.NaN;
        final SeedSpread after = new SeedSpread();
        final SeedSpread steps = new SeedSpread();
        final SeedSpread msPerStep = new SeedSpread();

        void add(RecoveryReport r, int stepsToTarget) {
            before = r.errorBefore();
            optimum = r.errorOptimum();
            after.add(r.errorAfter());
            steps.add(stepsToTarget);
            msPerStep.add(1e3 * r.seconds() / r.steps());
        }

        void row(Table table, String layer, String adapter) {
            table.row(layer, adapter, parameters, RoraExperiment.fixed(before), after.format(4), RoraExperiment.fixed(optimum),
                    steps.format(0), msPerStep.format(2));
        }
    }
}
