package io.jnora.cli;

import io.jnora.NoraContext;
import io.jnora.init.InputScaling;
import io.jnora.init.NestedAdapterWeights;
import io.jnora.init.NestedInitializer;
import io.jnora.init.NoraConfig;
import io.jnora.init.ScaleMode;
import io.jnora.init.SvdMethod;
import java.io.PrintWriter;
import java.util.SplittableRandom;

/**
 * Time of the activation-aware SVD init (statistics excluded) for square weights, exact against
 * randomized, and how far the randomized truncation is from the exact one (SPEC §2.2: within 1%).
 * The weight's spectrum decays (a Gaussian matrix with column scales e^(−5j/n)), like trained
 * weights', so that the comparison of truncation errors means something; errors are measured in the
 * scaled norm ‖(W − BA) S‖_F that the truncation minimises.
 */
final class InitBenchmark {
    private InitBenchmark() {}

    static void run(NoraContext ctx, int[] sizes, int[] ranks, int repeats, PrintWriter out, PrintWriter err) {
        Table table = new Table("weight", "r", "svd", "median s", "min s", "runs", "‖(W−BA)S‖ / exact");
        for (int size : sizes) {
            float[] w = weight(size, new SplittableRandom(size));
            SplittableRandom rng = new SplittableRandom(7);
            double[] scale = new double[size];
            for (int j = 0; j < size; j++) {
                scale[j] = Math.exp(0.5 * rng.nextDouble()) * (rng.nextInt(100) == 0 ? 50 : 1);
            }
            InputScaling scaling = InputScaling.diagonal(scale);
            for (int r : ranks) {
                if (r > size) {
                    continue;
                }
                double exactError = Double.NaN;
                for (SvdMethod method : new SvdMethod[] {SvdMethod.EXACT, SvdMethod.RANDOMIZED}) {
                    NoraConfig cfg = NoraConfig.builder().outerRank(r).innerRank(Math.min(16, r))
                            .scaleMode(ScaleMode.meanAbs()).svd(method).build();
                    int runs = method == SvdMethod.EXACT && size >= 4096 ? 1 : repeats;
                    Timing timing = new Timing(runs);
                    NestedAdapterWeights[] last = new NestedAdapterWeights[1];
                    err.printf("bench init: %d×%d r=%d %s (%d run%s)...%n", size, size, r, method, runs, runs > 1 ? "s" : "");
                    err.flush();
                    for (int i = 0; i < runs; i++) {
                        timing.time(() -> last[0] = NestedInitializer.initialize(ctx, w, size, size, scaling, cfg));
                    }
                    double error = truncationError(w, last[0].outerProduct(), scaling.diagonalEntries());
                    if (method == SvdMethod.EXACT) {
                        exactError = error;
                    }
                    table.row(size + "×" + size, r, method.name().toLowerCase(), timing.median() / 1e3,
                            timing.min() / 1e3, runs, error / exactError);
                }
            }
        }
        out.println("jnora bench --suite init on " + ctx.selection() + ": activation-aware SVD init (MEAN_ABS scaling),"
                + " statistics excluded; the SVD of W·S runs on the backend, splits on the host");
        table.print(out);
    }

    private static float[] weight(int n, SplittableRandom rng) {
        float[] w = new float[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                w[i * n + j] = (float) (TruncatedGaussian.next(rng) * Math.exp(-5.0 * j / n) / Math.sqrt(n));
            }
        }
        return w;
    }

    private static double truncationError(float[] w, float[] approx, float[] columnScale) {
        int n = columnScale.length;
        double sum = 0;
        for (int i = 0; i < w.length; i++) {
            double d = (w[i] - approx[i]) * (double) columnScale[i % n];
            sum += d * d;
        }
        return Math.sqrt(sum);
    }

    private static final class TruncatedGaussian {
        static double next(SplittableRandom rng) {
            double u = 1.0 - rng.nextDouble();
            return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextDouble());
        }
    }
}
