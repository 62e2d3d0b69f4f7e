package io.jnora.cli;

import io.jnora.AdapterFormatException;
import io.jnora.adapter.AdapterLayer;
import io.jnora.adapter.NestedAdapterFile;
import io.jnora.io.SafetensorsFile;
import io.jnora.io.TensorInfo;
import io.jnora.peft.LoraLayer;
import io.jnora.peft.PeftAdapter;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** A PEFT LoRA adapter directory as a nested adapter file (SPEC §2.7, §5, §6 {@code import-peft}). */
@Command(name = "import-peft", mixinStandardHelpOptions = true,
        description = "Read a Hugging Face PEFT LoRA adapter directory and write it as a nested adapter file: per"
                + " module r = r_in = rank, A = lora_A, B = lora_B, A' = B' = I (init \"peft\"), s from lora_alpha/r"
                + " (or /√r with use_rslora). What it does not support (DoRA, embedding LoRA, modules_to_save"
                + " weights, ...) is refused by name.")
final class ImportPeftCommand implements Callable<Integer> {
    private static final String WEIGHT_SUFFIX = ".weight";

    @Option(names = "--adapter", required = true, paramLabel = "DIR",
            description = "The PEFT adapter directory (adapter_config.json, adapter_model.safetensors).")
    Path adapter;

    @Option(names = "--base", paramLabel = "FILE",
            description = "Base model safetensors (repeatable, e.g. for shards): each module's in/out is checked"
                    + " against the tensor <module>.weight.")
    List<Path> base;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "The nested adapter file to write.")
    Path out;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        Map<String, LoraLayer> modules;
        try {
            modules = PeftAdapter.read(adapter, base == null ? null : baseShapes());
        } catch (AdapterFormatException e) {
            if (base == null || !e.getMessage().contains("base")) {
                throw e;
            }
            throw new AdapterFormatException(e.getMessage() + " (--base " + base + ")", e);  // name the base files too
        }
        List<AdapterLayer> nested = new ArrayList<>();
        Table table = new Table("module", "in", "out", "rank", "lora_alpha", "s");
        boolean fanInFanOut = false;
        for (LoraLayer l : modules.values()) {
            nested.add(l.toNested());
            table.row(l.name(), l.inFeatures(), l.outFeatures(), l.rank(), String.valueOf(l.alpha()) + (l.rsLora() ? " (rsLoRA)" : ""),
                    String.valueOf(l.scale()));
            fanInFanOut |= l.fanInFanOut();
        }
        NestedAdapterFile.write(out, nested);
        table.print(stdout);
        if (fanInFanOut) {
            stdout.println("fan_in_fan_out: the base weights of these modules are stored in × out (Conv1D); the nested"
                    + " file runs on W out × in, so transpose them");
        }
        stdout.println("wrote " + out + " (" + nested.size() + " layers, init peft)");
        stdout.flush();
        return 0;
    }

    /** Module path → the stored shape of {@code <module>.weight}, from every base file given. */
    private Map<String, long[]> baseShapes() {
        Map<String, long[]> shapes = new HashMap<>();
        for (Path file : base) {
            try (SafetensorsFile st = SafetensorsFile.open(file)) {
                for (TensorInfo t : st.tensors()) {
                    if (t.name().endsWith(WEIGHT_SUFFIX)) {
                        shapes.put(t.name().substring(0, t.name().length() - WEIGHT_SUFFIX.length()), t.shape());
                    }
                }
            }
        }
        return shapes;
    }
}
