package io.jnora.cli;

import io.jnora.AdapterFormatException;
import io.jnora.adapter.AdapterLayer;
import io.jnora.adapter.NestedAdapterFile;
import io.jnora.peft.LoraLayer;
import io.jnora.peft.PeftAdapter;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** A nested adapter file as a PEFT LoRA adapter directory (SPEC §2.7, §6 {@code export-peft}). */
@Command(name = "export-peft", mixinStandardHelpOptions = true,
        description = "Write a nested adapter as a Hugging Face PEFT LoRA adapter (adapter_config.json and"
                + " adapter_model.safetensors): lora_B = B·B', lora_A = A'·A, rank r_in, or 2·r_in for a layer on the"
                + " residual base (init sigma), so that PEFT on the original weights computes what the nested layer does.")
final class ExportPeftCommand implements Callable<Integer> {
    @Option(names = "--adapter", required = true, paramLabel = "FILE", description = "The nested adapter file (safetensors).")
    Path adapter;

    @Option(names = "--layer", split = ",", paramLabel = "NAME",
            description = "Layers to export (repeatable or comma-separated; default: all).")
    List<String> layers;

    @Option(names = "--module-prefix", defaultValue = "", paramLabel = "PREFIX",
            description = "Prepended to each layer name to form its module path in the base model, e.g."
                    + " 'model.layers.0.self_attn.' (default: none; the layer name is the module path).")
    String modulePrefix;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "The adapter directory to write.")
    Path out;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        Map<String, AdapterLayer> all = NestedAdapterFile.read(adapter);
        List<AdapterLayer> chosen = new ArrayList<>();
        if (layers == null || layers.isEmpty()) {
            chosen.addAll(all.values());
        } else {
            for (String name : layers) {
                AdapterLayer l = all.get(name);
                if (l == null) {
                    throw new AdapterFormatException(adapter + ": no layer \"" + name + "\" (layers: " + all.keySet() + ")");
                }
                chosen.add(l);
            }
        }
        List<LoraLayer> written = PeftAdapter.export(out, chosen, modulePrefix);

        Table table = new Table("module", "in", "out", "r", "lora_alpha", "s", "from");
        for (int i = 0; i < written.size(); i++) {
            LoraLayer l = written.get(i);
            AdapterLayer src = chosen.get(i);
            table.row(l.name(), l.inFeatures(), l.outFeatures(), l.rank(), String.valueOf(l.alpha()), String.valueOf(l.scale()),
                    "r_in = " + src.innerRank() + (src.usesResidualBase() ? ", residual base: 2·r_in" : ""));
        }
        table.print(stdout);
        stdout.println("wrote " + out.resolve(PeftAdapter.CONFIG_FILE) + " and " + PeftAdapter.MODEL_FILE
                + " (use_rslora false; PEFT's scale lora_alpha/r is s)");
        stdout.flush();
        return 0;
    }
}
