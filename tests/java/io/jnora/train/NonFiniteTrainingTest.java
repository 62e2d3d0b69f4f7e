package io.jnora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.Backend;
import io.jnora.Matrix;
import io.jnora.NestedLinear;
import io.jnora.NoraContext;
import io.jnora.synth.SyntheticLayer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A NaN in a loss or a gradient stops the step, names it and the layer, and changes nothing (SPEC §2.10). */
class NonFiniteTrainingTest {
    private static final long SEED = ThreadLocalRandom.current().nextLong();
    private NoraContext ctx;
    private final SyntheticLayer first = SyntheticLayer.random(SEED, 12, 10, 5, 2, 1f);
    private final SyntheticLayer second = SyntheticLayer.random(SEED + 1, 9, 14, 4, 3, 1f);

    @TempDir
    Path dir;

    @BeforeEach
    void open() {
        ctx = NoraContext.create(Backend.CPU);
    }

    @AfterEach
    void close() {
        ctx.close();
    }

    @Test
    void aNanInAGradientStopsTheStepNamingItAndLeavesTheParametersAsTheyWere() {
        try (NestedLinear a = first.build(ctx); NestedLinear b = second.build(ctx);
                Matrix xa = ctx.matrix(4, 10, first.inputs(SEED + 2, 4)); Matrix dya = ctx.matrix(4, 12, first.upstream(SEED + 3, 4));
                Matrix xb = ctx.matrix(4, 14, second.inputs(SEED + 4, 4)); Matrix dyb = ctx.matrix(4, 9, second.upstream(SEED + 5, 4));
                Matrix poisoned = ctx.filled(4, 9, Float.NaN);
                Trainer trainer = Trainer.builder(ctx).layer("mlp.up", a).layer("mlp.down", b).build()) {
            List<TrainingBatch> good = List.of(TrainingBatch.upstream(a, xa, dya), TrainingBatch.upstream(b, xb, dyb));
            trainer.step(good);
            trainer.step(good);
            float[][] before = {a.innerA().toArray(), a.innerB().toArray(), b.innerA().toArray(), b.innerB().toArray()};
            Path beforeState = dir.resolve("before.safetensors");
            trainer.saveState(beforeState);

            NonFiniteTrainingException e = assertThrows(NonFiniteTrainingException.class, () -> trainer.step(
                    List.of(TrainingBatch.upstream(a, xa, dya), TrainingBatch.upstream(b, xb, poisoned))));
            assertEquals(3, e.step());
            assertEquals("mlp.down", e.layer());
            assertTrue(e.getMessage().contains("step 3") && e.getMessage().contains("'mlp.down'")
                    && e.getMessage().contains("gradient of"), e.getMessage());

            assertArrayEquals(before[0], a.innerA().toArray());
            assertArrayEquals(before[1], a.innerB().toArray());
            assertArrayEquals(before[2], b.innerA().toArray());
            assertArrayEquals(before[3], b.innerB().toArray());
            assertEquals(2, trainer.stepsTaken());
            Path afterState = dir.resolve("after.safetensors");
            trainer.saveState(afterState);
            TrainerState s0 = TrainerState.read(beforeState);
            TrainerState s1 = TrainerState.read(afterState);
            for (int i = 0; i < 2; i++) {
                assertArrayEquals(s0.layers().get(i).expAvgA(), s1.layers().get(i).expAvgA(), "moments unchanged");
                assertArrayEquals(s0.layers().get(i).expAvgSqB(), s1.layers().get(i).expAvgSqB(), "moments unchanged");
            }

            assertEquals(3, trainer.step(good).step(), "training goes on from the refused step's number");
        }
    }

    @Test
    void aNonFiniteRegressionLossIsNamedAsTheLoss() {
        try (NestedLinear a = first.build(ctx); Matrix x = ctx.matrix(4, 10, first.inputs(SEED + 2, 4));
                Matrix target = ctx.filled(4, 12, Float.POSITIVE_INFINITY);
                Trainer trainer = Trainer.builder(ctx).layer("q", a).build()) {
            float[] aBefore = a.innerA().toArray();
            NonFiniteTrainingException e = assertThrows(NonFiniteTrainingException.class,
                    () -> trainer.regressionStep(x, target));
            assertEquals(1, e.step());
            assertTrue(e.getMessage().contains("loss") && e.getMessage().contains("'q'"), e.getMessage());
            assertArrayEquals(aBefore, a.innerA().toArray());
            assertEquals(0, trainer.stepsTaken());
        }
    }
}
