package io.jnora.cli;

import io.jnora.init.InnerInit;
import io.jnora.init.NoraConfig;
import io.jnora.init.ScaleMode;
import io.jnora.init.ScalingRule;
import io.jnora.init.SvdMethod;
import picocli.CommandLine.Option;

/**
 * The options that configure one layer's nested adapter ({@link NoraConfig}), shared by {@code init} and
 * {@code recover}. The commands differ only in the default scale mode, so that default is the field's
 * initial value, set by the command that makes the mixin, rather than an annotation attribute.
 */
final class AdapterOptions {
    @Option(names = "--rank", required = true, description = "Outer rank r.")
    int rank;

    @Option(names = "--inner-rank", required = true, description = "Inner (trainable) rank r_in.")
    int innerRank;

    @Option(names = "--scale-mode", paramLabel = "none|mean-abs|rms|whiten",
            description = "Input scaling of the SVD (default: ${DEFAULT-VALUE}).")
    String scaleMode;

    @Option(names = "--alpha-exp", description = "Exponent α ≥ 0 of mean-abs, S = diag(mean|x_j|^α) (default 0.5).")
    Double alphaExp;

    @Option(names = "--whiten-lambda", description = "Ridge λ of whiten, relative to tr(C)/n (default 1e-3).")
    Double whitenLambda;

    @Option(names = "--svd", defaultValue = "auto", paramLabel = "auto|exact|randomized",
            description = "SVD method; auto is randomized when r ≤ min(m, n)/4 (default: ${DEFAULT-VALUE}).")
    String svd;

    @Option(names = "--alpha", description = "α of the scaling rule (default r_in).")
    Double alpha;

    @Option(names = "--rule", defaultValue = "lora", paramLabel = "lora|rora",
            description = "Scale s = α/r_in (lora) or α/√r_in (rora) (default: ${DEFAULT-VALUE}).")
    String rule;

    /** Picocli's factory needs a no-argument constructor; the commands use {@link #AdapterOptions(String)}. */
    AdapterOptions() {
        this("mean-abs");
    }

    AdapterOptions(String defaultScaleMode) {
        this.scaleMode = defaultScaleMode;
    }

    /** The scale mode with its parameter: {@code --whiten-lambda} for whiten, {@code --alpha-exp} otherwise. */
    ScaleMode scaleMode() {
        return ScaleMode.parse(scaleMode, scaleMode.trim().equalsIgnoreCase("whiten") ? whitenLambda : alphaExp);
    }

    /** The validated configuration; {@code init} is the command's own option, its choices differ per command. */
    NoraConfig config(String init, long seed) {
        NoraConfig.Builder builder = NoraConfig.builder().outerRank(rank).innerRank(innerRank).scaleMode(scaleMode())
                .svd(OptionValues.parseEnum(SvdMethod.class, svd, "--svd"))
                .init(OptionValues.parseEnum(InnerInit.class, init, "--init"))
                .rule(ScalingRule.parse(rule)).seed(seed);
        if (alpha != null) {
            builder.alpha(alpha);
        }
        return builder.build();
    }
}
