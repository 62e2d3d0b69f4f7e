// The low-rank projections of a nested adapter as one strided GEMM family (SPEC §2.5, §2.6):
//
//     C = alpha * P * Q^T + beta * C,   P (M x K), Q (N x K) given by two strides each
//
//   shrink       Z1 = X A^T           M = T,    N = r,    K = n   (and dZ3 = s dY B, Q = B^T view)
//   expand       Y += s Z3 B^T        M = T,    N = m,    K = r   (and dX += dZ1 A, Q = A^T view)
//   weight_grad  dB' = dZ3^T Z2       M = r,    N = r_in, K = T   (P, Q are transposed views)
//
// Order in this file: the CPU reference, kernel 1 (naive), kernel 2 (tiled), the launchers.
// Check: configure with CMake, then
//     cmake --build target/native --target jnora_kernel_check && target/native/jnora_kernel_check
// compares every version here against the reference on random odd shapes (needs a GPU).
//
// Napkin math, forward at T = 256, n = m = 1024, r = 64 on an H100 SXM (~60 TFLOP/s FP32 FMA,
// ~3.3 TB/s): the shrink moves X + A = 1.25 MiB and does 33.6 MFLOP, floors 0.4 us and 0.6 us;
// the base GEMM (537 MFLOP) is ~9 us at peak, so the whole adapter is a few percent of it when
// the kernels reach their floors. Kernel 2 uses a (T/64) x (r/64) grid: at T = 256 only 4
// blocks, far from filling 132 SMs. Split-K for small grids is the next step (issue 4).
#include <cstdint>

#include "cuda_check.cuh"
#include "kernels.cuh"

namespace jnora {

namespace reference {
void strided_gemm(int M, int N, int K, float alpha, const float* p, long long ps_r, long long ps_c,
                  const float* q, long long qs_r, long long qs_c, float beta, float* c, int ldc) {
    for (int i = 0; i < M; ++i) {
        for (int j = 0; j < N; ++j) {
            double acc = 0.0;
            for (int l = 0; l < K; ++l) acc += double(p[i * ps_r + l * ps_c]) * q[j * qs_r + l * qs_c];
            double prior = beta == 0.0f ? 0.0 : double(beta) * c[(long long)i * ldc + j];
            c[(long long)i * ldc + j] = float(alpha * acc + prior);
        }
    }
}
}  // namespace reference

namespace {

// Kernel 1: one thread per output element, straight from the definition. Slow (every operand
// element is read from global memory M or N times) but easy to trust.
__global__ void strided_gemm_naive(int M, int N, int K, float alpha, const float* __restrict__ p,
                                   long long ps_r, long long ps_c, const float* __restrict__ q,
                                   long long qs_r, long long qs_c, float beta,
                                   float* __restrict__ c, int ldc) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    int i = blockIdx.y * blockDim.y + threadIdx.y;
    if (i >= M || j >= N) return;
    float acc = 0.0f;
    for (int l = 0; l < K; ++l) acc += p[i * ps_r + l * ps_c] * q[j * qs_r + l * qs_c];
    float* out = c + (long long)i * ldc + j;
    *out = beta == 0.0f ? alpha * acc : alpha * acc + beta * *out;
}

// Kernel 2: 64 x 64 output tiles, K in steps of 16 staged through shared memory; each of the
// 256 threads owns a 4 x 4 micro-tile. Threads own rows ty + 16a and columns tx + 16b (strided,
// not blocked) so that shared-memory reads hit distinct banks and the final stores of a warp
// are contiguous. Loads pick the thread-to-element mapping along the operand's unit stride, so
// both row-major operands and transposed views are read coalesced.
constexpr int kTile = 64;
constexpr int kStepK = 16;
constexpr int kThreads = 256;
constexpr int kMicro = 4;  // kTile / 16

__device__ __forceinline__ void load_tile(float (*tile)[kTile + 1], const float* __restrict__ src,
                                          long long s_r, long long s_c, int row0, int rows,
                                          int k0, int K) {
#pragma unroll
    for (int e = 0; e < kTile * kStepK / kThreads; ++e) {
        int idx = threadIdx.x + e * kThreads;
        int kk, ii;
        if (s_c == 1) {  // contiguous along K: consecutive threads take consecutive k
            kk = idx % kStepK;
            ii = idx / kStepK;
        } else {         // contiguous along the rows (a transposed view)
            kk = idx / kTile;
            ii = idx % kTile;
        }
        int gi = row0 + ii, gk = k0 + kk;
        tile[kk][ii] = (gi < rows && gk < K) ? src[gi * s_r + gk * s_c] : 0.0f;
    }
}

__global__ void __launch_bounds__(kThreads)
strided_gemm_tiled(int M, int N, int K, float alpha, const float* __restrict__ p, long long ps_r,
                   long long ps_c, const float* __restrict__ q, long long qs_r, long long qs_c,
                   float beta, float* __restrict__ c, int ldc) {
    __shared__ float p_tile[kStepK][kTile + 1];  // +1: column writes of the loads avoid conflicts
    __shared__ float q_tile[kStepK][kTile + 1];
    const int row0 = blockIdx.x * kTile, col0 = blockIdx.y * kTile;
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    float acc[kMicro][kMicro] = {};
    for (int k0 = 0; k0 < K; k0 += kStepK) {
        load_tile(p_tile, p, ps_r, ps_c, row0, M, k0, K);
        load_tile(q_tile, q, qs_r, qs_c, col0, N, k0, K);
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < kStepK; ++kk) {
            float a[kMicro], b[kMicro];
#pragma unroll
            for (int u = 0; u < kMicro; ++u) {
                a[u] = p_tile[kk][ty + 16 * u];
                b[u] = q_tile[kk][tx + 16 * u];
            }
#pragma unroll
            for (int u = 0; u < kMicro; ++u)
#pragma unroll
                for (int v = 0; v < kMicro; ++v) acc[u][v] += a[u] * b[v];
        }
        __syncthreads();
    }
#pragma unroll
    for (int u = 0; u < kMicro; ++u) {
        int i = row0 + ty + 16 * u;
        if (i >= M) continue;
#pragma unroll
        for (int v = 0; v < kMicro; ++v) {
            int j = col0 + tx + 16 * v;
            if (j >= N) continue;
            float* out = c + (long long)i * ldc + j;
            *out = beta == 0.0f ? alpha * acc[u][v] : alpha * acc[u][v] + beta * *out;
        }
    }
}

}  // namespace

jnora_status_t launch_strided_gemm(GemmVersion version, cudaStream_t stream, int M, int N, int K,
                                   float alpha, const float* p, long long ps_r, long long ps_c,
                                   const float* q, long long qs_r, long long qs_c, float beta,
                                   float* c, int ldc) {
    JNORA_REQUIRE(M >= 0 && N >= 0 && K >= 0, "strided gemm: negative size M=%d N=%d K=%d", M, N, K);
    JNORA_REQUIRE(ldc >= N, "strided gemm: ldc=%d < N=%d", ldc, N);
    if (M == 0 || N == 0) return JNORA_STATUS_SUCCESS;
    JNORA_REQUIRE(c != nullptr, "strided gemm: output is NULL");
    JNORA_REQUIRE(K == 0 || (p != nullptr && q != nullptr), "strided gemm: operand is NULL");
    if (version == GemmVersion::Naive) {
        dim3 block(16, 16);
        dim3 grid((N + 15) / 16, (M + 15) / 16);
        JNORA_REQUIRE(grid.y <= 65535u, "strided gemm (naive): M=%d too large", M);
        strided_gemm_naive<<<grid, block, 0, stream>>>(M, N, K, alpha, p, ps_r, ps_c, q, qs_r, qs_c,
                                                       beta, c, ldc);
    } else {
        dim3 grid((M + kTile - 1) / kTile, (N + kTile - 1) / kTile);
        JNORA_REQUIRE(grid.y <= 65535u, "strided gemm (tiled): N=%d too large", N);
        strided_gemm_tiled<<<grid, kThreads, 0, stream>>>(M, N, K, alpha, p, ps_r, ps_c, q, qs_r,
                                                          qs_c, beta, c, ldc);
    }
    JNORA_LAUNCH_CHECK(strided_gemm);
    return JNORA_STATUS_SUCCESS;
}

}  // namespace jnora

extern "C" {

jnora_status_t jnora_shrink(jnora_handle_t handle, int rows, int cols, int k_dim, float alpha,
                            const float* x, int ldx, const float* f, long long f_row_stride,
                            long long f_col_stride, float* z, int ldz) {
    JNORA_REQUIRE(handle != nullptr, "jnora_shrink: handle is NULL");
    JNORA_REQUIRE(ldx >= k_dim, "jnora_shrink: ldx=%d < k_dim=%d", ldx, k_dim);
    return jnora::launch_strided_gemm(jnora::GemmVersion::Tiled, handle->stream, rows, cols, k_dim,
                                      alpha, x, ldx, 1, f, f_row_stride, f_col_stride, 0.0f, z, ldz);
}

jnora_status_t jnora_expand(jnora_handle_t handle, int rows, int cols, int k_dim, float alpha,
                            const float* z, int ldz, const float* g, long long g_row_stride,
                            long long g_col_stride, float beta, float* y, int ldy) {
    JNORA_REQUIRE(handle != nullptr, "jnora_expand: handle is NULL");
    JNORA_REQUIRE(ldz >= k_dim, "jnora_expand: ldz=%d < k_dim=%d", ldz, k_dim);
    return jnora::launch_strided_gemm(jnora::GemmVersion::Tiled, handle->stream, rows, cols, k_dim,
                                      alpha, z, ldz, 1, g, g_row_stride, g_col_stride, beta, y, ldy);
}

jnora_status_t jnora_weight_grad(jnora_handle_t handle, int rows, int p_cols, int q_cols,
                                 const float* p, int ldp, const float* q, int ldq, float* g,
                                 int ldg) {
    JNORA_REQUIRE(handle != nullptr, "jnora_weight_grad: handle is NULL");
    JNORA_REQUIRE(ldp >= p_cols && ldq >= q_cols, "jnora_weight_grad: ldp=%d < %d or ldq=%d < %d",
                  ldp, p_cols, ldq, q_cols);
    // G(i, j) = sum_t P(t, i) Q(t, j): both operands are transposed views (unit stride on i, j).
    return jnora::launch_strided_gemm(jnora::GemmVersion::Tiled, handle->stream, p_cols, q_cols,
                                      rows, 1.0f, p, 1, ldp, q, 1, ldq, 0.0f, g, ldg);
}

}  // extern "C"
