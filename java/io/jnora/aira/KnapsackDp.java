package io.jnora.aira;

/**
 * Exact integer ranks for OUTLIER_DRIVEN (SPEC §2.8): a dynamic program over the budget left after
 * {@code r_min}, in units of the greatest common divisor g of the active layers' costs.
 *
 * <p>Layer l takes {@code e_l = r_l − r_min ∈ [0, E_l]} extra ranks of weight {@code w_l = c_l / g}
 * units and gain {@code h_l(e) = O_l (log(1 + r_min + e) − log(1 + r_min))}. With
 * {@code F_l[w]} the best gain of the first l active layers within w units,
 * {@code F_l[w] = max_e F_{l−1}[w − e w_l] + h_l(e)}. Within one residue class of w mod w_l this is a
 * max-plus convolution of an arbitrary sequence with the concave {@code h_l}, so the (largest) best
 * {@code e}'s source index is non-decreasing in w (the Monge exchange argument; the window
 * {@code e ≤ E_l} keeps it, since every index the argument needs is then inside the window). Divide and
 * conquer over that monotone argmax computes a layer in {@code O(W log W)} instead of {@code O(W E_l)}.
 *
 * <p>Memory: the choice table, {@code e_l} per layer and unit as a {@code char} (2 bytes; an
 * {@code int} only if {@code E_l > 65535}), is 100 MB at the SPEC's limit of 5·10⁷ cells; besides it, one
 * rolling value array (8 bytes per unit) and a scratch copy of the longest residue class
 * ({@code 8 (W / min_l w_l + 1)} bytes). With many layers W is small ({@code W + 1 ≤ cells / layers}):
 * about 0.1 GB in all for model-sized problems at the limit. The worst case is two layers at the limit,
 * W ≈ 2.5·10⁷, up to about 0.5 GB if one of them has a unit weight of 1. Time: about a second at the limit.
 * The ranks are read back from the table, last layer first.
 */
final class KnapsackDp {
    private final double[] value;
    private final double[] source;
    private double[] gain;
    private int maxExtra;
    /** The current layer's choice table: {@code narrow} when its extra ranks fit a char, else {@code wide}. */
    private char[] narrow;
    private int[] wide;

    private KnapsackDp(int units, int longestResidueClass) {
        value = new double[units + 1];
        source = new double[longestResidueClass];
    }

    /**
     * Fills {@code ranks} (already {@code r_min} everywhere) for the {@code active} layers, given the
     * unit {@code g} and the capacity in units {@code W}, {@code (W + 1) · active.length} cells.
     */
    static void solve(AllocationProblem problem, int[] active, long unit, int units, int[] ranks) {
        int[] weights = new int[active.length];
        int[] extras = new int[active.length];
        int longest = 1;
        for (int k = 0; k < active.length; k++) {
            int l = active[k];
            long w = problem.cost[l] / unit;
            extras[k] = (int) Math.min(problem.upper[l] - problem.rMin, units / w);
            weights[k] = (int) Math.min(w, (long) units + 1);
            if (extras[k] > 0) {
                longest = Math.max(longest, units / weights[k] + 1);
            }
        }
        KnapsackDp dp = new KnapsackDp(units, longest);
        Object[] choices = new Object[active.length];
        for (int k = 0; k < active.length; k++) {
            choices[k] = dp.addLayer(problem.weight[active[k]], problem.rMin, weights[k], extras[k], units);
        }
        int left = units;
        for (int k = active.length - 1; k >= 0; k--) {
            int e = choices[k] == null ? 0
                    : choices[k] instanceof char[] c ? c[left] : ((int[]) choices[k])[left];
            ranks[active[k]] = problem.rMin + e;
            left -= e * weights[k];
        }
    }

    /** Folds one layer into the rolling values; returns its choice table ({@code null}: it can take no extra rank). */
    private Object addLayer(double outlierRatio, int rMin, int weight, int extra, int units) {
        if (extra == 0) {
            return null;
        }
        maxExtra = extra;
        gain = new double[extra + 1];
        double base = Math.log1p(rMin);
        for (int e = 1; e <= extra; e++) {
            gain[e] = outlierRatio * (Math.log1p((double) rMin + e) - base);
        }
        narrow = extra <= Character.MAX_VALUE ? new char[units + 1] : null;
        wide = narrow == null ? new int[units + 1] : null;
        for (int residue = 0; residue < weight && residue <= units; residue++) {
            int count = (units - residue) / weight + 1;
            for (int i = 0; i < count; i++) {
                source[i] = value[residue + i * weight];
            }
            convolve(0, count - 1, 0, count - 1, residue, weight);
        }
        return narrow != null ? narrow : wide;
    }

    /**
     * {@code value[residue + i·weight] = max_j source[j] + gain[i − j]} over {@code j ∈ [i − E, i]}, for
     * i in [lo, hi] whose best j lies in [jLo, jHi]; records {@code e = i − j} in the choice table.
     */
    private void convolve(int lo, int hi, int jLo, int jHi, int residue, int weight) {
        if (lo > hi) {
            return;
        }
        int mid = (lo + hi) >>> 1;
        int from = Math.max(jLo, mid - maxExtra);
        int to = Math.min(jHi, mid);
        double best = Double.NEGATIVE_INFINITY;
        int arg = from;
        for (int j = from; j <= to; j++) {
            double v = source[j] + gain[mid - j];
            if (v >= best) { // the largest argmax, which the monotonicity argument is about
                best = v;
                arg = j;
            }
        }
        int cell = residue + mid * weight;
        value[cell] = best;
        if (narrow != null) {
            narrow[cell] = (char) (mid - arg);
        } else {
            wide[cell] = mid - arg;
        }
        convolve(lo, mid - 1, jLo, arg, residue, weight);
        convolve(mid + 1, hi, arg, jHi, residue, weight);
    }
}
