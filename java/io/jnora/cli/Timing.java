package io.jnora.cli;

import java.util.Arrays;

/** Wall-clock samples of an operation (with a synchronisation inside it) and their summary. */
final class Timing {
    private final double[] millis;
    private int count;

    Timing(int capacity) {
        millis = new double[capacity];
    }

    void time(Runnable operation) {
        long start = System.nanoTime();
        operation.run();
        millis[count++] = (System.nanoTime() - start) / 1e6;
    }

    double median() {
        double[] sorted = Arrays.copyOf(millis, count);
        Arrays.sort(sorted);
        return count % 2 == 1 ? sorted[count / 2] : (sorted[count / 2 - 1] + sorted[count / 2]) / 2;
    }

    double min() {
        return Arrays.stream(millis, 0, count).min().orElse(Double.NaN);
    }

    double max() {
        return Arrays.stream(millis, 0, count).max().orElse(Double.NaN);
    }
}
