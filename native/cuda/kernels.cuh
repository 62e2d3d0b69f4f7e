// Internal: the CPU references of the kernels and the launchers of each kernel version, shared
// by the C API (native/cuda/*.cu) and the standalone kernel check (tests/native/kernel_check.cu).
#ifndef JNORA_CUDA_KERNELS_CUH
#define JNORA_CUDA_KERNELS_CUH

#include <cuda_runtime.h>

#include "jnora.h"

namespace jnora {

// C = alpha * P * Q^T + beta * C with P(i, l) = p[i * ps_r + l * ps_c] (M x K),
// Q(j, l) = q[j * qs_r + l * qs_c] (N x K), C (M x N, ldc). beta == 0 never reads C.
enum class GemmVersion { Naive = 1, Tiled = 2 };

jnora_status_t launch_strided_gemm(GemmVersion version, cudaStream_t stream, int M, int N, int K,
                                   float alpha, const float* p, long long ps_r, long long ps_c,
                                   const float* q, long long qs_r, long long qs_c, float beta,
                                   float* c, int ldc);

// Per-column sum |x|, sum x^2 (double) and max |x| of X (rows x cols, ldx), overwriting the outputs
// (SPEC §2.1; native/cuda/activation_stats.cu). Chunked needs a workspace of
// activation_stats_workspace_bytes(Chunked, rows, cols) bytes, 8-byte aligned; Naive needs none.
enum class StatsVersion { Naive = 1, Chunked = 2 };

size_t activation_stats_workspace_bytes(StatsVersion version, int rows, int cols);

jnora_status_t launch_activation_stats(StatsVersion version, cudaStream_t stream, int rows, int cols,
                                       const float* x, int ldx, double* sum_abs, double* sum_sq,
                                       float* max_abs, void* workspace, size_t workspace_bytes);

namespace reference {
// Obviously-correct host versions, accumulating in double: what the kernels are checked against.
void strided_gemm(int M, int N, int K, float alpha, const float* p, long long ps_r, long long ps_c,
                  const float* q, long long qs_r, long long qs_c, float beta, float* c, int ldc);
void inner_forward(int rows, int r, int r_in, float s, const float* z1, int ldz1,
                   const float* inner_a, const float* inner_b, float* z2, int ldz2, float* z3,
                   int ldz3);
void inner_backward(int rows, int r, int r_in, const float* dz3, int lddz3, const float* inner_a,
                    const float* inner_b, float* dz2, int lddz2, float* dz1, int lddz1);
void activation_stats(int rows, int cols, const float* x, int ldx, double* sum_abs, double* sum_sq,
                      float* max_abs);
void grouped_lowrank(int rows, int n, int m, const float* x, const int* row_adapter, int adapters,
                     const float* const* a_ptrs, const float* const* b_ptrs, const int* ranks,
                     const float* scales, float* y);
}  // namespace reference

}  // namespace jnora

#endif
