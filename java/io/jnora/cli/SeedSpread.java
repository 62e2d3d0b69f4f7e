package io.jnora.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** One figure over several seeds: its mean and sample standard deviation, printed as "mean ± sd". */
final class SeedSpread {
    private final List<Double> values = new ArrayList<>();

    void add(double v) {
        values.add(v);
    }

    int count() {
        return values.size();
    }

    double mean() {
        return values.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
    }

    /** The sample standard deviation (n − 1); 0 for a single value. */
    double sd() {
        if (values.size() < 2) {
            return 0;
        }
        double mean = mean();
        double sq = values.stream().mapToDouble(v -> (v - mean) * (v - mean)).sum();
        return Math.sqrt(sq / (values.size() - 1));
    }

    /** "0.1234 ± 0.0012" with {@code digits} decimals (no ± for one seed). */
    String format(int digits) {
        String f = "%." + digits + "f";
        return values.size() < 2 ? String.format(Locale.ROOT, f, mean())
                : String.format(Locale.ROOT, f + " ± " + f, mean(), sd());
    }
}
