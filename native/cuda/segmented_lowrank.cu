// Several adapters in one prefill-sized batch (SPEC §2.9), segment-grouped (the SGMV shape of
// Punica/vLLM): the rows are gathered by adapter into tiles of at most 64 rows (on the device by
// native/cuda/segment_layout.cu; native/core/segments.cpp is the host reference), and each block
// computes one tile of one adapter as a small GEMM, so an adapter's factors are read once per tile
// instead of once per row:
//
//   segmented shrink   Z[t, 0:r_a] = X[t, :] A_a^T          for the rows t of a tile of adapter a
//   segmented expand   Y[t, :]    += s_a Z[t, 0:r_a] B_a^T
//
// The reference is grouped_lowrank's (native/cuda/grouped_lowrank.cu): the two are the same
// operation. Check: target/native/jnora_kernel_check.
//
// Napkin math (H100, float32, T = 4096, n = m = 4096, r_a = 16, 32 adapters): the row-at-a-time
// kernels read A_a and B_a once per row, 2 x 4096 x 256 KiB = 2 GiB from L2 (~0.3-0.4 ms, more than a
// TF32 base GEMM); here they are read once per tile, 2 x 64 x 256 KiB = 32 MiB, and the floor is the
// one pass over X (64 MiB) and the read and write of Y (128 MiB): ~60 us at 3.35 TB/s.
#include "cuda_check.cuh"
#include "elements.cuh"
#include "kernels.cuh"

#include <algorithm>

namespace jnora {
namespace {

constexpr int kTileRows = JNORA_SEGMENT_ROWS;  // rows of one adapter per block
constexpr int kThreads = 256;
// Shrink: a block computes kTileRows x kShrinkCols of Z over one slice of n, kStepK columns of X
// and A_a at a time through shared memory; a thread holds 4 rows of one output column. The inner
// loop reads shared memory 16 bytes at a time (5 loads per 16 multiply-adds, not 5 per 4: the
// scalar version was bound by shared loads, not by HBM); rows padded to 36 floats keep those reads
// free of bank conflicts (a quarter-warp's 8 columns start 4 banks apart).
constexpr int kShrinkCols = 16;
constexpr int kStepK = 32;
constexpr int kShrinkStride = kStepK + 4;
// Expand: a block computes kTileRows x kExpandCols of Y, kRankStep ranks at a time; a thread holds
// 16 rows of one output column, so a warp writes 32 consecutive floats of a row of Y. Z's rows are
// read by a whole warp at once (a broadcast: no padding), B's 16-byte reads at a stride of 20
// floats (8 columns on distinct banks).
constexpr int kExpandCols = 64;
constexpr int kRankStep = 16;
constexpr int kExpandStride = kRankStep + 4;
// Split-K as in grouped_lowrank.cu: slices are added until about kTargetBlocks blocks (estimated
// as if every tile were full), each slice at least kMinSlice long; a function of the shape only.
constexpr long long kTargetBlocks = 256;
constexpr int kMinSlice = 256;
constexpr int kMaxSplits = 32;

// Blocks along the tiles: as many as full tiles of the batch plus some for the tiles a mix of
// adapters cuts short, never more than the tiles there can be; a block loops over the tiles past
// its grid. Sizing the grid by the worst case instead (a tile per row when every row has its own
// adapter) would launch mostly empty blocks for the common mixes.
constexpr int kExtraTiles = 32;
int launch_tiles(int rows, int max_tiles) {
    return std::min(max_tiles, (rows + kTileRows - 1) / kTileRows + kExtraTiles);
}

// Grid (launch_tiles(), ceil(max_rank / 16), splits); block x takes tiles x, x + gridDim.x, ...
// Columns k >= r_a of a chunk, and rows past the tile's count, are zeros in shared memory and not
// written. Slice s writes plane s of Z.
template <typename E>
__global__ void __launch_bounds__(kThreads)
segmented_shrink_kernel(int rows, int n, int slice, const E* __restrict__ x, int ldx,
                        const int* __restrict__ row_order,
                        const int* __restrict__ tiles, int adapters, const E* const* __restrict__ a_ptrs,
                        const int* __restrict__ ranks, float* __restrict__ z, int ldz, long long plane) {
    __shared__ __align__(16) float xs[kTileRows][kShrinkStride];
    __shared__ __align__(16) float as[kShrinkCols][kShrinkStride];
    __shared__ int tile_rows[kTileRows];
    const int tid = threadIdx.x;
    const int col = tid % kShrinkCols;
    const int row0 = tid / kShrinkCols;  // rows row0 + 16 i, i < 4
    const int k0 = blockIdx.y * kShrinkCols;
    const int lo = blockIdx.z * slice;
    const int hi = min(n, lo + slice);
    // Every condition below that skips a barrier reads only block-uniform values.
    for (int tile_index = blockIdx.x; tile_index < tiles[0]; tile_index += gridDim.x) {
        const int* tile = tiles + 1 + 3 * tile_index;
        const int a = tile[0], begin = tile[1], count = tile[2];
        if (a < 0 || a >= adapters) continue;
        const int r = ranks[a];
        if (k0 >= r) continue;
        if (tid < kTileRows) {
            // A row past the batch (possible only with a layout made elsewhere for more rows; the
            // library makes it for exactly `rows`) is treated as absent: never memory past `rows` rows.
            const int t = tid < count ? row_order[begin + tid] : -1;
            tile_rows[tid] = t < rows ? t : -1;
        }
        const E* ap = a_ptrs[a];
        float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        __syncthreads();
        for (int l0 = lo; l0 < hi; l0 += kStepK) {
            for (int e = tid; e < kTileRows * kStepK; e += kThreads) {  // a warp reads 32 floats of one row
                const int i = e / kStepK, l = e % kStepK;
                const int t = tile_rows[i];
                xs[i][l] = (t >= 0 && l0 + l < hi) ? to_f(x[(long long)t * ldx + l0 + l]) : 0.0f;
            }
            for (int e = tid; e < kShrinkCols * kStepK; e += kThreads) {
                const int k = e / kStepK, l = e % kStepK;
                as[k][l] = (k0 + k < r && l0 + l < hi) ? to_f(ap[(long long)(k0 + k) * n + l0 + l]) : 0.0f;
            }
            __syncthreads();
            if (row0 < count) {  // a short tile costs its rows, not 64: idle threads read nothing
#pragma unroll
                for (int l = 0; l < kStepK; l += 4) {
                    const float4 av = *reinterpret_cast<const float4*>(&as[col][l]);
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        if (row0 + 16 * i >= count) continue;
                        const float4 xv = *reinterpret_cast<const float4*>(&xs[row0 + 16 * i][l]);
                        acc[i] += xv.x * av.x;  // in order of l, as a scalar loop would add
                        acc[i] += xv.y * av.y;
                        acc[i] += xv.z * av.z;
                        acc[i] += xv.w * av.w;
                    }
                }
            }
            __syncthreads();
        }
        const int k = k0 + col;
        if (k < r) {
            float* zs = z + blockIdx.z * plane + k;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int row = row0 + 16 * i;
                if (row < count && tile_rows[row] >= 0) zs[(long long)tile_rows[row] * ldz] = acc[i];
            }
        }
        __syncthreads();  // tile_rows is rewritten by the next tile
    }
}

// Grid (launch_tiles(), ceil(m / 64)), tiles taken as by the shrink. Z's planes are added in plane
// order as they are staged, so the result does not depend on scheduling; each thread then adds its
// 16 results into Y.
template <typename E>
__global__ void __launch_bounds__(kThreads)
segmented_expand_kernel(int rows, int m, const float* __restrict__ z, int ldz, int splits, long long plane,
                        const int* __restrict__ row_order, const int* __restrict__ tiles, int adapters,
                        const E* const* __restrict__ b_ptrs, const int* __restrict__ ranks,
                        const float* __restrict__ scales, E* __restrict__ y, int ldy) {
    __shared__ __align__(16) float zs[kTileRows][kRankStep];
    __shared__ __align__(16) float bs[kExpandCols][kExpandStride];
    __shared__ int tile_rows[kTileRows];
    const int tid = threadIdx.x;
    const int col = tid % kExpandCols;
    const int row0 = tid / kExpandCols;  // rows row0 + 4 i, i < 16
    const int j = blockIdx.y * kExpandCols + col;
    for (int tile_index = blockIdx.x; tile_index < tiles[0]; tile_index += gridDim.x) {
        const int* tile = tiles + 1 + 3 * tile_index;
        const int a = tile[0], begin = tile[1], count = tile[2];
        if (a < 0 || a >= adapters) continue;
        const int r = ranks[a];
        if (tid < kTileRows) {
            // A row past the batch (possible only with a layout made elsewhere for more rows; the
            // library makes it for exactly `rows`) is treated as absent: never memory past `rows` rows.
            const int t = tid < count ? row_order[begin + tid] : -1;
            tile_rows[tid] = t < rows ? t : -1;
        }
        const E* bp = b_ptrs[a];
        float acc[16];
#pragma unroll
        for (int i = 0; i < 16; ++i) acc[i] = 0.0f;
        __syncthreads();
        for (int k0 = 0; k0 < r; k0 += kRankStep) {
            for (int e = tid; e < kTileRows * kRankStep; e += kThreads) {
                const int i = e / kRankStep, k = e % kRankStep;
                const int t = tile_rows[i];
                float sum = 0.0f;
                if (t >= 0 && k0 + k < r) {
                    const float* zt = z + (long long)t * ldz + k0 + k;
                    sum = zt[0];
                    for (int s = 1; s < splits; ++s) sum += zt[s * plane];
                }
                zs[i][k] = sum;
            }
            for (int e = tid; e < kExpandCols * kRankStep; e += kThreads) {
                const int jj = e / kRankStep, k = e % kRankStep;
                const int jb = blockIdx.y * kExpandCols + jj;
                bs[jj][k] = (jb < m && k0 + k < r) ? to_f(bp[(long long)jb * r + k0 + k]) : 0.0f;
            }
            __syncthreads();
#pragma unroll
            for (int k = 0; k < kRankStep; k += 4) {
                const float4 bv = *reinterpret_cast<const float4*>(&bs[col][k]);
#pragma unroll
                for (int i = 0; i < 16; ++i) {  // uniform per warp: a short tile costs its rows only
                    if (row0 + 4 * i >= count) continue;
                    const float4 zv = *reinterpret_cast<const float4*>(&zs[row0 + 4 * i][k]);
                    acc[i] += zv.x * bv.x;
                    acc[i] += zv.y * bv.y;
                    acc[i] += zv.z * bv.z;
                    acc[i] += zv.w * bv.w;
                }
            }
            __syncthreads();
        }
        if (j < m) {
            const float s = scales[a];
#pragma unroll
            for (int i = 0; i < 16; ++i) {
                const int row = row0 + 4 * i;
                if (row < count && tile_rows[row] >= 0) {
                    E* yt = y + (long long)tile_rows[row] * ldy + j;
                    *yt = from_f<E>(to_f(*yt) + s * acc[i]);  // a half Y is rounded once
                }
            }
        }
        __syncthreads();  // tile_rows is rewritten by the next tile
    }
}

template <typename E>
jnora_status_t segmented_shrink(const char* name, jnora_handle_t handle, int rows, int n, const E* x, int ldx,
                                const int* row_order, const int* tiles, int max_tiles, int adapters,
                                const E* const* a_ptrs, const int* ranks, int max_rank, int splits, float* z,
                                int ldz) {
    JNORA_REQUIRE(handle != nullptr, "%s: handle is NULL", name);
    JNORA_REQUIRE(rows >= 0 && n >= 1 && adapters >= 0 && max_rank >= 0 && ldx >= n && ldz >= max_rank &&
                      splits >= 1 && splits <= n && max_tiles >= jnora_segment_tiles_capacity(rows, adapters),
                  "%s: rows=%d n=%d adapters=%d max_rank=%d splits=%d max_tiles=%d ldx=%d ldz=%d", name, rows, n,
                  adapters, max_rank, splits, max_tiles, ldx, ldz);
    if (rows == 0 || adapters == 0 || max_rank == 0) return JNORA_STATUS_SUCCESS;
    JNORA_REQUIRE(x && row_order && tiles && a_ptrs && ranks && z, "%s: NULL pointer", name);
    // Slices in whole steps of 32 columns; a slice past n writes zeros.
    const int slice = ((n + splits - 1) / splits + kStepK - 1) / kStepK * kStepK;
    dim3 grid(launch_tiles(rows, max_tiles), (max_rank + kShrinkCols - 1) / kShrinkCols, splits);
    JNORA_REQUIRE(grid.y <= 65535u && splits <= 65535, "%s: max_rank=%d splits=%d too large", name, max_rank,
                  splits);
    segmented_shrink_kernel<E><<<grid, kThreads, 0, handle->stream>>>(rows, n, slice, x, ldx, row_order, tiles, adapters,
                                                                      a_ptrs, ranks, z, ldz, (long long)rows * ldz);
    JNORA_LAUNCH_CHECK(segmented_shrink_kernel);
    return JNORA_STATUS_SUCCESS;
}

template <typename E>
jnora_status_t segmented_expand(const char* name, jnora_handle_t handle, int rows, int m, const float* z, int ldz,
                                int splits, const int* row_order, const int* tiles, int max_tiles, int adapters,
                                const E* const* b_ptrs, const int* ranks, const float* scales, E* y, int ldy) {
    JNORA_REQUIRE(handle != nullptr, "%s: handle is NULL", name);
    JNORA_REQUIRE(rows >= 0 && m >= 1 && adapters >= 0 && ldz >= 1 && ldy >= m && splits >= 1 &&
                      max_tiles >= jnora_segment_tiles_capacity(rows, adapters),
                  "%s: rows=%d m=%d adapters=%d ldz=%d splits=%d max_tiles=%d ldy=%d", name, rows, m, adapters, ldz,
                  splits, max_tiles, ldy);
    if (rows == 0 || adapters == 0) return JNORA_STATUS_SUCCESS;
    JNORA_REQUIRE(z && row_order && tiles && b_ptrs && ranks && scales && y, "%s: NULL pointer", name);
    dim3 grid(launch_tiles(rows, max_tiles), (m + kExpandCols - 1) / kExpandCols);
    JNORA_REQUIRE(grid.y <= 65535u, "%s: m=%d too large", name, m);
    segmented_expand_kernel<E><<<grid, kThreads, 0, handle->stream>>>(
        rows, m, z, ldz, splits, (long long)rows * ldz, row_order, tiles, adapters, b_ptrs, ranks, scales, y, ldy);
    JNORA_LAUNCH_CHECK(segmented_expand_kernel);
    return JNORA_STATUS_SUCCESS;
}

}  // namespace
}  // namespace jnora

extern "C" {

int jnora_segmented_splits(int rows, int n, int max_rank) {
    if (rows < 1 || n < 1 || max_rank < 1) return 1;
    const long long blocks = (long long)((rows + jnora::kTileRows - 1) / jnora::kTileRows) *
                             ((max_rank + jnora::kShrinkCols - 1) / jnora::kShrinkCols);
    if (blocks >= jnora::kTargetBlocks) return 1;
    const long long wanted = (jnora::kTargetBlocks + blocks - 1) / blocks;
    const long long by_length = std::max(1, n / jnora::kMinSlice);
    return (int)std::min<long long>({wanted, by_length, (long long)jnora::kMaxSplits});
}

jnora_status_t jnora_segmented_shrink(jnora_handle_t handle, int rows, int n, const float* x, int ldx,
                                      const int* row_order, const int* tiles, int max_tiles, int adapters,
                                      const float* const* a_ptrs, const int* ranks, int max_rank, int splits,
                                      float* z, int ldz) {
    return jnora::segmented_shrink("jnora_segmented_shrink", handle, rows, n, x, ldx, row_order, tiles, max_tiles,
                                   adapters, a_ptrs, ranks, max_rank, splits, z, ldz);
}

jnora_status_t jnora_segmented_expand(jnora_handle_t handle, int rows, int m, const float* z, int ldz,
                                      int splits, const int* row_order, const int* tiles, int max_tiles,
                                      int adapters, const float* const* b_ptrs, const int* ranks,
                                      const float* scales, float* y, int ldy) {
    return jnora::segmented_expand("jnora_segmented_expand", handle, rows, m, z, ldz, splits, row_order, tiles,
                                   max_tiles, adapters, b_ptrs, ranks, scales, y, ldy);
}

jnora_status_t jnora_segmented_shrink_half(jnora_handle_t handle, jnora_precision_t precision, int rows, int n,
                                           const void* x, int ldx, const int* row_order, const int* tiles,
                                           int max_tiles, int adapters, const void* const* a_ptrs, const int* ranks,
                                           int max_rank, int splits, float* z, int ldz) {
    const char* name = "jnora_segmented_shrink_half";
    JNORA_REQUIRE(precision == JNORA_BFLOAT16 || precision == JNORA_FLOAT16, "%s: precision %d is not a half precision",
                  name, int(precision));
    if (precision == JNORA_BFLOAT16) {
        using E = __nv_bfloat16;
        return jnora::segmented_shrink(name, handle, rows, n, static_cast<const E*>(x), ldx, row_order, tiles,
                                       max_tiles, adapters, reinterpret_cast<const E* const*>(a_ptrs), ranks, max_rank,
                                       splits, z, ldz);
    }
    using E = __half;
    return jnora::segmented_shrink(name, handle, rows, n, static_cast<const E*>(x), ldx, row_order, tiles, max_tiles,
                                   adapters, reinterpret_cast<const E* const*>(a_ptrs), ranks, max_rank, splits, z,
                                   ldz);
}

jnora_status_t jnora_segmented_expand_half(jnora_handle_t handle, jnora_precision_t precision, int rows, int m,
                                           const float* z, int ldz, int splits, const int* row_order,
                                           const int* tiles, int max_tiles, int adapters, const void* const* b_ptrs,
                                           const int* ranks, const float* scales, void* y, int ldy) {
    const char* name = "jnora_segmented_expand_half";
    JNORA_REQUIRE(precision == JNORA_BFLOAT16 || precision == JNORA_FLOAT16, "%s: precision %d is not a half precision",
                  name, int(precision));
    if (precision == JNORA_BFLOAT16) {
        using E = __nv_bfloat16;
        return jnora::segmented_expand(name, handle, rows, m, z, ldz, splits, row_order, tiles, max_tiles, adapters,
                                       reinterpret_cast<const E* const*>(b_ptrs), ranks, scales, static_cast<E*>(y),
                                       ldy);
    }
    using E = __half;
    return jnora::segmented_expand(name, handle, rows, m, z, ldz, splits, row_order, tiles, max_tiles, adapters,
                                   reinterpret_cast<const E* const*>(b_ptrs), ranks, scales, static_cast<E*>(y), ldy);
}

}  // extern "C"
