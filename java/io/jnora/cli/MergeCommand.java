package io.jnora.cli;

import io.jnora.ShapeMismatchException;
import io.jnora.adapter.AdapterLayer;
import io.jnora.adapter.NestedAdapterFile;
import io.jnora.io.SafetensorsWriter;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Folds a nested adapter into its layer's weight, or takes it out again (SPEC §2.5): the merged
 * layer runs at the base layer's cost. The weight keeps its tensor name and dtype (F32, F16, BF16).
 */
@Command(name = "merge", mixinStandardHelpOptions = true,
        description = "Merge an adapter into a weight (W + s·BB'A'A, on the SIGMA residual when there is one), or --unmerge.")
final class MergeCommand implements Callable<Integer> {
    @Option(names = "--weight", required = true, paramLabel = "FILE#TENSOR",
            description = "The original weight W (m×n); with --unmerge, the merged weight.")
    String weight;

    @Option(names = "--adapter", required = true, description = "A nested adapter file.")
    Path adapter;

    @Option(names = "--layer", description = "The layer in the adapter file (needed when it holds several).")
    String layer;

    @Option(names = "--unmerge", description = "Recover the original W from a merged weight.")
    boolean unmerge;

    @Option(names = "--out", required = true, description = "The safetensors file to write.")
    Path out;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        TensorInputs.Weight w = TensorInputs.weight("merge", "--weight", weight);
        AdapterLayer a = NestedAdapterFile.readLayer(adapter, layer);
        if (a.outFeatures() != w.m() || a.inFeatures() != w.n()) {
            throw new ShapeMismatchException("merge: layer '" + a.name() + "' of " + adapter + " is " + a.outFeatures() + "×"
                    + a.inFeatures() + " but the weight " + weight + " is " + w.m() + "×" + w.n());
        }
        float[] result = unmerge ? a.unmergedWeight(w.values()) : a.mergedWeight(w.values());
        new SafetensorsWriter().add(w.name(), w.dtype(), result, w.m(), w.n()).write(out);
        stdout.printf("%s layer %s (%d×%d, r = %d, r_in = %d, s = %s%s) %s %s; wrote %s#%s (%s)%n",
                unmerge ? "unmerged" : "merged", a.name(), w.m(), w.n(), a.outerRank(), a.innerRank(), a.scale(),
                a.usesResidualBase() ? ", SIGMA residual" : "", unmerge ? "from" : "into", weight, out, w.name(),
                w.dtype());
        stdout.flush();
        return 0;
    }
}
