package io.jnora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.backend.CudaProbe;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** The command line's contract (SPEC §6): exit 0 / 2 / 1, one clear line on standard error. */
class CliTest {


    @Test
    void infoSaysWhichBackendAndWhy() {
        CliRun r = CliRun.of("info");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("backend: "), r.out());
        assertTrue(r.out().contains("requested auto"), r.out());
    }

    @Test
    void syntheticDemoPrintsItsTableWithSmallErrors() {
        CliRun r = CliRun.of("demo", "--synthetic", "--backend", "cpu", "--rows", "9", "--in", "40", "--out", "33", "--rank", "8", "--inner-rank", "2");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("forward effective") && r.out().contains("backward"), r.out());
        assertTrue(r.out().contains("dX 9×40"), r.out());
    }

    @Test
    void benchPrintsTheRatioToTheBaseGemm() {
        CliRun r = CliRun.of("bench", "--backend", "cpu", "--rows", "8", "--in", "32", "--out", "32", "--rank", "8",
                "--inner-rank", "2", "--warmup", "1", "--iterations", "3");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("base GEMM alone") && r.out().contains("× base"), r.out());
    }

    @Test
    void benchRunsAHalfPrecisionLayer() {
        CliRun r = CliRun.of("bench", "--backend", "cpu", "--precision", "bfloat16", "--rows", "3", "--in", "40", "--out",
                "24", "--rank", "8", "--inner-rank", "2", "--warmup", "1", "--iterations", "2");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("BFLOAT16") && r.out().contains("× floor"), r.out());
        assertEquals(2, CliRun.of("bench", "--precision", "float8").status());
    }

    @Test
    void serveBenchPrintsARowPerBatchAndAdapterCount() {
        CliRun r = CliRun.of("bench", "--suite", "serve", "--backend", "cpu", "--serve-width", "96", "--serve-rows",
                "1,17", "--serve-adapters", "1,5", "--inner-rank", "4", "--warmup", "1", "--iterations", "2");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("grouped / single"), r.out());
        long rows = r.out().lines().filter(l -> l.matches("\\s*(1|17)\\s+(1|5)\\s+.*")).count();
        assertEquals(4, rows, r.out());
        assertEquals(2, CliRun.of("bench", "--suite", "serve", "--serve-adapters", "0").status());
        CliRun half = CliRun.of("bench", "--suite", "serve", "--backend", "cpu", "--precision", "bfloat16",
                "--serve-width", "96", "--serve-rows", "17", "--serve-adapters", "5", "--inner-rank", "4", "--warmup",
                "1", "--iterations", "2");
        assertEquals(0, half.status(), half.err());
        assertTrue(half.out().contains("BFLOAT16"), half.out());
        assertEquals(1, half.out().lines().filter(l -> l.matches("\\s*17\\s+5\\s+.*")).count(), half.out());
    }

    @Test
    void anUnknownCommandIsBadUsage() {
        assertEquals(2, CliRun.of("frobnicate").status());
    }

    @Test
    void anInvalidRankIsBadInputWithOneLine() {
        CliRun r = CliRun.of("demo", "--synthetic", "--backend", "cpu", "--rank", "8", "--inner-rank", "9", "--rows", "2", "--in", "16", "--out", "16");
        assertEquals(2, r.status());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("r_in = 9"), r.err());
    }

    @Test
    void cudaWhereThereIsNoneIsBadInput() {
        Assumptions.assumeFalse(CudaProbe.probe().available(), "a CUDA device is present here");
        CliRun r = CliRun.of("info", "--backend", "cuda");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("unavailable"), r.err());
    }
}
