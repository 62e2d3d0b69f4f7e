package io.jnora.serving;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jnora.Backend;
import io.jnora.GpuTests;
import io.jnora.JnoraException;
import io.jnora.Matrix;
import io.jnora.NoraContext;
import io.jnora.reference.Float64Reference;
import io.jnora.serving.AdapterRegistryTest.Lora;
import io.jnora.synth.SyntheticLayer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The registry as a server uses it (SPEC §2.9): a hundred adapters of ranks 1 to 64, ids that never
 * come back, many threads on one registry and on several registries of one context, and the
 * context's close. Each batch is compared with applying every row's adapter on its own in float64.
 */
class AdapterRegistryServingTest {
    private static final long SEED = ThreadLocalRandom.current().nextLong();

    /**
     * 128 slots, 100 adapters of ranks 1..64 (64 included), m = 72 and n = 80 so every rank fits; T =
     * 1 and 3 (row at a time with split-K on CUDA), 17, 128 and 1000 (segment-grouped, more tiles
     * than the grid's blocks at 1000) with about one row in eight naming none.
     */
    private static void manyAdaptersOfEveryRank(Backend backend) {
        int m = 72;
        int n = 80;
        SplittableRandom rng = new SplittableRandom(SEED);
        SyntheticLayer base = SyntheticLayer.random(SEED, m, n, 4, 2, 1f);
        Lora[] adapters = new Lora[100];
        try (NoraContext ctx = NoraContext.create(backend);
                AdapterRegistry registry = new AdapterRegistry(ctx, base.baseWeight, m, n, 128, 1L << 26)) {
            int[] ids = new int[adapters.length];
            for (int i = 0; i < adapters.length; i++) {
                int rank = i == 0 ? 64 : 1 + rng.nextInt(64);
                adapters[i] = AdapterRegistryTest.lora(rng, rank, m, n);
                ids[i] = registry.add("a" + i, adapters[i].a(), adapters[i].b(), rank, adapters[i].scale());
            }
            for (int rows : new int[] {1, 3, 17, 128, 1000}) {
                int[] which = new int[rows];
                int[] rowIds = new int[rows];
                for (int t = 0; t < rows; t++) {
                    which[t] = rng.nextInt(8) == 0 ? -1 : rng.nextInt(adapters.length);
                    rowIds[t] = which[t] < 0 ? -1 : ids[which[t]];
                }
                float[] x = base.inputs(SEED + rows, rows);
                double[] want = AdapterRegistryTest.reference(x, rows, m, n, base.baseWeight, adapters, which);
                try (Matrix xm = ctx.matrix(rows, n, x); Matrix y = ctx.filled(rows, m, Float.NaN)) {
                    registry.apply(xm, rowIds, y);
                    double err = Float64Reference.relativeFrobeniusError(y.toArray(), want);
                    assertTrue(err <= 1e-5, backend + " T = " + rows + ": " + err + " (seed " + SEED + ")");
                }
            }
        }
    }

    @Test
    void aHundredAdaptersOfRanksOneToSixtyFourOnTheCpu() {
        manyAdaptersOfEveryRank(Backend.CPU);
    }

    @Test
    void aHundredAdaptersOfRanksOneToSixtyFourOnCuda() {
        GpuTests.requireCuda("AdapterRegistryServingTest");
        manyAdaptersOfEveryRank(Backend.CUDA);
    }

    /**
     * Rows staged for an adapter that is then removed get no term, also once another adapter takes
     * its slot; its id is refused from then on, and the newcomer gets a new id.
     */
    private static void removedAdaptersNeverReachAnotherTenant(Backend backend, int rows) {
        int m = 24;
        int n = 40;
        SplittableRandom rng = new SplittableRandom(SEED);
        SyntheticLayer base = SyntheticLayer.random(SEED, m, n, 4, 2, 1f);
        Lora first = AdapterRegistryTest.lora(rng, 5, m, n);
        Lora other = AdapterRegistryTest.lora(rng, 3, m, n);
        Lora newcomer = AdapterRegistryTest.lora(rng, 5, m, n);
        try (NoraContext ctx = NoraContext.create(backend);
                AdapterRegistry registry = new AdapterRegistry(ctx, base.baseWeight, m, n, 2, 1L << 20)) {
            int firstId = registry.add("first", first.a(), first.b(), 5, first.scale());
            int otherId = registry.add("other", other.a(), other.b(), 3, other.scale());
            int[] rowIds = new int[rows];
            int[] which = new int[rows];
            for (int t = 0; t < rows; t++) {
                which[t] = t % 3 == 2 ? -1 : t % 3;
                rowIds[t] = which[t] < 0 ? -1 : (which[t] == 0 ? firstId : otherId);
            }
            float[] x = base.inputs(SEED + 1, rows);
            try (Matrix xm = ctx.matrix(rows, n, x); Matrix y = ctx.filled(rows, m, Float.NaN)) {
                registry.stageRows(rowIds);
                registry.remove("first");
                int newId = registry.add("newcomer", newcomer.a(), newcomer.b(), 5, newcomer.scale());
                assertTrue(newId != firstId, "ids are not reused: " + newId);
                registry.applyStaged(xm, y);
                int[] without = which.clone();
                for (int t = 0; t < rows; t++) {
                    without[t] = which[t] == 0 ? -1 : which[t];
                }
                double err = Float64Reference.relativeFrobeniusError(y.toArray(), AdapterRegistryTest.reference(x, rows, m,
                        n, base.baseWeight, new Lora[] {first, other}, without));
                assertTrue(err <= 1e-5, backend + " rows staged for a removed adapter: " + err);
                JnoraException e = assertThrows(JnoraException.class, () -> registry.stageRows(rowIds));
                assertTrue(e.getMessage().contains("id " + firstId + ", which is no longer resident"), e.getMessage());
            }
        }
    }

    @Test
    void removedAdaptersNeverReachAnotherTenantOnTheCpu() {
        removedAdaptersNeverReachAnotherTenant(Backend.CPU, 5);
        removedAdaptersNeverReachAnotherTenant(Backend.CPU, 40);
    }

    /** 5 rows run row at a time on CUDA, 40 segment-grouped (the layout is staged again on remove). */
    @Test
    void removedAdaptersNeverReachAnotherTenantOnCuda() {
        GpuTests.requireCuda("AdapterRegistryServingTest");
        removedAdaptersNeverReachAnotherTenant(Backend.CUDA, 5);
        removedAdaptersNeverReachAnotherTenant(Backend.CUDA, 40);
    }

    /**
     * Ids are never reused, so reuse is spread over the slots: with one adapter resident in a
     * registry of 4 slots, 9 add/remove cycles go round slots 1, 2 and 3 (ids up to 11), rather than
     * wearing out one slot (ids 1, 5, ..., 33), which would exhaust its ids 4× sooner.
     */
    @Test
    void addsGoRoundTheSlotsSoIdsLast() {
        int m = 8;
        int n = 6;
        SplittableRandom rng = new SplittableRandom(SEED);
        SyntheticLayer base = SyntheticLayer.random(SEED, m, n, 2, 1, 1f);
        Lora l = AdapterRegistryTest.lora(rng, 2, m, n);
        try (NoraContext ctx = NoraContext.create(Backend.CPU);
                AdapterRegistry registry = new AdapterRegistry(ctx, base.baseWeight, m, n, 4, 1L << 20)) {
            assertEquals(0, registry.add("resident", l.a(), l.b(), 2, l.scale()));
            int maxId = 0;
            java.util.Set<Integer> ids = new java.util.HashSet<>();
            for (int k = 0; k < 9; k++) {
                int id = registry.add("churn" + k, l.a(), l.b(), 2, l.scale());
                assertTrue(ids.add(id), "id " + id + " handed out twice");
                maxId = Math.max(maxId, id);
                registry.remove("churn" + k);
            }
            assertEquals(11, maxId, "slots 1, 2, 3 three times each: ids " + ids);
        }
    }

    /** The adapter a churning thread has resident now, published to the workers. */
    private record Churned(int id, Lora lora) {}

    /**
     * Four threads submit batches over two registries of one context (two layers of a model, sharing
     * the context's stream and scratch) while a fifth adds and removes adapters in the first until
     * the workers finish. Rows name the stable adapters, none, or the churned adapter of the moment:
     * every batch equals its float64 reference, or (churned adapter removed between choosing and
     * staging) is refused as no longer resident. Closing returns every matrix and device allocation
     * (the allocation count is the CUDA backend's; the CPU backend has none of its own and reports 0,
     * so there the open-matrix count is the leak check).
     */
    private static void threadsOverTwoRegistriesOfOneContext(Backend backend) throws Exception {
        int m = 50;
        int[] widths = {70, 33};
        SplittableRandom rng = new SplittableRandom(SEED);
        SyntheticLayer[] bases = {SyntheticLayer.random(SEED, m, widths[0], 4, 2, 1f),
                SyntheticLayer.random(SEED + 1, m, widths[1], 4, 2, 1f)};
        try (NoraContext ctx = NoraContext.create(backend)) {
            int matricesBefore = ctx.openMatrices();
            long allocationsBefore = ctx.computeBackend().liveAllocations();
            AdapterRegistry[] registries = new AdapterRegistry[2];
            Lora[][] stable = new Lora[2][2];
            int[][] stableIds = new int[2][2];
            for (int g = 0; g < 2; g++) {
                registries[g] = new AdapterRegistry(ctx, bases[g].baseWeight, m, widths[g], 4, 1L << 22);
                for (int i = 0; i < 2; i++) {
                    stable[g][i] = AdapterRegistryTest.lora(rng, 3 + 6 * i, m, widths[g]);
                    stableIds[g][i] = registries[g].add("s" + i, stable[g][i].a(), stable[g][i].b(), stable[g][i].rank(),
                            stable[g][i].scale());
                }
            }
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Churned> current = new AtomicReference<>();
            AtomicInteger churnedRowsServed = new AtomicInteger();
            AtomicInteger refusedBatches = new AtomicInteger();
            ExecutorService pool = Executors.newFixedThreadPool(5);
            try {
                Future<Integer> churn = pool.submit(() -> {
                    SplittableRandom r = new SplittableRandom(SEED + 7);
                    int k = 0;
                    for (; !stop.get(); k++) {
                        Lora l = AdapterRegistryTest.lora(r, 1 + r.nextInt(12), m, widths[0]);
                        int id = registries[0].add("churn" + k, l.a(), l.b(), l.rank(), l.scale());
                        current.set(new Churned(id, l));
                        Thread.sleep(1);  // resident long enough for some batches to use it
                        current.set(null);
                        registries[0].remove("churn" + k);
                    }
                    return k;
                });
                List<Future<?>> workers = new ArrayList<>();
                for (int w = 0; w < 4; w++) {
                    final int worker = w;
                    workers.add(pool.submit(() -> {
                        SplittableRandom r = new SplittableRandom(SEED + worker);
                        for (int batch = 0; batch < 40; batch++) {
                            int g = (worker + batch) % 2;
                            int n = widths[g];
                            int rows = 1 + r.nextInt(r.nextBoolean() ? 9 : 40);  // decode and prefill sizes
                            float[] x = bases[g].inputs(r.nextLong(), rows);
                            Churned churned = g == 0 ? current.get() : null;
                            Lora[] adapters = {stable[g][0], stable[g][1], churned == null ? null : churned.lora()};
                            int[] which = new int[rows];
                            int[] ids = new int[rows];
                            for (int t = 0; t < rows; t++) {
                                which[t] = r.nextInt(churned == null ? 3 : 4) - 1;
                                ids[t] = which[t] < 0 ? -1 : (which[t] == 2 ? churned.id() : stableIds[g][which[t]]);
                            }
                            float[] got;
                            try {
                                got = registries[g].apply(x, rows, ids);
                            } catch (JnoraException e) {
                                if (churned == null || !e.getMessage().contains("no longer resident")) {
                                    throw e;
                                }
                                refusedBatches.incrementAndGet();
                                continue;
                            }
                            double err = Float64Reference.relativeFrobeniusError(got, AdapterRegistryTest.reference(x,
                                    rows, m, n, bases[g].baseWeight, adapters, which));
                            if (err > 1e-5) {
                                throw new AssertionError(backend + " worker " + worker + " batch " + batch + " (registry "
                                        + g + ", " + rows + " rows): " + err + " (seed " + SEED + ")");
                            }
                            for (int t = 0; t < rows; t++) {
                                churnedRowsServed.addAndGet(which[t] == 2 ? 1 : 0);
                            }
                        }
                        return null;
                    }));
                }
                for (Future<?> f : workers) {
                    f.get(120, TimeUnit.SECONDS);
                }
                stop.set(true);
                assertTrue(churn.get(60, TimeUnit.SECONDS) > 0, "the churn ran");
            } finally {
                stop.set(true);
                pool.shutdownNow();
            }
            System.out.println("AdapterRegistryServingTest " + backend + ": " + churnedRowsServed.get()
                    + " rows served by churned adapters, " + refusedBatches.get() + " batches refused (removed meanwhile)");
            assertTrue(churnedRowsServed.get() > 0, "some batches reached an adapter added while serving");
            for (AdapterRegistry registry : registries) {
                registry.close();
            }
            assertEquals(matricesBefore, ctx.openMatrices(), "every matrix the registries made is freed");
            assertEquals(allocationsBefore, ctx.computeBackend().liveAllocations(),
                    "every device allocation the registries made is freed");
        }
    }

    @Test
    void threadsOverTwoRegistriesOfOneContextOnTheCpu() throws Exception {
        threadsOverTwoRegistriesOfOneContext(Backend.CPU);
    }

    @Test
    void threadsOverTwoRegistriesOfOneContextOnCuda() throws Exception {
        GpuTests.requireCuda("AdapterRegistryServingTest");
        threadsOverTwoRegistriesOfOneContext(Backend.CUDA);
    }

    /**
     * A registry call, a replay and a recording from another thread wait while the context's
     * submission lock is held (by a thread submitting its own work), and run once it is released.
     */
    @Test
    void registryCallsReplaysAndRecordingsWaitForTheSubmissionLock() throws Exception {
        int m = 20;
        int n = 30;
        SplittableRandom rng = new SplittableRandom(SEED);
        SyntheticLayer base = SyntheticLayer.random(SEED, m, n, 4, 2, 1f);
        Lora l = AdapterRegistryTest.lora(rng, 4, m, n);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (NoraContext ctx = NoraContext.create(Backend.CPU);
                AdapterRegistry registry = new AdapterRegistry(ctx, base.baseWeight, m, n, 2, 1L << 20);
                Matrix x = ctx.matrix(3, n, base.inputs(SEED, 3)); Matrix y = ctx.zeros(3, m)) {
            registry.add("a", l.a(), l.b(), 4, l.scale());
            registry.apply(x, new int[] {0, -1, 0}, y);
            // A step of a plain GEMM: its replay takes no registry's lock of its own, only the replay's.
            try (Matrix w = ctx.matrix(m, n, base.baseWeight);
                    io.jnora.backend.CapturedWork gemm = ctx.capture(() -> ctx.linear(x, w, y))) {
                List<io.jnora.backend.CapturedWork> recorded = new java.util.concurrent.CopyOnWriteArrayList<>();
                List<Runnable> calls = List.of(() -> registry.apply(base.inputs(SEED, 3), 3, new int[] {0, 0, -1}),
                        gemm::replay, () -> recorded.add(ctx.capture(() -> ctx.linear(x, w, y))));
                for (Runnable call : calls) {
                    Future<?> done;
                    synchronized (ctx.submissionLock()) {
                        done = pool.submit(call);
                        Thread.sleep(200);
                        assertTrue(!done.isDone(), "a submitter ran while another thread held the submission lock");
                    }
                    done.get(30, TimeUnit.SECONDS);
                }
                assertEquals(1, recorded.size());
                recorded.get(0).close();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * The context closed while threads serve through its registry: it waits for the batch in
     * flight, and every later call is refused as closed; nothing else goes wrong (no freed memory
     * read, no index errors), and the threads all stop.
     */
    private static void closingTheContextWhileThreadsServe(Backend backend) throws Exception {
        int m = 24;
        int n = 40;
        SplittableRandom rng = new SplittableRandom(SEED);
        SyntheticLayer base = SyntheticLayer.random(SEED, m, n, 4, 2, 1f);
        Lora l = AdapterRegistryTest.lora(rng, 6, m, n);
        NoraContext ctx = NoraContext.create(backend);
        AdapterRegistry registry = new AdapterRegistry(ctx, base.baseWeight, m, n, 2, 1L << 20);
        int id = registry.add("a", l.a(), l.b(), 6, l.scale());
        AtomicInteger served = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            List<Future<String>> workers = new ArrayList<>();
            for (int w = 0; w < 3; w++) {
                final int worker = w;
                workers.add(pool.submit(() -> {
                    SplittableRandom r = new SplittableRandom(SEED + worker);
                    while (true) {
                        int rows = 1 + r.nextInt(30);
                        int[] ids = new int[rows];
                        for (int t = 0; t < rows; t++) {
                            ids[t] = r.nextBoolean() ? id : -1;
                        }
                        try {
                            registry.apply(base.inputs(r.nextLong(), rows), rows, ids);
                            served.incrementAndGet();
                        } catch (IllegalStateException e) {
                            return e.getMessage();
                        }
                    }
                }));
            }
            while (served.get() < 30) {
                Thread.sleep(1);
            }
            ctx.close();
            for (Future<String> f : workers) {
                String refusal = f.get(30, TimeUnit.SECONDS);
                assertTrue(refusal.contains("closed"), refusal);
            }
        } finally {
            pool.shutdownNow();
            ctx.close();
        }
    }

    @Test
    void closingTheContextWhileThreadsServeOnTheCpu() throws Exception {
        closingTheContextWhileThreadsServe(Backend.CPU);
    }

    @Test
    void closingTheContextWhileThreadsServeOnCuda() throws Exception {
        GpuTests.requireCuda("AdapterRegistryServingTest");
        closingTheContextWhileThreadsServe(Backend.CUDA);
    }

    /** Closing the context closes a registry left open: its tables go too, and it refuses work after. */
    private static void closingTheContextClosesItsRegistries(Backend backend) {
        int m = 20;
        int n = 30;
        SplittableRandom rng = new SplittableRandom(SEED);
        SyntheticLayer base = SyntheticLayer.random(SEED, m, n, 4, 2, 1f);
        Lora l = AdapterRegistryTest.lora(rng, 4, m, n);
        NoraContext ctx = NoraContext.create(backend);
        io.jnora.backend.ComputeBackend computeBackend = ctx.computeBackend();
        AdapterRegistry registry = new AdapterRegistry(ctx, base.baseWeight, m, n, 2, 1L << 20);
        try {
            int id = registry.add("a", l.a(), l.b(), 4, l.scale());
            registry.apply(base.inputs(SEED, 20), 20, new int[20]);  // every row: id 0, the first adapter
            assertEquals(0, id);
        } finally {
            ctx.close();
        }
        assertEquals(0, ctx.openMatrices());
        assertEquals(0, registry.bytesInUse(), "closed by the context: its adapters were removed");
        assertEquals(List.of(), registry.names());
        assertEquals(0, computeBackend.liveAllocations(), "the backend freed everything, the registry's tables too");
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> registry.apply(base.inputs(SEED, 1), 1, new int[] {0}));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        registry.close();  // again: nothing to do, no error
    }

    @Test
    void closingTheContextClosesItsRegistriesOnTheCpu() {
        closingTheContextClosesItsRegistries(Backend.CPU);
    }

    @Test
    void closingTheContextClosesItsRegistriesOnCuda() {
        GpuTests.requireCuda("AdapterRegistryServingTest");
        closingTheContextClosesItsRegistries(Backend.CUDA);
    }

    /** CUDA's grouped expand stages a row of z in 48 KiB of shared memory: a larger rank is refused at add. */
    @Test
    void ranksBeyondTheGroupedKernelsAreRefusedOnCuda() {
        GpuTests.requireCuda("AdapterRegistryServingTest");
        int m = 2;
        int n = 2;
        int rank = 48 * 1024 / Float.BYTES + 1;
        try (NoraContext ctx = NoraContext.create(Backend.CUDA);
                AdapterRegistry registry = new AdapterRegistry(ctx, new float[m * n], m, n, 1, 1L << 30)) {
            io.jnora.InvalidRankException e = assertThrows(io.jnora.InvalidRankException.class,
                    () -> registry.add("big", new float[rank * n], new float[m * rank], rank, 1f));
            assertTrue(e.getMessage().contains("rank " + rank) && e.getMessage().contains("up to " + (rank - 1)),
                    e.getMessage());
        }
    }
}
