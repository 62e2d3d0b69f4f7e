// The stand-in runtime of run.sh: device memory is host memory, a launch runs every block in turn and
// every thread of a block as a fiber (ucontext) until it finishes or waits at a barrier.
#include <ucontext.h>
#include <cstdint>
#include <map>
#include <vector>
#include "cuda_runtime.h"

uint3 blockIdx, threadIdx;
dim3 blockDim, gridDim;
void* emu_dynamic_shared;
int emu_last_error;
float emu_shfl_slots[1024];

static std::map<uintptr_t, size_t> allocations;
cudaError_t emu_malloc(void** p, size_t n) {
    *p = std::malloc(n ? n : 1);
    std::memset(*p, 0xA5, n);  // garbage, as fresh device memory
    allocations[(uintptr_t)*p] = n;
    return 0;
}
cudaError_t emu_free(void* p) {
    if (!p) return 0;
    if (!allocations.erase((uintptr_t)p)) { std::fprintf(stderr, "EMU: cudaFree of unknown %p\n", p); std::abort(); }
    std::free(p);
    return 0;
}

namespace {
enum State { Runnable, AtWarp, AtBlock, Done };
struct Fiber { ucontext_t ctx; State state; uint3 tid; std::vector<char> stack; };
ucontext_t scheduler;
std::vector<Fiber> fibers;
Fiber* current;
emu::Kernel* kernel;
constexpr size_t kStack = 64 * 1024;

void entry() {
    kernel->run();
    current->state = Done;
}  // returns to uc_link (the scheduler)

void yield(State s) {
    current->state = s;
    swapcontext(&current->ctx, &scheduler);
}
}  // namespace

void emu_warp_barrier() { yield(AtWarp); }
void emu_block_barrier() { yield(AtBlock); }

void emu::launch(const dim3& grid, const dim3& block, size_t shared, Kernel& k) {
    unsigned threads = block.x * block.y * block.z;
    if (threads == 0 || threads > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535 || shared > 48 * 1024) {
        std::fprintf(stderr, "EMU: bad launch grid (%u,%u,%u) block (%u,%u,%u) shared %zu\n", grid.x, grid.y, grid.z, block.x, block.y, block.z, shared);
        emu_last_error = cudaErrorInvalidConfiguration;
        return;
    }
    kernel = &k;
    gridDim = grid;
    blockDim = block;
    fibers.resize(threads);
    for (auto& f : fibers) if (f.stack.size() != kStack) f.stack.resize(kStack);
    for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx) {
        void* dyn = shared ? std::malloc(shared) : nullptr;
        if (dyn) std::memset(dyn, 0xA5, shared);
        emu_dynamic_shared = dyn;
        for (unsigned i = 0; i < threads; ++i) {
            Fiber& f = fibers[i];
            f.tid = {i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
            getcontext(&f.ctx);
            f.ctx.uc_stack.ss_sp = f.stack.data();
            f.ctx.uc_stack.ss_size = kStack;
            f.ctx.uc_link = &scheduler;
            makecontext(&f.ctx, entry, 0);
            f.state = Runnable;
        }
        blockIdx = {bx, by, bz};
        for (;;) {
            for (auto& f : fibers) {
                if (f.state != Runnable) continue;
                current = &f;
                threadIdx = f.tid;
                swapcontext(&scheduler, &f.ctx);
            }
            bool all_done = true, released = false;
            for (auto& f : fibers) all_done = all_done && f.state == Done;
            if (all_done) break;
            for (unsigned w = 0; w * 32 < threads; ++w) {  // warp barriers: every live lane there
                unsigned lo = w * 32, hi = std::min(threads, lo + 32);
                bool any = false, all = true, exited = false;
                for (unsigned i = lo; i < hi; ++i) {
                    any = any || fibers[i].state == AtWarp;
                    all = all && (fibers[i].state == AtWarp || fibers[i].state == Done);
                    exited = exited || fibers[i].state == Done;
                }
                if (any && all) {
                    if (exited || hi - lo != 32) { std::fprintf(stderr, "EMU: shuffle with exited/missing lanes (block %u,%u,%u warp %u)\n", bx, by, bz, w); std::abort(); }
                    for (unsigned i = lo; i < hi; ++i) fibers[i].state = Runnable;
                    released = true;
                }
            }
            if (released) continue;
            bool all_block = true, some_done = false;
            for (auto& f : fibers) { all_block = all_block && (f.state == AtBlock || f.state == Done); some_done = some_done || f.state == Done; }
            if (all_block) {
                if (some_done) { std::fprintf(stderr, "EMU: __syncthreads with exited threads (block %u,%u,%u)\n", bx, by, bz); }
                for (auto& f : fibers) if (f.state == AtBlock) f.state = Runnable;
                continue;
            }
            std::fprintf(stderr, "EMU: deadlock (threads at different barriers) in block %u,%u,%u\n", bx, by, bz);
            std::abort();
        }
        std::free(dyn);
    }
}
