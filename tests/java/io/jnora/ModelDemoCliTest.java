package io.jnora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jnora demo} on the embedded model (issue 8), scaled down: the table, the totals, the export. */
class ModelDemoCliTest {
    @TempDir
    Path dir;



    @Test
    void theModelDemoPrintsAPerLayerTableAndTotals() {
        io.jnora.model.TestModel.assumeModel();
        Path peft = dir.resolve("peft");
        CliRun r = CliRun.of("demo", "--backend", "cpu", "--sentences", "24", "--held-out-rows", "8", "--rank", "8",
                "--inner-rank", "2", "--init", "sigma", "--peft-out", peft.toString());
        assertEquals(0, r.status(), r.err());
        String out = r.out();
        assertTrue(out.contains("BAAI/bge-small-en-v1.5") && out.contains("12 layers, hidden 384"), out);
        assertTrue(out.contains("svd") && out.contains("mean-abs") && out.contains("whiten/svd"), out);
        for (String layer : new String[] {"encoder.layer.0.attention.self.query", "encoder.layer.11.output.dense"}) {
            assertTrue(out.lines().anyMatch(l -> l.startsWith(layer + " ")), layer + " row in:\n" + out);
        }
        assertEquals(72, out.lines().filter(l -> l.startsWith("encoder.layer.")).count(), out);
        assertTrue(out.contains("trainable parameters: ") && out.contains("forward of ") && out.contains("init: "), out);
        assertTrue(out.contains("outputs at init (sigma)"), out);
        assertTrue(Files.exists(peft.resolve("adapter_config.json")) && Files.exists(peft.resolve("adapter_model.safetensors")));
        assertTrue(r.err().contains("calibration: "), "progress on standard error: " + r.err());
    }

    @Test
    void aBadInitIsBadUsageWithOneLine() {
        CliRun r = CliRun.of("demo", "--backend", "cpu", "--init", "random");
        assertEquals(2, r.status());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("--init"), r.err());
    }
}
