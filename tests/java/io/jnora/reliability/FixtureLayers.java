package io.jnora.reliability;

import io.jnora.adapter.AdapterLayer;
import java.util.SplittableRandom;

/** Small deterministic nested layers for the reliability tests. */
final class FixtureLayers {
    private FixtureLayers() {}

    static float[] ramp(int count, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] v = new float[count];
        for (int i = 0; i < count; i++) {
            v[i] = (float) (rng.nextDouble() - 0.5);
        }
        return v;
    }

    static AdapterLayer layer(String name, int m, int n, int r, int rIn, long seed) {
        return new AdapterLayer(name, m, n, r, rIn, rIn, "lora", 1f, "none", "zero", "us", "exact",
                ramp(r * n, seed), ramp(m * r, seed + 1), ramp(rIn * r, seed + 2), ramp(r * rIn, seed + 3), null, null);
    }
}
