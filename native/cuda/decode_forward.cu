// The forward of decode-sized batches (T <= 16) on cached effective factors (SPEC §2.5), in two
// launches instead of three, with no second pass over Y:
//
//   split-K shrink   Z_s[t, 0:k] = X[t, slice s] A[:, slice s]^T        (partial planes s = 0..S-1)
//   fused GEMV       Y[t, j] = X[t, :] W[j, :] + scale * (sum_s Z_s[t, :]) B[j, :]
//
// The GEMV treats the low-rank term as k extra columns of the reduction ([X | scale Z] times
// [W | B]^T), so the adapter costs k/n more multiply-adds inside the kernel that streams W, and no
// launch or pass of its own. Order: CPU reference, kernels, launchers.
// Check: target/native/jnora_kernel_check.
//
// Napkin math, n = m = 4096, r_in = k = 16, float32, H100 (3.35 TB/s): W is 64 MiB, so the base GEMV
// floor is ~20 us at any T <= 16; X (T x n) and A, B (k x 4096 each, 256 KiB) add < 1%. The
// three-launch path pays two extra launches (~2-3 us each, ~25% of the floor); this one pays one
// small launch (the shrink, 32-256 blocks reading X and A once).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda_check.cuh"
#include "elements.cuh"
#include "kernels.cuh"
#include "warp.cuh"

#include <algorithm>
#include <vector>

namespace jnora {

namespace reference {
void decode_forward(int rows, int m, int n, const float* x, int ldx, const float* w, int ldw, int k, float scale,
                    const float* a, int lda, const float* b, int ldb, float* y, int ldy) {
    for (int t = 0; t < rows; ++t) {
        std::vector<double> z(k, 0.0);
        for (int kk = 0; kk < k; ++kk)
            for (int l = 0; l < n; ++l) z[kk] += double(x[(long long)t * ldx + l]) * a[(long long)kk * lda + l];
        for (int j = 0; j < m; ++j) {
            double acc = 0.0;
            for (int l = 0; l < n; ++l) acc += double(x[(long long)t * ldx + l]) * w[(long long)j * ldw + l];
            double low = 0.0;
            for (int kk = 0; kk < k; ++kk) low += z[kk] * b[(long long)j * ldb + kk];
            y[(long long)t * ldy + j] = float(acc + double(scale) * low);
        }
    }
}
}  // namespace reference

namespace {

constexpr int kShrinkThreads = 256;  // a warp per (row, column of Z, slice)
constexpr int kGemvThreads = 256;    // 8 warps
constexpr int kRowsPerWarp = 2;      // rows of W a warp reduces (two independent load streams)
constexpr int kChunk = 512;          // columns of X staged in shared memory per pass (16 rows: 32 KiB)

// Grid (rows, ceil(k / 8), splits): warp w of block (t, c, s) computes plane s of Z[t, c * 8 + w].
template <typename E>
__global__ void __launch_bounds__(kShrinkThreads)
splitk_shrink_kernel(int k, int n, int slice, const E* __restrict__ x, int ldx, const E* __restrict__ a,
                     int lda, float* __restrict__ z, int ldz, long long plane) {
    const long long t = blockIdx.x;
    const int kk = blockIdx.y * (kShrinkThreads / 32) + threadIdx.x / 32;
    if (kk >= k) return;
    const int lane = threadIdx.x % 32;
    const int begin = blockIdx.z * slice;
    const int end = min(n, begin + slice);
    const E* xr = x + t * ldx;
    const E* ar = a + (long long)kk * lda;
    float acc = 0.0f;
#pragma unroll 4
    for (int l = begin + lane; l < end; l += 32) acc += to_f(xr[l]) * to_f(ar[l]);
    acc = warp_sum(acc);
    if (lane == 0) z[blockIdx.z * plane + t * ldz + kk] = acc;
}

// Grid ceil(m / 16): warp w of block g reduces rows j = (g * 8 + w) * 2 + {0, 1} of W against all TT
// (>= rows) rows of X, staged chunk by chunk in shared memory (rows past `rows` staged as zeros, so
// the inner loop has no bound checks). The last pass stages scale * sum_s Z_s in place of X and
// reads B's rows in place of W's. Every lane ends with every sum (xor reduction); lane t writes row t.
template <typename E, int TT>
__global__ void __launch_bounds__(kGemvThreads)
decode_gemv_kernel(int rows, int m, int n, const E* __restrict__ x, int ldx, const E* __restrict__ w,
                   int ldw, int k, float scale, const float* __restrict__ z, int ldz, int splits, long long plane,
                   const E* __restrict__ b, int ldb, E* __restrict__ y, int ldy) {
    __shared__ float xs[TT][kChunk];
    const int warp = threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    const int j0 = (blockIdx.x * (kGemvThreads / 32) + warp) * kRowsPerWarp;
    float acc[kRowsPerWarp][TT];
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i)
#pragma unroll
        for (int t = 0; t < TT; ++t) acc[i][t] = 0.0f;

    // acc[i][t] += sum_l W'[j0 + i, l] xs[t][l] over a staged chunk of len columns, W' row j at
    // rows + j * stride (W's chunk, or B).
    auto accumulate = [&](int len, const E* rows_base, long long stride) {
#pragma unroll
        for (int i = 0; i < kRowsPerWarp; ++i) {
            const int j = j0 + i;
            if (j >= m) break;  // per warp, and no barrier inside
            const E* wr = rows_base + (long long)j * stride;
            for (int l = lane; l < len; l += 32) {
                const float wv = to_f(wr[l]);
#pragma unroll
                for (int t = 0; t < TT; ++t) acc[i][t] += wv * xs[t][l];
            }
        }
    };

    for (int c0 = 0; c0 < n; c0 += kChunk) {
        const int len = min(kChunk, n - c0);
        __syncthreads();  // the previous chunk is consumed
        for (int i = threadIdx.x; i < TT * len; i += kGemvThreads) {
            const int t = i / len;
            const int l = i - t * len;
            xs[t][l] = t < rows ? to_f(x[(long long)t * ldx + c0 + l]) : 0.0f;
        }
        __syncthreads();
        accumulate(len, w + c0, ldw);
    }
    if (k > 0) {  // the low-rank term as k more columns: [X | scale Z] [W | B]^T
        __syncthreads();
        for (int i = threadIdx.x; i < TT * k; i += kGemvThreads) {
            const int t = i / k;
            const int l = i - t * k;
            float v = 0.0f;
            if (t < rows) {
                for (int s = 0; s < splits; ++s) v += z[s * plane + (long long)t * ldz + l];  // plane order
                v *= scale;
            }
            xs[t][l] = v;
        }
        __syncthreads();
        accumulate(k, b, ldb);
    }
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
        const int j = j0 + i;
#pragma unroll
        for (int t = 0; t < TT; ++t) {
            const float sum = warp_sum(acc[i][t]);  // all lanes take part: j and t bounds come after
            if (j < m && t < rows && lane == t) y[(long long)t * ldy + j] = from_f<E>(sum);
        }
    }
}

template <typename E, int TT>
void launch_gemv(cudaStream_t stream, int rows, int m, int n, const E* x, int ldx, const E* w, int ldw, int k,
                 float scale, const float* z, int ldz, int splits, long long plane, const E* b, int ldb, E* y,
                 int ldy) {
    const int per_block = (kGemvThreads / 32) * kRowsPerWarp;
    decode_gemv_kernel<E, TT><<<(m + per_block - 1) / per_block, kGemvThreads, 0, stream>>>(
        rows, m, n, x, ldx, w, ldw, k, scale, z, ldz, splits, plane, b, ldb, y, ldy);
}

// The two launches for one element type; arguments checked by the caller.
template <typename E>
jnora_status_t decode_forward(cudaStream_t stream, int rows, int m, int n, const E* x, int ldx, const E* w, int ldw,
                              int k, float scale, const E* a, int lda, const E* b, int ldb, int splits, float* z,
                              E* y, int ldy) {
    const long long plane = (long long)rows * std::max(k, 1);
    const int ldz = std::max(k, 1);
    if (k > 0) {
        const int slice = (n + splits - 1) / splits;
        dim3 grid(rows, (k + 7) / 8, splits);  // a slice past n writes zeros
        splitk_shrink_kernel<E><<<grid, kShrinkThreads, 0, stream>>>(k, n, slice, x, ldx, a, lda, z, ldz, plane);
        JNORA_LAUNCH_CHECK(splitk_shrink_kernel);
    }
    if (rows <= 1)
        launch_gemv<E, 1>(stream, rows, m, n, x, ldx, w, ldw, k, scale, z, ldz, splits, plane, b, ldb, y, ldy);
    else if (rows <= 2)
        launch_gemv<E, 2>(stream, rows, m, n, x, ldx, w, ldw, k, scale, z, ldz, splits, plane, b, ldb, y, ldy);
    else if (rows <= 4)
        launch_gemv<E, 4>(stream, rows, m, n, x, ldx, w, ldw, k, scale, z, ldz, splits, plane, b, ldb, y, ldy);
    else if (rows <= 8)
        launch_gemv<E, 8>(stream, rows, m, n, x, ldx, w, ldw, k, scale, z, ldz, splits, plane, b, ldb, y, ldy);
    else
        launch_gemv<E, 16>(stream, rows, m, n, x, ldx, w, ldw, k, scale, z, ldz, splits, plane, b, ldb, y, ldy);
    JNORA_LAUNCH_CHECK(decode_gemv_kernel);
    return JNORA_STATUS_SUCCESS;
}

}  // namespace
}  // namespace jnora

extern "C" {

int jnora_decode_splits(int rows, int n, int k) {
    return jnora_grouped_splits(rows, n, k);  // the same occupancy rule as the grouped shrink
}

#define JNORA_DECODE_ARGUMENTS(name)                                                                                 \
    JNORA_REQUIRE(handle != nullptr, name ": handle is NULL");                                                       \
    JNORA_REQUIRE(rows >= 0 && rows <= JNORA_DECODE_MAX_ROWS && m >= 1 && n >= 1 && k >= 0 &&                          \
                      k <= JNORA_DECODE_MAX_RANK && ldx >= n && ldw >= n && lda >= n && ldb >= k && ldy >= m &&        \
                      splits >= 1 && splits <= n,                                                                    \
                  name ": rows=%d (max %d) m=%d n=%d k=%d (max %d) ldx=%d ldw=%d lda=%d ldb=%d ldy=%d splits=%d", rows, \
                  JNORA_DECODE_MAX_ROWS, m, n, k, JNORA_DECODE_MAX_RANK, ldx, ldw, lda, ldb, ldy, splits);          \
    if (rows == 0) return JNORA_STATUS_SUCCESS;                                                                      \
    JNORA_REQUIRE(x && w && y && (k == 0 || (a && b && z)), name ": NULL pointer")

jnora_status_t jnora_decode_forward(jnora_handle_t handle, int rows, int m, int n, const float* x, int ldx,
                                    const float* w, int ldw, int k, float scale, const float* a, int lda,
                                    const float* b, int ldb, int splits, float* z, float* y, int ldy) {
    JNORA_DECODE_ARGUMENTS("jnora_decode_forward");
    return jnora::decode_forward(handle->stream, rows, m, n, x, ldx, w, ldw, k, scale, a, lda, b, ldb, splits, z, y,
                                 ldy);
}

jnora_status_t jnora_decode_forward_half(jnora_handle_t handle, jnora_precision_t precision, int rows, int m, int n,
                                         const void* x, int ldx, const void* w, int ldw, int k, float scale,
                                         const void* a, int lda, const void* b, int ldb, int splits, float* z, void* y,
                                         int ldy) {
    JNORA_DECODE_ARGUMENTS("jnora_decode_forward_half");
    JNORA_REQUIRE(precision == JNORA_BFLOAT16 || precision == JNORA_FLOAT16,
                  "jnora_decode_forward_half: precision %d is not a half precision", int(precision));
    if (precision == JNORA_BFLOAT16) {
        using E = __nv_bfloat16;
        return jnora::decode_forward(handle->stream, rows, m, n, static_cast<const E*>(x), ldx,
                                     static_cast<const E*>(w), ldw, k, scale, static_cast<const E*>(a), lda,
                                     static_cast<const E*>(b), ldb, splits, z, static_cast<E*>(y), ldy);
    }
    using E = __half;
    return jnora::decode_forward(handle->stream, rows, m, n, static_cast<const E*>(x), ldx, static_cast<const E*>(w),
                                 ldw, k, scale, static_cast<const E*>(a), lda, static_cast<const E*>(b), ldb, splits, z,
                                 static_cast<E*>(y), ldy);
}

}  // extern "C"
