package io.jnora.aira;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Random allocation problems for the tests, from a fresh seed per run (printed on failure;
 * {@code -Djnora.aira.seed=N} replays one), and the exhaustive reference that the solvers are
 * checked against.
 */
final class RandomProblems {
    private RandomProblems() {}

    static long freshSeed() {
        return Long.getLong("jnora.aira.seed", System.nanoTime());
    }

    static String replay(long seed) {
        return "seed " + seed + " (replay with -Djnora.aira.seed=" + seed + ")";
    }

    static List<String> names(int layers) {
        List<String> names = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            names.add("blocks." + l + ".attn");
        }
        return names;
    }

    /**
     * 1–4 layers, rank ranges of at most 8 values, costs 1–12 (sometimes all multiplied by a common
     * factor, so the DP's unit is not 1), some zero and some tied outlier ratios, a budget anywhere
     * from the minimum to beyond the maximum: small enough for {@link #bruteForce}.
     */
    static AllocationProblem small(SplittableRandom random) {
        int layers = 1 + random.nextInt(4);
        int rMin = 1 + random.nextInt(3);
        int rMax = rMin + random.nextInt(8);
        long factor = random.nextInt(3) == 0 ? 2 + random.nextInt(5) : 1;
        double[] weight = new double[layers];
        long[] cost = new long[layers];
        int[] upper = new int[layers];
        for (int l = 0; l < layers; l++) {
            int kind = random.nextInt(8);
            weight[l] = kind == 0 ? 0 : kind == 1 && l > 0 ? weight[l - 1] : random.nextDouble();
            cost[l] = factor * (1 + random.nextInt(12));
            upper[l] = random.nextInt(4) == 0 ? rMin + random.nextInt(rMax - rMin + 1) : rMax;
        }
        long min = 0;
        long max = 0;
        for (int l = 0; l < layers; l++) {
            min += cost[l] * rMin;
            max += cost[l] * upper[l];
        }
        long budget = min + (long) (random.nextDouble() * 1.1 * (max - min + 1));
        return new AllocationProblem(names(layers), weight, cost, upper, rMin, rMax, budget);
    }

    /**
     * A model-sized problem: 50–300 layers with transformer-like shapes (costs m + n), heavy-tailed
     * outlier ratios (a few percent, some layers far above), the AIRA bounds [2, 32] or [1, 256] capped
     * by min(m, n), and a budget between the minimum and the maximum.
     */
    static AllocationProblem modelSized(SplittableRandom random) {
        int layers = 50 + random.nextInt(251);
        int[] dims = {384, 512, 640, 768, 1000, 1024, 1536, 2048, 2560, 3072, 4096, 5120, 11008};
        boolean aira = random.nextBoolean();
        int rMin = aira ? 2 : 1;
        int rMax = aira ? 32 : 256;
        double[] weight = new double[layers];
        long[] cost = new long[layers];
        int[] upper = new int[layers];
        long min = 0;
        long max = 0;
        for (int l = 0; l < layers; l++) {
            int m = dims[random.nextInt(dims.length)];
            int n = dims[random.nextInt(dims.length)];
            cost[l] = (long) m + n;
            upper[l] = Math.min(rMax, Math.min(m, n));
            double u = random.nextDouble();
            weight[l] = random.nextInt(20) == 0 ? 0 : 0.001 + 0.02 * u * u * u * (random.nextInt(10) == 0 ? 10 : 1);
            min += cost[l] * rMin;
            max += cost[l] * upper[l];
        }
        long budget = min + (long) ((0.02 + 0.9 * random.nextDouble()) * (max - min));
        return new AllocationProblem(names(layers), weight, cost, upper, rMin, rMax, budget);
    }

    /** The best objective over every rank vector within the bounds and the budget (exhaustive). */
    static double bruteForce(AllocationProblem p) {
        int[] ranks = new int[p.size()];
        java.util.Arrays.fill(ranks, p.rMin);
        double best = Double.NEGATIVE_INFINITY;
        while (true) {
            if (p.cost(ranks) <= p.budget) {
                best = Math.max(best, p.objective(ranks));
            }
            int l = 0;
            while (l < ranks.length && ranks[l] == p.upper[l]) {
                ranks[l] = p.rMin;
                l++;
            }
            if (l == ranks.length) {
                return best;
            }
            ranks[l]++;
        }
    }

    static String describe(AllocationProblem p) {
        return "O=" + java.util.Arrays.toString(p.weight) + " c=" + java.util.Arrays.toString(p.cost) + " u="
                + java.util.Arrays.toString(p.upper) + " r_min=" + p.rMin + " r_max=" + p.rMax + " P=" + p.budget;
    }
}
