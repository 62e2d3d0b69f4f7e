package io.jnora.fuzz;

import io.jnora.adapter.AdapterLayer;
import io.jnora.adapter.NestedAdapterFile;
import io.jnora.io.Dtype;
import io.jnora.io.SafetensorsWriter;
import io.jnora.peft.LoraLayer;
import io.jnora.peft.PeftAdapter;
import io.jnora.train.AdamWConfig;
import io.jnora.train.LearningRateSchedule;
import io.jnora.train.TrainerState;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/** Valid files, written by the library's own writers: the starting points of the fuzz targets and their seeds. */
final class Fixtures {
    private Fixtures() {}

    static float[] ramp(int count, float start) {
        float[] v = new float[count];
        for (int i = 0; i < count; i++) {
            v[i] = start + 0.25f * i - 0.1f * (i % 3);
        }
        return v;
    }

    /** A SIGMA-init nested layer, 4×3, r = 2, r_in = 1 (every tensor kind the format has). */
    static AdapterLayer nestedLayer(String name) {
        return new AdapterLayer(name, 4, 3, 2, 1, 1.0, "lora", 1f, "mean-abs(0.5)", "sigma", "us", "exact",
                ramp(6, 0.5f), ramp(8, -1f), ramp(2, 0.3f), ramp(2, 0.7f), ramp(2, 0.2f), ramp(2, 0.1f));
    }

    static byte[] nestedAdapter() {
        Path file = FuzzFiles.DIR.resolve("fixture-nested.safetensors");
        NestedAdapterFile.write(file, List.of(nestedLayer("layer"), nestedLayer("q_proj")));
        return FuzzFiles.read(file);
    }

    static byte[] trainerState() {
        Path file = FuzzFiles.DIR.resolve("fixture-state.safetensors");
        AdamWConfig cfg = AdamWConfig.builder().maxGradNorm(1.0).schedule(LearningRateSchedule.warmupCosine(2, 10)).build();
        new TrainerState(3, cfg, 0.25, 42, List.of(new TrainerState.LayerMoments("layer", 2, 1, ramp(2, 0.1f), ramp(2, 0.2f),
                ramp(2, 0.3f), ramp(2, 0.4f)))).write(file);
        return FuzzFiles.read(file);
    }

    static final String PEFT_MODULE = "model.layers.0.self_attn.q_proj";

    static List<LoraLayer> loraLayers() {
        return List.of(new LoraLayer(PEFT_MODULE, 3, 4, 2, 4.0, false, 2f, false, ramp(6, 0.2f), ramp(8, -0.5f)),
                new LoraLayer("model.layers.0.self_attn.v_proj", 3, 4, 1, 1.0, false, 1f, false, ramp(3, 0.2f), ramp(4, 0.5f)));
    }

    /** A PEFT directory's two files: {config bytes, model bytes}. */
    static byte[][] peft() {
        Path dir = FuzzFiles.DIR.resolve("fixture-peft");
        PeftAdapter.write(dir, loraLayers());
        return new byte[][] {FuzzFiles.read(dir.resolve(PeftAdapter.CONFIG_FILE)), FuzzFiles.read(dir.resolve(PeftAdapter.MODEL_FILE))};
    }

    static byte[] safetensors() {
        Path file = FuzzFiles.DIR.resolve("fixture.safetensors");
        new SafetensorsWriter()
                .add("weight", ramp(12, -1f), 4, 3)
                .add("half", Dtype.F16, new float[] {0.5f, -1, 65504, 2}, 4, 1)
                .add("brain", Dtype.BF16, new float[] {1, 2}, 1, 2)
                .add("scalar", new float[] {7})
                .add("empty", new float[0], 0, 3)
                .metadata("format", "pt")
                .write(file);
        return FuzzFiles.read(file);
    }

    static byte[] layersJson() {
        return ("{\"layers\": [{\"name\": \"q\", \"m\": 64, \"n\": 32, \"outlier_ratio\": 0.02, \"outer_rank\": 16},"
                + " {\"name\": \"v\", \"m\": 64, \"n\": 64, \"outlier_ratio\": 0.0, \"outer_rank\": 8}]}")
                .getBytes(StandardCharsets.UTF_8);
    }
}
