package io.jnora.aira;

import java.util.Random;

/**
 * A budget-free rank profile over depth, {@code p_l = numerator_l / denominator}, as the AIRA
 * supplementary §C defines the baselines (SPEC §2.8). Kept as exact rationals so that scaling can
 * compare breakpoints without rounding; layers are numbered {@code l = 1..L} in the paper and
 * {@code 0..L-1} here.
 */
final class RankProfile {
    private final long[] numerators;
    private final long denominator;

    private RankProfile(long[] numerators, long denominator) {
        this.numerators = numerators;
        this.denominator = denominator;
    }

    /** AIRA supp. §C "Decay": {@code r_l = r_max − (l − 1)(r_max − r_min)/(L − 1)}; one layer gets r_max (SPEC §2.8). */
    static RankProfile decay(int layers, int rMin, int rMax) {
        if (layers == 1) {
            return new RankProfile(new long[] {rMax}, 1);
        }
        long d = layers - 1;
        long[] num = new long[layers];
        for (int l = 0; l < layers; l++) {
            num[l] = (long) rMax * d - (long) l * (rMax - rMin);
        }
        return new RankProfile(num, d);
    }

    /** AIRA supp. §C "Growth": {@code r_l = r_min + (l − 1)(r_max − r_min)/(L − 1)}; one layer gets r_max (SPEC §2.8). */
    static RankProfile growth(int layers, int rMin, int rMax) {
        if (layers == 1) {
            return new RankProfile(new long[] {rMax}, 1);
        }
        long d = layers - 1;
        long[] num = new long[layers];
        for (int l = 0; l < layers; l++) {
            num[l] = (long) rMin * d + (long) l * (rMax - rMin);
        }
        return new RankProfile(num, d);
    }

    /**
     * AIRA supp. §C "Random": ranks "sampled from a uniform distribution" within the bounds; here integers
     * {@code r_min + nextInt(r_max − r_min + 1)} from {@code java.util.Random(seed)}, in depth order
     * ({@code java.util.Random}'s sequence is fixed by its specification, so a seed means the same
     * ranks on every JVM).
     */
    static RankProfile random(int layers, int rMin, int rMax, long seed) {
        Random random = new Random(seed);
        long[] num = new long[layers];
        for (int l = 0; l < layers; l++) {
            num[l] = rMin + random.nextInt(rMax - rMin + 1);
        }
        return new RankProfile(num, 1);
    }

    int size() {
        return numerators.length;
    }

    long numerator(int l) {
        return numerators[l];
    }

    long denominator() {
        return denominator;
    }

    /** {@code p_l} as a double, for reports and tests. */
    double value(int l) {
        return (double) numerators[l] / denominator;
    }
}
