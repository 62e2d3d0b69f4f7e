package io.jnora.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.SafetensorsFormatException;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The SPEC §5 "FILE#TENSOR" syntax, and which tensor a reference means in a file. */
class TensorRefTest {
    @TempDir
    Path dir;

    @Test
    void fileAndTensorSplitAtTheHash() {
        TensorRef ref = TensorRef.parse("layer.safetensors#weight");
        assertEquals(Path.of("layer.safetensors"), ref.file());
        assertEquals(Optional.of("weight"), ref.tensor());
        assertEquals("layer.safetensors#weight", ref.toString());
    }

    @Test
    void withoutAHashThereIsNoTensorName() {
        TensorRef ref = TensorRef.parse("runs/layer.safetensors");
        assertEquals(Path.of("runs/layer.safetensors"), ref.file());
        assertEquals(Optional.empty(), ref.tensor());
    }

    @Test
    void theLastHashSplitsSoAPathMayHoldOne() {
        TensorRef ref = TensorRef.parse("runs/#3/layer.safetensors#base_model.model.q_proj.lora_A.weight");
        assertEquals(Path.of("runs/#3/layer.safetensors"), ref.file());
        assertEquals(Optional.of("base_model.model.q_proj.lora_A.weight"), ref.tensor());
    }

    @Test
    void emptyFileOrTensorPartsAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TensorRef.parse("layer.safetensors#"));
        assertTrue(e.getMessage().contains("layer.safetensors#") && e.getMessage().contains("tensor name"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TensorRef.parse("#weight"));
        assertThrows(IllegalArgumentException.class, () -> TensorRef.parse(""));
    }

    @Test
    void aNamedTensorResolvesToItsEntryAndAMissingOneListsTheNames() {
        Path file = dir.resolve("two.safetensors");
        new SafetensorsWriter().add("weight", new float[] {1f, 2f}, 2).add("bias", new float[] {3f}, 1).write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals("weight", TensorRef.parse(file + "#weight").resolve(f).name());
            SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class,
                    () -> TensorRef.parse(file + "#w").resolve(f));
            assertTrue(e.getMessage().contains("\"weight\"") && e.getMessage().contains("\"bias\""), e.getMessage());
        }
    }

    @Test
    void withoutANameTheOnlyTensorIsMeant() {
        Path file = dir.resolve("one.safetensors");
        new SafetensorsWriter().add("x", new float[] {1f}).write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals("x", TensorRef.parse(file.toString()).resolve(f).name());
        }
    }

    @Test
    void withoutANameAFileOfSeveralTensorsIsRefusedListingThem() {
        Path file = dir.resolve("two.safetensors");
        new SafetensorsWriter().add("weight", new float[] {1f}).add("bias", new float[] {3f}).write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class,
                    () -> TensorRef.of(file).resolve(f));
            assertTrue(e.getMessage().contains("two.safetensors") && e.getMessage().contains("2 tensors")
                    && e.getMessage().contains("\"weight\"") && e.getMessage().contains("#TENSOR"), e.getMessage());
        }
    }

    @Test
    void withoutANameAnEmptyFileIsRefused() {
        Path file = dir.resolve("empty.safetensors");
        new SafetensorsWriter().write(file);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class,
                    () -> TensorRef.of(file).resolve(f));
            assertTrue(e.getMessage().contains("0 tensors"), e.getMessage());
        }
    }
}
