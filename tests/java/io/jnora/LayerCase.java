package io.jnora;

import io.jnora.synth.SyntheticLayer;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A test case: a layer shape and a batch size, drawn with a fresh seed per run (printed on failure
 * through toString) so that every run checks new inputs (SPEC §4); {@code -Djnora.case.seed=N} gives
 * every case the seed N, to replay a failure.
 */
record LayerCase(int rows, int in, int out, int r, int rIn, float scale, long seed) {
    /** The odd shapes of SPEC §4: T in {1, 3, 17, 128, 1000}, n and m not multiples of 8, r_in = r and r_in = 1. */
    static List<LayerCase> oddShapes() {
        return List.of(
                of(1, 37, 29, 8, 3, 1f),
                of(3, 130, 67, 16, 16, 0.5f),  // r_in = r
                of(17, 257, 200, 33, 1, 2f),   // r_in = 1
                of(128, 96, 131, 64, 16, 1f),
                of(1000, 75, 53, 12, 5, 0.25f),
                of(5, 1, 1, 1, 1, 1f));        // the smallest layer
    }

    static LayerCase of(int rows, int in, int out, int r, int rIn, float scale) {
        return new LayerCase(rows, in, out, r, rIn, scale, freshSeed());
    }

    /** A fresh seed, or the one {@code -Djnora.case.seed} replays. */
    static long freshSeed() {
        return Long.getLong("jnora.case.seed", ThreadLocalRandom.current().nextLong());
    }

    SyntheticLayer layer() {
        return SyntheticLayer.random(seed, out, in, r, rIn, scale);
    }

    float[] inputs(SyntheticLayer layer) {
        return layer.inputs(seed + 1, rows);
    }

    float[] upstream(SyntheticLayer layer) {
        return layer.upstream(seed + 2, rows);
    }

    @Override
    public String toString() {
        return "T=" + rows + " n=" + in + " m=" + out + " r=" + r + " r_in=" + rIn + " s=" + scale + " seed=" + seed;
    }
}
