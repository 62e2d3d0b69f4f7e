// Per-channel activation statistics of one calibration batch (SPEC §2.1):
//
//     sum_abs[j] = sum_t |X(t, j)|     sum_sq[j] = sum_t X(t, j)^2     max_abs[j] = max_t |X(t, j)|
//
// for X (rows x cols, ldx) float32 on the device. The outputs are overwritten with this batch's
// values (rows = 0 writes zeros); the caller (ActivationStats, through CudaBackend) adds them to its
// running float64 totals, so only 3 * cols numbers ever leave the device, never the batch.
//
// Precision: every sum is accumulated in double from the first element. A float32 input squared is
// exact in double (24 + 24 bits < 53), so the only rounding is the double additions: relative error
// ~ rows * 1.1e-16 at worst, no overflow for any finite input (float32 x^2 <= 1.2e77), and the chunk
// length does not matter for accuracy. Double costs nothing here on sm_80 / sm_90 (see the napkin
// math): the kernel is bound by reading X. max_abs is exact (a max of floats).
//
// Deterministic: no atomics. Each (column tile, row chunk) block writes its partial sums to a
// caller-provided workspace (jnora_activation_stats_workspace_size), and a second kernel adds the
// chunk partials of each column in chunk order. The same (rows, cols, data) give the same bits.
//
// Non-finite inputs: a NaN or an infinity makes sum_abs and sum_sq of its column non-finite (fmaxf
// drops NaN, so max_abs alone would hide it); callers detect bad columns from the sums.
//
// Order: the CPU reference, kernel 1 (naive), kernel 2 (chunked, with its reduction), the launchers.
// Check: target/native/jnora_kernel_check (see lowrank_gemm.cu) compares both versions with the
// reference on odd shapes with outlier columns and NaN-poisoned outputs and workspace.
//
// Napkin math, one batch T = 4096, n = 4096 on an H100 SXM (~3.35 TB/s HBM3, ~34 TFLOP/s FP64):
//   reads X: 64 MiB -> ~20 us at ~3.2 TB/s achievable; 2 FP64 adds per element = 34 MFLOP FP64 ->
//   ~1 us of FP64 throughput, so the FP64 accumulation is hidden under the loads (on GPUs with
//   1/64-rate FP64 it would not be: ~25 us on a 1.3 TFLOP/s FP64 part, still the same order).
//   Kernel 2 grid: 128 column tiles x 16 chunks of 256 rows = 2048 blocks of 256 threads, enough to
//   fill 132 SMs; partials 16 x 4096 x 20 B = 1.3 MB written and re-read (~1 us); outputs 80 KiB.
//   Each warp reads 32 consecutive floats of a row (one 128-byte line) and keeps 4 row loads in
//   flight per thread, so ~32 KiB are outstanding per SM, above Little's law's ~15 KiB
//   (3.35 TB/s x ~600 ns / 132 SMs). Kernel 1 (a thread per column walking the whole column) has
//   only n / 32 = 128 warps, ~16 KiB in flight in all against the ~2 MB that HBM needs: a few
//   percent of the bandwidth. It is the trusted baseline, not the one the C API runs.
//   For comparison, the optional covariance X^T X of the same batch is formed in float64 (SPEC §2.1):
//   jnora_widen_to_double copies X to double in blocks of <= 64 MiB (reads 64 MiB, writes 128 MiB,
//   ~60 us), then cuBLAS Dsyrk sums one triangle, n^2 T = 69 GFLOP FP64 -> ~1-2 ms at the H100's
//   ~34 (vector) to ~67 (tensor-core) TFLOP/s FP64, and bringing the n^2 doubles back (128 MiB over
//   PCIe, ~25 GB/s) takes ~5 ms more: with the covariance on, this pass is still well under 1% of a
//   calibration step. All of these are estimates, not yet measured on a GPU.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cuda_check.cuh"
#include "kernels.cuh"

namespace jnora {

namespace reference {
void activation_stats(int rows, int cols, const float* x, int ldx, double* sum_abs, double* sum_sq,
                      float* max_abs) {
    for (int j = 0; j < cols; ++j) {
        double a = 0.0, q = 0.0;
        float m = 0.0f;
        for (int t = 0; t < rows; ++t) {
            float v = x[(long long)t * ldx + j];
            a += std::fabs(double(v));
            q += double(v) * double(v);
            m = std::max(m, std::fabs(v));
        }
        sum_abs[j] = a;
        sum_sq[j] = q;
        max_abs[j] = m;
    }
}
}  // namespace reference

namespace {

// Kernel 1: one thread per column walks the whole column. Reads are coalesced across a warp (32
// consecutive columns of one row), but only `cols` threads exist, so for narrow batches or few
// columns the device is mostly idle. Obviously right; kept as the baseline and for the check.
__global__ void activation_stats_naive(int rows, int cols, const float* __restrict__ x, int ldx,
                                       double* __restrict__ sum_abs, double* __restrict__ sum_sq,
                                       float* __restrict__ max_abs) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    double a = 0.0, q = 0.0;
    float m = 0.0f;
    for (int t = 0; t < rows; ++t) {
        float v = x[(long long)t * ldx + j];
        a += fabs(double(v));
        q += double(v) * double(v);
        m = fmaxf(m, fabsf(v));
    }
    sum_abs[j] = a;
    sum_sq[j] = q;
    max_abs[j] = m;
}

// Kernel 2, step up: a 2-D grid of (32-column tile) x (row chunk) blocks, so that parallelism no
// longer depends on the number of columns. A block is 32 x 8 threads: threadIdx.x is the column in
// the tile (a warp reads one 128-byte row segment), threadIdx.y one of 8 row lanes striding through
// the chunk, 4 rows per step so that each thread has 4 independent loads in flight. The 8 lanes are
// combined in shared memory in a fixed order and the block writes one partial per column; kernel
// 2b adds the chunk partials of a column in chunk order.
constexpr int kTileCols = 32;
constexpr int kRowLanes = 8;
constexpr int kUnroll = 4;
// Enough blocks to fill an H100 several times over (132 SMs x 8 resident blocks ~ 1000) without
// making the partials large: at most ~kTargetBlocks * 32 * 20 B = 1.3 MB of workspace.
constexpr long long kTargetBlocks = 2048;
// Chunks hold about this many rows or more: much shorter ones would make the partials cost as
// much to write and re-read as X itself.
constexpr int kMinChunkRows = 64;

struct StatsLayout {
    int chunks = 0;      // row chunks (grid.y); 0 when rows or cols is 0
    int chunk_rows = 0;  // rows per chunk (the last may be shorter)
    size_t bytes = 0;    // workspace: chunks x cols doubles (|x|), the same (x^2), then floats (max)
};

StatsLayout stats_layout(int rows, int cols) {
    StatsLayout l;
    if (rows <= 0 || cols <= 0) return l;
    long long tiles = (cols + kTileCols - 1) / kTileCols;
    long long wanted = (kTargetBlocks + tiles - 1) / tiles;
    long long by_rows = (rows + kMinChunkRows - 1) / kMinChunkRows;
    long long chunks = std::max(1LL, std::min(wanted, by_rows));
    l.chunk_rows = int((rows + chunks - 1) / chunks);
    l.chunks = int((rows + l.chunk_rows - 1) / l.chunk_rows);  // no empty trailing chunk
    size_t cells = size_t(l.chunks) * size_t(cols);
    l.bytes = cells * (2 * sizeof(double) + sizeof(float));
    return l;
}

__global__ void __launch_bounds__(kTileCols * kRowLanes)
activation_stats_chunks(int rows, int cols, const float* __restrict__ x, int ldx, int chunk_rows,
                        double* __restrict__ part_abs, double* __restrict__ part_sq,
                        float* __restrict__ part_max) {
    __shared__ double s_abs[kRowLanes][kTileCols];
    __shared__ double s_sq[kRowLanes][kTileCols];
    __shared__ float s_max[kRowLanes][kTileCols];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int j = blockIdx.x * kTileCols + tx;
    const int chunk = blockIdx.y;
    const long long t0 = (long long)chunk * chunk_rows;  // 64-bit: rows may approach INT_MAX
    const long long t1 = min((long long)rows, t0 + chunk_rows);
    double a = 0.0, q = 0.0;
    float m = 0.0f;
    if (j < cols) {
        const float* col = x + j;
        long long t = t0 + ty;
        for (; t + (kUnroll - 1) * kRowLanes < t1; t += kUnroll * kRowLanes) {
            float v[kUnroll];
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) v[u] = col[(t + u * kRowLanes) * ldx];
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                a += fabs(double(v[u]));
                q += double(v[u]) * double(v[u]);
                m = fmaxf(m, fabsf(v[u]));
            }
        }
        for (; t < t1; t += kRowLanes) {
            float v = col[t * ldx];
            a += fabs(double(v));
            q += double(v) * double(v);
            m = fmaxf(m, fabsf(v));
        }
    }
    s_abs[ty][tx] = a;
    s_sq[ty][tx] = q;
    s_max[ty][tx] = m;
    __syncthreads();
    if (ty == 0 && j < cols) {
        for (int l = 1; l < kRowLanes; ++l) {  // fixed order: deterministic
            a += s_abs[l][tx];
            q += s_sq[l][tx];
            m = fmaxf(m, s_max[l][tx]);
        }
        const size_t cell = size_t(chunk) * size_t(cols) + size_t(j);
        part_abs[cell] = a;
        part_sq[cell] = q;
        part_max[cell] = m;
    }
}

// Kernel 2b: one thread per column adds its `chunks` partials in chunk order (coalesced: the
// partials of one chunk are contiguous over the columns). chunks = 0 writes zeros.
__global__ void activation_stats_reduce(int chunks, int cols, const double* __restrict__ part_abs,
                                        const double* __restrict__ part_sq,
                                        const float* __restrict__ part_max,
                                        double* __restrict__ sum_abs, double* __restrict__ sum_sq,
                                        float* __restrict__ max_abs) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    double a = 0.0, q = 0.0;
    float m = 0.0f;
    for (int c = 0; c < chunks; ++c) {
        const size_t cell = size_t(c) * size_t(cols) + size_t(j);
        a += part_abs[cell];
        q += part_sq[cell];
        m = fmaxf(m, part_max[cell]);
    }
    sum_abs[j] = a;
    sum_sq[j] = q;
    max_abs[j] = m;
}

constexpr int kReduceThreads = 256;

}  // namespace

size_t activation_stats_workspace_bytes(StatsVersion version, int rows, int cols) {
    return version == StatsVersion::Naive ? 0 : stats_layout(rows, cols).bytes;
}

jnora_status_t launch_activation_stats(StatsVersion version, cudaStream_t stream, int rows, int cols,
                                       const float* x, int ldx, double* sum_abs, double* sum_sq,
                                       float* max_abs, void* workspace, size_t workspace_bytes) {
    JNORA_REQUIRE(rows >= 0 && cols >= 0, "activation stats: negative size rows=%d cols=%d", rows, cols);
    JNORA_REQUIRE(ldx >= cols && ldx >= 1, "activation stats: ldx=%d < cols=%d", ldx, cols);
    if (cols == 0) return JNORA_STATUS_SUCCESS;
    JNORA_REQUIRE(sum_abs != nullptr && sum_sq != nullptr && max_abs != nullptr,
                  "activation stats: an output is NULL");
    JNORA_REQUIRE(rows == 0 || x != nullptr, "activation stats: x is NULL");
    const int reduce_blocks = (cols + kReduceThreads - 1) / kReduceThreads;
    if (version == StatsVersion::Naive) {
        activation_stats_naive<<<reduce_blocks, kReduceThreads, 0, stream>>>(rows, cols, x, ldx, sum_abs,
                                                                            sum_sq, max_abs);
        JNORA_LAUNCH_CHECK(activation_stats_naive);
        return JNORA_STATUS_SUCCESS;
    }
    const StatsLayout l = stats_layout(rows, cols);
    JNORA_REQUIRE(workspace_bytes >= l.bytes,
                  "activation stats: workspace of %zu bytes, %zu needed for rows=%d cols=%d",
                  workspace_bytes, l.bytes, rows, cols);
    JNORA_REQUIRE(l.bytes == 0 || (workspace != nullptr && reinterpret_cast<uintptr_t>(workspace) % alignof(double) == 0),
                  "activation stats: workspace is NULL or not aligned to %zu bytes", alignof(double));
    const size_t cells = size_t(l.chunks) * size_t(cols);
    double* part_abs = static_cast<double*>(workspace);
    double* part_sq = part_abs + cells;
    float* part_max = reinterpret_cast<float*>(part_sq + cells);
    if (l.chunks > 0) {
        JNORA_REQUIRE(l.chunks <= 65535, "activation stats: %d row chunks exceed the grid", l.chunks);
        dim3 grid((cols + kTileCols - 1) / kTileCols, l.chunks);
        dim3 block(kTileCols, kRowLanes);
        activation_stats_chunks<<<grid, block, 0, stream>>>(rows, cols, x, ldx, l.chunk_rows, part_abs,
                                                            part_sq, part_max);
        JNORA_LAUNCH_CHECK(activation_stats_chunks);
    }
    activation_stats_reduce<<<reduce_blocks, kReduceThreads, 0, stream>>>(l.chunks, cols, part_abs, part_sq,
                                                                         part_max, sum_abs, sum_sq, max_abs);
    JNORA_LAUNCH_CHECK(activation_stats_reduce);
    return JNORA_STATUS_SUCCESS;
}

namespace {
__global__ void widen_to_double_kernel(long long total, int cols, const float* __restrict__ x, int ldx,
                                       double* __restrict__ out) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        long long t = i / cols;
        out[i] = static_cast<double>(x[t * ldx + (i - t * cols)]);
    }
}
}  // namespace

}  // namespace jnora

extern "C" {

jnora_status_t jnora_widen_to_double(jnora_handle_t handle, int rows, int cols, const float* x, int ldx,
                                     double* out) {
    JNORA_REQUIRE(handle != nullptr, "jnora_widen_to_double: handle is NULL");
    JNORA_REQUIRE(rows >= 0 && cols >= 0 && ldx >= cols, "jnora_widen_to_double: rows=%d cols=%d ldx=%d", rows,
                  cols, ldx);
    long long total = (long long)rows * cols;
    if (total == 0) return JNORA_STATUS_SUCCESS;
    JNORA_REQUIRE(x != nullptr && out != nullptr, "jnora_widen_to_double: NULL pointer");
    int blocks = (int)std::min<long long>((total + 255) / 256, 4096);  // grid-stride beyond
    jnora::widen_to_double_kernel<<<blocks, 256, 0, handle->stream>>>(total, cols, x, ldx, out);
    JNORA_LAUNCH_CHECK(widen_to_double_kernel);
    return JNORA_STATUS_SUCCESS;
}

jnora_status_t jnora_activation_stats_workspace_size(int rows, int cols, size_t* bytes) {
    JNORA_REQUIRE(bytes != nullptr, "jnora_activation_stats_workspace_size: bytes is NULL");
    JNORA_REQUIRE(rows >= 0 && cols >= 0,
                  "jnora_activation_stats_workspace_size: negative size rows=%d cols=%d", rows, cols);
    *bytes = jnora::activation_stats_workspace_bytes(jnora::StatsVersion::Chunked, rows, cols);
    return JNORA_STATUS_SUCCESS;
}

jnora_status_t jnora_activation_stats(jnora_handle_t handle, int rows, int cols, const float* x, int ldx,
                                      double* sum_abs, double* sum_sq, float* max_abs, void* workspace,
                                      size_t workspace_bytes) {
    JNORA_REQUIRE(handle != nullptr, "jnora_activation_stats: handle is NULL");
    return jnora::launch_activation_stats(jnora::StatsVersion::Chunked, handle->stream, rows, cols, x,
                                          ldx, sum_abs, sum_sq, max_abs, workspace, workspace_bytes);
}

}  // extern "C"
