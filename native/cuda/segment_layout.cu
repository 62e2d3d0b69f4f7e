// The segment layout of the SGMV kernels (native/cuda/segmented_lowrank.cu) made on the device from
// the rows' adapter indices in device memory: the batch's rows grouped by adapter and cut into
// tiles of at most JNORA_SEGMENT_ROWS rows. jnora_segment_layout (native/core/segments.cpp) is the
// host reference; the tiles are the same, the rows within one adapter's segment are in whatever
// order the atomics give (each row's result depends only on its own X row and adapter, so the
// kernels' output is the same bits in any order).
//
// Made on the device, the grouping is part of the launch sequence a CUDA graph records: a replay
// follows new per-row indices uploaded before it (the persistent-mapping pattern of vLLM/Punica),
// and the host does no per-batch sort and no loop over adapters.
//
// One block: counts per adapter (atomics), a block-wide exclusive scan of the counts and of the
// tiles they make, the tiles written by the thread that owns the adapter, then each row placed at
// its adapter's cursor. Cost at T = 4096 rows and 128 adapters: two passes over 16 KiB of indices and
// one over the adapters, a few microseconds; the launch dominates.
#include "cuda_check.cuh"
#include "kernels.cuh"

#include <climits>

namespace jnora {
namespace {

constexpr int kThreads = 256;

__global__ void segment_layout_kernel(int rows, const int* __restrict__ row_adapter, int adapters,
                                      int* __restrict__ row_order, int* __restrict__ tiles,
                                      int* __restrict__ counts, int* __restrict__ cursors) {
    __shared__ int row_base[kThreads];   // per thread: rows of the adapters before its chunk
    __shared__ int tile_base[kThreads];  // per thread: tiles of the adapters before its chunk
    const int tid = threadIdx.x;
    for (int a = tid; a < adapters; a += kThreads) counts[a] = 0;
    __syncthreads();
    for (int t = tid; t < rows; t += kThreads) {
        const int a = row_adapter[t];
        if (a >= 0 && a < adapters) atomicAdd(&counts[a], 1);
    }
    __syncthreads();
    // Thread i owns the adapters [lo, hi): a contiguous chunk, so the scan is over kThreads sums.
    const int chunk = (adapters + kThreads - 1) / kThreads;
    const int lo = min(adapters, tid * chunk);
    const int hi = min(adapters, lo + chunk);
    int row_sum = 0;
    int tile_sum = 0;
    for (int a = lo; a < hi; ++a) {
        row_sum += counts[a];
        tile_sum += (counts[a] + JNORA_SEGMENT_ROWS - 1) / JNORA_SEGMENT_ROWS;
    }
    row_base[tid] = row_sum;
    tile_base[tid] = tile_sum;
    __syncthreads();
    if (tid == 0) {  // 256 sums: a serial scan is shorter than the barriers of a parallel one
        int rows_before = 0;
        int tiles_before = 0;
        for (int i = 0; i < kThreads; ++i) {
            const int r = row_base[i];
            const int k = tile_base[i];
            row_base[i] = rows_before;
            tile_base[i] = tiles_before;
            rows_before += r;
            tiles_before += k;
        }
        tiles[0] = tiles_before;
    }
    __syncthreads();
    int first = row_base[tid];
    int tile = tile_base[tid];
    for (int a = lo; a < hi; ++a) {
        const int count = counts[a];
        cursors[a] = first;
        for (int begin = 0; begin < count; begin += JNORA_SEGMENT_ROWS) {
            int* out = tiles + 1 + 3 * tile++;
            out[0] = a;
            out[1] = first + begin;
            out[2] = min(JNORA_SEGMENT_ROWS, count - begin);
        }
        first += count;
    }
    __syncthreads();
    for (int t = tid; t < rows; t += kThreads) {
        const int a = row_adapter[t];
        if (a >= 0 && a < adapters) row_order[atomicAdd(&cursors[a], 1)] = t;
    }
}

}  // namespace
}  // namespace jnora

extern "C" {

int jnora_segment_layout_workspace_ints(int adapters) {
    if (adapters <= 0) return 0;
    return adapters > INT_MAX / 2 ? -1 : 2 * adapters;  // -1: no workspace can be that large
}

jnora_status_t jnora_segment_layout_device(jnora_handle_t handle, int rows, const int* row_adapter, int adapters,
                                           int* row_order, int* tiles, int max_tiles, int* workspace) {
    const char* name = "jnora_segment_layout_device";
    JNORA_REQUIRE(handle != nullptr, "%s: handle is NULL", name);
    JNORA_REQUIRE(rows >= 0 && adapters >= 0 && adapters <= INT_MAX / 2 &&
                      max_tiles >= jnora_segment_tiles_capacity(rows, adapters),
                  "%s: rows=%d adapters=%d max_tiles=%d (at least %d needed)", name, rows, adapters, max_tiles,
                  jnora_segment_tiles_capacity(rows, adapters));
    JNORA_REQUIRE(tiles != nullptr, "%s: tiles is NULL", name);
    if (rows == 0 || adapters == 0) {
        // Still written on the stream, so a graph recorded for an empty batch leaves tiles[0] = 0.
        JNORA_CUDA_CHECK(cudaMemsetAsync(tiles, 0, sizeof(int), handle->stream));
        return JNORA_STATUS_SUCCESS;
    }
    JNORA_REQUIRE(row_adapter && row_order && workspace, "%s: NULL pointer", name);
    jnora::segment_layout_kernel<<<1, jnora::kThreads, 0, handle->stream>>>(rows, row_adapter, adapters, row_order,
                                                                            tiles, workspace, workspace + adapters);
    JNORA_LAUNCH_CHECK(segment_layout_kernel);
    return JNORA_STATUS_SUCCESS;
}

}  // extern "C"
