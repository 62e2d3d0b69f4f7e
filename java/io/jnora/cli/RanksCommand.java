package io.jnora.cli;

import io.jnora.aira.AllocationJson;
import io.jnora.aira.AllocationStrategy;
import io.jnora.aira.CostModel;
import io.jnora.aira.LayerSpec;
import io.jnora.aira.RankAllocation;
import io.jnora.aira.RankAllocator;
import java.io.PrintWriter;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** AIRA rank allocation across layers under a parameter budget (SPEC §2.8, §6 {@code ranks}). */
@Command(name = "ranks", mixinStandardHelpOptions = true,
        description = {"Allocate adapter ranks across layers under a parameter budget (AIRA).",
            "The layers file is {\"layers\": [{\"name\", \"m\", \"n\", \"outlier_ratio\"}]} in depth order, with "
                + "\"outer_rank\" per layer for --cost nested. Each layer's rank lies in [--min, min(--max, cap)], "
                + "where cap is min(m, n) for lora (more rank adds no capacity) and the outer rank for nested "
                + "(r_in <= r_out)."})
final class RanksCommand implements Callable<Integer> {
    @Option(names = "--layers", required = true, paramLabel = "F.json", description = "The layers, in depth order.")
    Path layers;

    @Option(names = "--budget", required = true, paramLabel = "P",
            description = "Trainable parameters to spend: an integer, optionally with k, M or G (e.g. 0.7M).")
    String budget;

    @Option(names = "--strategy", defaultValue = "outlier", paramLabel = "uniform|random|decay|growth|outlier",
            description = "Allocation strategy (default: ${DEFAULT-VALUE}).")
    String strategy;

    @Option(names = "--seed", defaultValue = "24301", description = "Seed of the random strategy (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--min", defaultValue = "1", paramLabel = "R", description = "Smallest rank of any layer (default: ${DEFAULT-VALUE}).")
    int min;

    @Option(names = "--max", defaultValue = "256", paramLabel = "R",
            description = "Largest rank of any layer, before the per-layer cap (default: ${DEFAULT-VALUE}).")
    int max;

    @Option(names = "--cost", defaultValue = "lora", paramLabel = "lora|nested",
            description = "Cost per unit rank: m + n (lora) or 2 · outer_rank for a nested adapter's inner rank "
                    + "(default: ${DEFAULT-VALUE}).")
    String cost;

    @Option(names = "--out", paramLabel = "F", description = "Write {\"ranks\": {name: r}, \"objective\": x, \"cost\": c} here.")
    Path out;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        CostModel model = CostModel.parse(cost);
        RankAllocator allocator = RankAllocator.builder().strategy(AllocationStrategy.parse(strategy)).seed(seed)
                .minRank(min).maxRank(max).costModel(model).build();
        long parameters = parseBudget(budget);
        List<LayerSpec> specs = AllocationJson.readLayers(layers, model);
        RankAllocation a = allocator.allocate(specs, parameters);

        Table table = model == CostModel.NESTED
                ? new Table("layer", "m", "n", "r_out", "O_l", "cost/rank", "rank", "params")
                : new Table("layer", "m", "n", "O_l", "cost/rank", "rank", "params");
        for (int l = 0; l < specs.size(); l++) {
            LayerSpec s = specs.get(l);
            long perRank = model.costPerRank(s);
            String ratio = String.format(Locale.ROOT, "%.5f", s.outlierRatio());
            if (model == CostModel.NESTED) {
                table.row(s.name(), s.m(), s.n(), s.outerRank().getAsInt(), ratio, perRank, a.rank(l), perRank * a.rank(l));
            } else {
                table.row(s.name(), s.m(), s.n(), ratio, perRank, a.rank(l), perRank * a.rank(l));
            }
        }
        table.print(stdout);
        stdout.printf(Locale.ROOT, "total: %d of %d parameters (%.1f%%), objective Σ O_l log(1 + r_l) = %.6f%n",
                a.cost(), a.budget(), a.budget() == 0 ? 0.0 : 100.0 * a.cost() / a.budget(), a.objective());
        stdout.printf(Locale.ROOT, "strategy %s%s, integer method %s, ranks in [%d, %d], %s costs%n",
                a.strategy().label(), a.strategy() == AllocationStrategy.RANDOM ? " (seed " + seed + ")" : "",
                a.method().label(), min, max, model.name().toLowerCase(Locale.ROOT));
        if (out != null) {
            AllocationJson.writeRanks(out, a);
            stdout.println("wrote " + out);
        }
        stdout.flush();
        return 0;
    }

    /** An integer count of parameters, with an optional decimal suffix k (10³), M (10⁶) or G (10⁹). */
    static long parseBudget(String text) {
        String t = text.trim();
        long scale = 1;
        if (!t.isEmpty()) {
            switch (t.charAt(t.length() - 1)) {
                case 'k', 'K' -> scale = 1_000L;
                case 'm', 'M' -> scale = 1_000_000L;
                case 'g', 'G' -> scale = 1_000_000_000L;
                default -> { }
            }
        }
        String digits = scale == 1 ? t : t.substring(0, t.length() - 1);
        try {
            BigDecimal value = new BigDecimal(digits).multiply(BigDecimal.valueOf(scale));
            if (value.signum() < 0) {
                throw new IllegalArgumentException("--budget: " + text + " is negative");
            }
            return value.longValueExact();
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--budget: '" + text + "' is not a number of parameters (e.g. 700000 or 0.7M)");
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("--budget: " + text + " is not a whole number of parameters that fits 64 bits");
        }
    }
}
