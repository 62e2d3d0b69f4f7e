package io.jnora;

import static org.junit.jupiter.api.Assertions.fail;

import io.jnora.backend.CudaProbe;
import org.junit.jupiter.api.Assumptions;

/**
 * The rule for every GPU test: skipped with the reason printed where CUDA is unavailable, failed
 * instead when JNORA_REQUIRE_GPU=1 (gpu/check.sh sets it, so a GPU run cannot pass by skipping).
 */
public final class GpuTests {
    private GpuTests() {}

    public static void requireCuda(String testName) {
        CudaProbe.Result probe = CudaProbe.probe();
        if (!probe.available()) {
            if ("1".equals(System.getenv("JNORA_REQUIRE_GPU"))) {
                fail("JNORA_REQUIRE_GPU=1 but CUDA is unavailable: " + probe.reason());
            }
            System.out.println(testName + " skipped: " + probe.reason());
        }
        Assumptions.assumeTrue(probe.available(), "CUDA unavailable: " + probe.reason());
    }
}
