// Several adapters in one batch (SPEC §2.9): each row of X goes through its own adapter's
// effective factors, found through device tables, in two launches for the whole batch:
//
//   grouped shrink   Z[t, 0:r_a] = X[t, :] A_a^T           a = row_adapter[t], r_a = ranks[a]
//   grouped expand   Y[t, :]    += s_a Z[t, 0:r_a] B_a^T
//
// This is the BGMV shape of Punica/vLLM (one row at a time, any mix of adapters and ranks), for
// decode-sized batches; prefill-sized ones go to the segment-grouped (SGMV) kernels of
// segmented_lowrank.cu, which read an adapter's factors once per tile of rows instead of once per
// row. Order: CPU reference, kernels, launchers.
// Check: target/native/jnora_kernel_check (see lowrank_gemm.cu).
//
// Napkin math, decode (T = 16, n = m = 4096, r_in = 16, 16 distinct adapters): each row reads its
// A_a and B_a (2 x 256 KiB) and X/Y rows: ~8 MiB in all, 4 MFLOP; the floor is ~2.5 us of HBM
// bandwidth on an H100, so the launches (~2 x 3 us) dominate, as for any decode-time LoRA.
#include "cuda_check.cuh"
#include "elements.cuh"
#include "kernels.cuh"
#include "warp.cuh"

#include <algorithm>

namespace jnora {

namespace reference {
void grouped_lowrank(int rows, int n, int m, const float* x, const int* row_adapter, int adapters,
                     const float* const* a_ptrs, const float* const* b_ptrs, const int* ranks,
                     const float* scales, float* y) {
    for (int t = 0; t < rows; ++t) {
        int a = row_adapter[t];
        if (a < 0 || a >= adapters) continue;
        int r = ranks[a];
        for (int j = 0; j < m; ++j) {
            double acc = 0.0;
            for (int k = 0; k < r; ++k) {
                double z = 0.0;
                for (int l = 0; l < n; ++l) z += double(x[(long long)t * n + l]) * a_ptrs[a][(long long)k * n + l];
                acc += z * b_ptrs[a][(long long)j * r + k];
            }
            y[(long long)t * m + j] = float(y[(long long)t * m + j] + double(scales[a]) * acc);
        }
    }
}
}  // namespace reference

namespace {

constexpr int kShrinkThreads = 256;  // 8 warps: a warp per output column of the row
constexpr int kExpandThreads = 128;
// Split-K for decode-sized batches: without it T = 1 at r = 16 is 2 blocks on a 132-SM GPU, each warp
// walking all of n alone. Slices are added until the grid has about kTargetBlocks blocks, each slice
// at least kMinSlice long (4 coalesced loads per lane); the choice depends on the shape only, so a
// result is the same on every device.
constexpr long long kTargetBlocks = 256;
constexpr int kMinSlice = 128;
constexpr int kMaxSplits = 32;

// Grid (rows, ceil(max_rank / 8), splits): a block handles 8 output columns k of row t over one
// slice of n, a warp per column, lanes striding over the slice (coalesced reads of X's row and of
// A_a's row k). Columns k >= r_a idle. Slice s writes its partial sum to partial plane s of Z; the
// expand adds the planes in order, so the result does not depend on scheduling (no atomics).
template <typename E>
__global__ void __launch_bounds__(kShrinkThreads)
grouped_shrink_kernel(int n, int slice, const E* __restrict__ x, int ldx, const int* __restrict__ row_adapter,
                      int adapters, const E* const* __restrict__ a_ptrs, const int* __restrict__ ranks,
                      float* __restrict__ z, int ldz, long long plane) {
    const long long t = blockIdx.x;
    const int a = row_adapter[t];
    if (a < 0 || a >= adapters) return;
    const int r = ranks[a];
    const int k = blockIdx.y * (kShrinkThreads / 32) + threadIdx.x / 32;
    if (k >= r) return;
    const int lane = threadIdx.x % 32;
    const int begin = blockIdx.z * slice;
    const int end = min(n, begin + slice);
    const E* xr = x + t * ldx;
    const E* ar = a_ptrs[a] + (long long)k * n;
    float acc = 0.0f;
#pragma unroll 4
    for (int l = begin + lane; l < end; l += 32) acc += to_f(xr[l]) * to_f(ar[l]);
    acc = warp_sum(acc);
    if (lane == 0) z[blockIdx.z * plane + t * ldz + k] = acc;
}

// Grid (rows, ceil(m / 128)): a thread per output j of row t, the row's r_a values of Z (the sum
// of the shrink's `splits` partial planes, added in plane order) staged in shared memory.
template <typename E>
__global__ void __launch_bounds__(kExpandThreads)
grouped_expand_kernel(int m, const float* __restrict__ z, int ldz, int splits, long long plane,
                      const int* __restrict__ row_adapter, int adapters, const E* const* __restrict__ b_ptrs,
                      const int* __restrict__ ranks, const float* __restrict__ scales, E* __restrict__ y, int ldy) {
    extern __shared__ float zrow[];
    const long long t = blockIdx.x;
    const int a = row_adapter[t];
    if (a < 0 || a >= adapters) return;  // uniform across the block: no barrier is skipped by half
    const int r = ranks[a];
    for (int k = threadIdx.x; k < r; k += blockDim.x) {
        float sum = z[t * ldz + k];
        for (int s = 1; s < splits; ++s) sum += z[s * plane + t * ldz + k];
        zrow[k] = sum;
    }
    __syncthreads();
    const int j = blockIdx.y * blockDim.x + threadIdx.x;
    if (j >= m) return;
    const E* br = b_ptrs[a] + (long long)j * r;
    float acc = 0.0f;
    for (int k = 0; k < r; ++k) acc += zrow[k] * to_f(br[k]);
    E* yt = y + t * ldy + j;
    *yt = from_f<E>(to_f(*yt) + scales[a] * acc);  // a half Y is rounded once
}

template <typename E>
jnora_status_t grouped_shrink(const char* name, jnora_handle_t handle, int rows, int n, const E* x, int ldx,
                              const int* row_adapter, int adapters, const E* const* a_ptrs, const int* ranks,
                              int max_rank, int splits, float* z, int ldz) {
    JNORA_REQUIRE(handle != nullptr, "%s: handle is NULL", name);
    JNORA_REQUIRE(rows >= 0 && n >= 1 && adapters >= 0 && max_rank >= 0 && ldx >= n && ldz >= max_rank &&
                      splits >= 1 && splits <= n,
                  "%s: rows=%d n=%d adapters=%d max_rank=%d splits=%d ldx=%d ldz=%d", name, rows, n, adapters,
                  max_rank, splits, ldx, ldz);
    if (rows == 0 || adapters == 0 || max_rank == 0) return JNORA_STATUS_SUCCESS;
    JNORA_REQUIRE(x && row_adapter && a_ptrs && ranks && z, "%s: NULL pointer", name);
    const int per_block = kShrinkThreads / 32;
    const int slice = (n + splits - 1) / splits;
    dim3 grid(rows, (max_rank + per_block - 1) / per_block, splits);  // a slice past n writes zeros
    JNORA_REQUIRE(grid.y <= 65535u && splits <= 65535, "%s: max_rank=%d splits=%d too large", name, max_rank,
                  splits);
    grouped_shrink_kernel<E><<<grid, kShrinkThreads, 0, handle->stream>>>(n, slice, x, ldx, row_adapter, adapters,
                                                                           a_ptrs, ranks, z, ldz, (long long)rows * ldz);
    JNORA_LAUNCH_CHECK(grouped_shrink_kernel);
    return JNORA_STATUS_SUCCESS;
}

template <typename E>
jnora_status_t grouped_expand(const char* name, jnora_handle_t handle, int rows, int m, const float* z, int ldz,
                              int splits, const int* row_adapter, int adapters, const E* const* b_ptrs,
                              const int* ranks, const float* scales, E* y, int ldy) {
    JNORA_REQUIRE(handle != nullptr, "%s: handle is NULL", name);
    JNORA_REQUIRE(rows >= 0 && m >= 1 && adapters >= 0 && ldz >= 1 && ldy >= m && splits >= 1,
                  "%s: rows=%d m=%d adapters=%d ldz=%d splits=%d ldy=%d", name, rows, m, adapters, ldz, splits, ldy);
    if (rows == 0 || adapters == 0) return JNORA_STATUS_SUCCESS;
    JNORA_REQUIRE(z && row_adapter && b_ptrs && ranks && scales && y, "%s: NULL pointer", name);
    JNORA_REQUIRE(ldz <= 12 * 1024, "%s: ldz=%d exceeds the 48 KiB row buffer", name, ldz);
    dim3 grid(rows, (m + kExpandThreads - 1) / kExpandThreads);
    JNORA_REQUIRE(grid.y <= 65535u, "%s: m=%d too large", name, m);
    size_t shared = sizeof(float) * ldz;  // ldz >= every rank in the tables
    grouped_expand_kernel<E><<<grid, kExpandThreads, shared, handle->stream>>>(
        m, z, ldz, splits, (long long)rows * ldz, row_adapter, adapters, b_ptrs, ranks, scales, y, ldy);
    JNORA_LAUNCH_CHECK(grouped_expand_kernel);
    return JNORA_STATUS_SUCCESS;
}

}  // namespace
}  // namespace jnora

extern "C" {

int jnora_grouped_splits(int rows, int n, int max_rank) {
    if (rows < 1 || n < 1 || max_rank < 1) return 1;
    const long long blocks = (long long)rows * ((max_rank + 7) / 8);
    if (blocks >= jnora::kTargetBlocks) return 1;
    const long long wanted = (jnora::kTargetBlocks + blocks - 1) / blocks;
    const long long by_length = std::max(1, n / jnora::kMinSlice);
    return (int)std::min<long long>({wanted, by_length, (long long)jnora::kMaxSplits});
}

jnora_status_t jnora_grouped_shrink(jnora_handle_t handle, int rows, int n, const float* x, int ldx,
                                    const int* row_adapter, int adapters, const float* const* a_ptrs,
                                    const int* ranks, int max_rank, int splits, float* z, int ldz) {
    return jnora::grouped_shrink("jnora_grouped_shrink", handle, rows, n, x, ldx, row_adapter, adapters, a_ptrs, ranks,
                                 max_rank, splits, z, ldz);
}

jnora_status_t jnora_grouped_expand(jnora_handle_t handle, int rows, int m, const float* z, int ldz, int splits,
                                    const int* row_adapter, int adapters, const float* const* b_ptrs,
                                    const int* ranks, const float* scales, float* y, int ldy) {
    return jnora::grouped_expand("jnora_grouped_expand", handle, rows, m, z, ldz, splits, row_adapter, adapters,
                                 b_ptrs, ranks, scales, y, ldy);
}

jnora_status_t jnora_grouped_shrink_half(jnora_handle_t handle, jnora_precision_t precision, int rows, int n,
                                         const void* x, int ldx, const int* row_adapter, int adapters,
                                         const void* const* a_ptrs, const int* ranks, int max_rank, int splits,
                                         float* z, int ldz) {
    const char* name = "jnora_grouped_shrink_half";
    JNORA_REQUIRE(precision == JNORA_BFLOAT16 || precision == JNORA_FLOAT16, "%s: precision %d is not a half precision",
                  name, int(precision));
    if (precision == JNORA_BFLOAT16) {
        using E = __nv_bfloat16;
        return jnora::grouped_shrink(name, handle, rows, n, static_cast<const E*>(x), ldx, row_adapter, adapters,
                                     reinterpret_cast<const E* const*>(a_ptrs), ranks, max_rank, splits, z, ldz);
    }
    using E = __half;
    return jnora::grouped_shrink(name, handle, rows, n, static_cast<const E*>(x), ldx, row_adapter, adapters,
                                 reinterpret_cast<const E* const*>(a_ptrs), ranks, max_rank, splits, z, ldz);
}

jnora_status_t jnora_grouped_expand_half(jnora_handle_t handle, jnora_precision_t precision, int rows, int m,
                                         const float* z, int ldz, int splits, const int* row_adapter, int adapters,
                                         const void* const* b_ptrs, const int* ranks, const float* scales, void* y,
                                         int ldy) {
    const char* name = "jnora_grouped_expand_half";
    JNORA_REQUIRE(precision == JNORA_BFLOAT16 || precision == JNORA_FLOAT16, "%s: precision %d is not a half precision",
                  name, int(precision));
    if (precision == JNORA_BFLOAT16) {
        using E = __nv_bfloat16;
        return jnora::grouped_expand(name, handle, rows, m, z, ldz, splits, row_adapter, adapters,
                                     reinterpret_cast<const E* const*>(b_ptrs), ranks, scales, static_cast<E*>(y), ldy);
    }
    using E = __half;
    return jnora::grouped_expand(name, handle, rows, m, z, ldz, splits, row_adapter, adapters,
                                 reinterpret_cast<const E* const*>(b_ptrs), ranks, scales, static_cast<E*>(y), ldy);
}

}  // extern "C"
