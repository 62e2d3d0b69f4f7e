package io.jnora.init;

import java.util.Locale;

/**
 * The scaling S of the input space in the activation-aware SVD of W S (SPEC §2.2).
 *
 * <ul>
 *   <li>{@code NONE}: S = I, plain SVD (PiSSA);</li>
 *   <li>{@code MEAN_ABS(α)}: S = diag(mean|x_j|^α), α ≥ 0, 0.5 by default (ASVD);</li>
 *   <li>{@code RMS}: S = diag(sqrt(mean x_j²));</li>
 *   <li>{@code WHITEN(λ)}: S = L, Cholesky factor of C + λ·tr(C)/n·I, λ = 1e-3 by default.</li>
 * </ul>
 *
 * <p>Thread safety: immutable and thread-safe.
 */
public final class ScaleMode {
    public enum Kind { NONE, MEAN_ABS, RMS, WHITEN }

    public static final double DEFAULT_MEAN_ABS_EXPONENT = 0.5;
    public static final double DEFAULT_WHITEN_LAMBDA = 1e-3;

    private final Kind kind;
    private final double parameter;

    private ScaleMode(Kind kind, double parameter) {
        this.kind = kind;
        this.parameter = parameter;
    }

    public static ScaleMode none() {
        return new ScaleMode(Kind.NONE, Double.NaN);
    }

    public static ScaleMode meanAbs() {
        return meanAbs(DEFAULT_MEAN_ABS_EXPONENT);
    }

    public static ScaleMode meanAbs(double exponent) {
        // α < 0 would invert the weighting (quiet channels weigh most) and give ∞ for a dead channel (0^α).
        if (!(exponent >= 0) || Double.isInfinite(exponent)) {
            throw new IllegalArgumentException("ScaleMode.meanAbs: exponent α must be finite and ≥ 0, got " + exponent
                    + " (S = diag(mean|x_j|^α), SPEC §2.2)");
        }
        return new ScaleMode(Kind.MEAN_ABS, exponent);
    }

    public static ScaleMode rms() {
        return new ScaleMode(Kind.RMS, Double.NaN);
    }

    public static ScaleMode whiten() {
        return whiten(DEFAULT_WHITEN_LAMBDA);
    }

    public static ScaleMode whiten(double lambda) {
        if (!(lambda >= 0) || Double.isInfinite(lambda)) {
            throw new IllegalArgumentException("ScaleMode.whiten: λ must be finite and ≥ 0, got " + lambda);
        }
        return new ScaleMode(Kind.WHITEN, lambda);
    }

    /** From the command line's names: none, mean-abs, rms, whiten (with the given parameter or the default). */
    public static ScaleMode parse(String name, Double parameter) {
        switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "none":
                return none();
            case "mean-abs":
                return parameter == null ? meanAbs() : meanAbs(parameter);
            case "rms":
                return rms();
            case "whiten":
                return parameter == null ? whiten() : whiten(parameter);
            default:
                throw new IllegalArgumentException("unknown scale mode '" + name + "' (expected none, mean-abs, rms or whiten)");
        }
    }

    public Kind kind() {
        return kind;
    }

    /** α for MEAN_ABS, λ for WHITEN, NaN otherwise. */
    public double parameter() {
        return parameter;
    }

    /** Whether the statistics must include the covariance. */
    public boolean needsCovariance() {
        return kind == Kind.WHITEN;
    }

    /** The name written into adapter metadata: none, mean-abs(0.5), rms, whiten(0.001). */
    @Override
    public String toString() {
        switch (kind) {
            case MEAN_ABS:
                return "mean-abs(" + parameter + ")";
            case WHITEN:
                return "whiten(" + parameter + ")";
            default:
                return kind.name().toLowerCase(Locale.ROOT);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ScaleMode s && s.kind == kind && Double.compare(s.parameter, parameter) == 0;
    }

    @Override
    public int hashCode() {
        return kind.hashCode() * 31 + Double.hashCode(parameter);
    }
}
