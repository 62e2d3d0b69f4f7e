package io.jnora.init;

import io.jnora.InvalidRankException;
import io.jnora.NonFiniteInputException;
import io.jnora.ShapeMismatchException;
import io.jnora.backend.HostLapack;
import io.jnora.NoraContext;
import io.jnora.backend.HostSvd;
import io.jnora.backend.SvdFactors;
import io.jnora.backend.SvdPlan;
import io.jnora.stats.ActivationStats;
import java.util.SplittableRandom;

/**
 * Turns a frozen weight W (m×n) and an input scaling S into a nested adapter (SPEC §2.2–§2.4):
 * the truncated SVD W S ≈ U_r Σ_r V_rᵀ gives the outer pair (B A = W_r, optimal in ‖(W − W_r) S‖_F),
 * the inner pair starts as {@link InnerInit} says, and s follows the configured rule. On the host
 * (OpenBLAS/LAPACK).
 *
 * <p>Thread safety: stateless; host calls are thread-safe, calls given a context run on it (one thread at a time
 * per context).
 */
public final class NestedInitializer {
    private NestedInitializer() {}

    /** Initialises on the host from gathered activation statistics, with the config's scale mode. */
    public static NestedAdapterWeights initialize(float[] weight, int m, int n, ActivationStats stats, NoraConfig cfg) {
        return initialize(null, weight, m, n, stats, cfg);
    }

    /** Initialises on the host with a given scaling. */
    public static NestedAdapterWeights initialize(float[] weight, int m, int n, InputScaling scaling, NoraConfig cfg) {
        return initialize(null, weight, m, n, scaling, cfg);
    }

    /**
     * Initialises with the SVD of W·S on the context's backend (cuSOLVER on CUDA, with W·S kept on the
     * device); {@code context} null means the host. The splits and the inner init are host work on
     * r×n and m×r factors.
     */
    public static NestedAdapterWeights initialize(NoraContext context, float[] weight, int m, int n, ActivationStats stats,
            NoraConfig cfg) {
        if (stats.channels() != n) {
            throw new ShapeMismatchException("NestedInitializer.initialize: statistics over " + stats.channels()
                    + " channels for a weight " + m + "×" + n + " that takes " + n + " inputs");
        }
        float[] inputScale = cfg.activationInformedInput() ? activationInformedInputScale(stats.meanAbs()) : null;
        return initialize(context, weight, m, n, InputScaling.from(cfg.scaleMode(), stats), cfg, inputScale);
    }

    /**
     * Initialises with a given scaling. The activation-informed input option needs the statistics
     * (mean|x_j|): use an {@link ActivationStats} overload for it.
     */
    public static NestedAdapterWeights initialize(NoraContext context, float[] weight, int m, int n, InputScaling scaling,
            NoraConfig cfg) {
        if (cfg.activationInformedInput()) {
            throw new IllegalArgumentException("NestedInitializer.initialize: the activation-informed input (AIRA §B) "
                    + "needs mean|x_j| from the activation statistics; pass the ActivationStats, not an InputScaling");
        }
        return initialize(context, weight, m, n, scaling, cfg, null);
    }

    /**
     * The activation-informed input scale of AIRA supp. §B (SPEC §2.10): s_in,j = mean|x_j| / mean_k
     * mean|x_k|, so that the scales average to 1 and outlier channels weigh more in the adapter branch.
     */
    public static float[] activationInformedInputScale(double[] meanAbs) {
        double mean = 0;
        for (double v : meanAbs) {
            if (!(v >= 0) || Double.isInfinite(v)) {
                throw new NonFiniteInputException("NestedInitializer.activationInformedInputScale: mean|x_j| must be finite "
                        + "and ≥ 0, got " + v);
            }
            mean += v;
        }
        mean /= meanAbs.length;
        if (!(mean > 0)) {
            throw new IllegalArgumentException("NestedInitializer.activationInformedInputScale: every channel's mean|x_j| "
                    + "is 0 (no activation seen), so s_in is undefined");
        }
        float[] s = new float[meanAbs.length];
        for (int j = 0; j < s.length; j++) {
            s[j] = (float) (meanAbs[j] / mean);
        }
        return s;
    }

    private static NestedAdapterWeights initialize(NoraContext context, float[] weight, int m, int n, InputScaling scaling,
            NoraConfig cfg, float[] inputScale) {
        final String op = "NestedInitializer.initialize";
        if (m < 1 || n < 1 || weight.length != (long) m * n) {
            throw new ShapeMismatchException(op + ": weight holds " + weight.length + " values, expected " + m + "×" + n);
        }
        if (scaling.channels() != n) {
            throw new ShapeMismatchException(op + ": the scaling has " + scaling.channels()
                    + " channels but the weight " + m + "×" + n + " takes " + n + " inputs");
        }
        int r = cfg.outerRank();
        int rIn = cfg.innerRank();
        if (r > Math.min(m, n)) {
            throw new InvalidRankException(op + ": outer rank r = " + r + " exceeds min(m, n) = " + Math.min(m, n)
                    + " for the weight " + m + "×" + n);
        }
        for (int i = 0; i < weight.length; i++) {
            if (!Float.isFinite(weight[i])) {
                throw new NonFiniteInputException(op + ": weight element [" + i / n + ", " + i % n + "] is " + weight[i]);
            }
        }
        double s = cfg.scale();  // finite and ≠ 0: NoraConfig.build refuses s = 0 (SIGMA's B' = √Σ/√|s| undefined)
        SplittableRandom rng = new SplittableRandom(cfg.seed());

        if (cfg.init() == InnerInit.RANDOM_OUTER) {
            float[] a = foldInputScale(randomOrthonormalRows(r, n, rng), r, n, inputScale);
            float[] bt = randomOrthonormalRows(r, m, rng);
            float[] b = transpose(bt, r, m);
            return new NestedAdapterWeights(m, n, cfg, null, null, a, b, kaimingUniform(rIn, r, rng), new float[r * rIn],
                    null, null, weight);
        }

        SvdMethod method = cfg.svd().resolve(m, n, r);
        SvdPlan plan = method == SvdMethod.RANDOMIZED
                ? SvdPlan.randomized(cfg.oversampling(), cfg.powerIterations(), rng.nextLong())
                : SvdPlan.exact(cfg.svdFloat64());
        SvdFactors svd = context == null
                ? HostSvd.compute(scaling.applyRight(weight, m), m, n, r, plan)
                : context.computeBackend().truncatedSvdOfScaled(weight, m, n, scaling.diagonalView(), scaling.lowerView(),
                        r, plan);
        float[] sigma = svd.sigma();
        // SIGMA keeps Σ out of both outer factors, (U_r, V_rᵀ S⁻¹): the inner pair carries it.
        boolean sigmaInInner = cfg.init() == InnerInit.SIGMA;
        float[] bScale = new float[r];
        float[] aScale = new float[r];
        for (int k = 0; k < r; k++) {
            bScale[k] = sigmaInInner ? 1f : (float) cfg.split().bFactor(sigma[k]);
            aScale[k] = sigmaInInner ? 1f : (float) cfg.split().aFactor(sigma[k]);
        }
        float[] b = HostLapack.scaleColumns(svd.u(), m, r, bScale);
        float[] a = foldInputScale(scaling.solveRight(scaleRows(svd.vt(), r, n, aScale), r), r, n, inputScale);

        if (cfg.init() == InnerInit.ZERO) {
            return new NestedAdapterWeights(m, n, cfg, method, sigma.clone(), a, b, kaimingUniform(rIn, r, rng),
                    new float[r * rIn], null, null, weight);
        }
        // SIGMA: B' (r×r_in) and A' (r_in×r) hold √σ_k / √|s| on their diagonals, B' also the sign of s,
        // so that s·B B' A' A = U_{r_in} Σ_{r_in} V_{r_in}ᵀ S⁻¹ for any s ≠ 0 and W_res = W − that (SPEC §2.3,
        // "exact for any s": for s > 0 this is the table's √Σ/√s in both).
        float[] innerB = new float[r * rIn];
        float[] innerA = new float[rIn * r];
        double signS = Math.signum(s);
        for (int k = 0; k < rIn; k++) {
            double v = Math.sqrt(sigma[k] / Math.abs(s));
            innerB[k * rIn + k] = (float) (signS * v);
            innerA[k * r + k] = (float) v;
        }
        float[] residual = residualBase(weight, m, n, b, innerB, innerA, a, r, rIn, s);
        return new NestedAdapterWeights(m, n, cfg, method, sigma.clone(), a, b, innerA, innerB, innerA.clone(),
                innerB.clone(), residual);
    }

    /**
     * A ← A·diag(s_in) (AIRA §B), in place; null leaves A alone. Before the SIGMA residual is formed,
     * so that the residual still keeps the layer's output unchanged at init.
     */
    private static float[] foldInputScale(float[] a, int rows, int n, float[] inputScale) {
        if (inputScale != null) {
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < n; j++) {
                    a[i * n + j] *= inputScale[j];
                }
            }
        }
        return a;
    }

    /**
     * W_res = W − s·(B B'₀)(A'₀ A): the base of a SIGMA-initialised layer, recomputed from the original
     * weight and the inner pair at init (the residual itself is never stored, SPEC §5).
     */
    public static float[] residualBase(float[] weight, int m, int n, float[] outerB, float[] innerB0, float[] innerA0,
            float[] outerA, int r, int rIn, double s) {
        float[] effB = HostLapack.multiply(false, false, m, rIn, r, outerB, innerB0);
        float[] effA = HostLapack.multiply(false, false, rIn, n, r, innerA0, outerA);
        float[] delta = HostLapack.multiply(false, false, m, n, rIn, effB, effA);
        float[] residual = new float[m * n];
        for (int i = 0; i < residual.length; i++) {
            residual[i] = (float) (weight[i] - s * delta[i]);
        }
        return residual;
    }

    /** Kaiming-uniform with a = √5, PyTorch's nn.Linear default and PEFT's lora_A init: U(−1/√fan_in, 1/√fan_in). */
    static float[] kaimingUniform(int rows, int fanIn, SplittableRandom rng) {
        double bound = 1 / Math.sqrt(fanIn);
        float[] out = new float[rows * fanIn];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) ((2 * rng.nextDouble() - 1) * bound);
        }
        return out;
    }

    /** rows×cols with orthonormal rows (rows ≤ cols): the QR of a Gaussian matrix, transposed. */
    static float[] randomOrthonormalRows(int rows, int cols, SplittableRandom rng) {
        float[] g = new float[cols * rows];
        for (int i = 0; i < g.length; i++) {
            g[i] = (float) HostSvd.gaussian(rng);
        }
        HostLapack.orthonormalizeColumns(g, cols, rows);
        return transpose(g, cols, rows);
    }

    static float[] transpose(float[] a, int rows, int cols) {
        float[] t = new float[a.length];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                t[j * rows + i] = a[i * cols + j];
            }
        }
        return t;
    }

    private static float[] scaleRows(float[] a, int rows, int cols, float[] scale) {
        float[] out = new float[a.length];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                out[i * cols + j] = a[i * cols + j] * scale[i];
            }
        }
        return out;
    }
}
