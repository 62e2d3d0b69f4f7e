// The inner transform of a nested adapter, row by row (SPEC §2.5, §2.6):
//
//   forward   Z2 = Z1 A'^T   (T x r_in)     Z3 = s Z2 B'^T   (T x r)
//   backward  dZ2 = dZ3 B'   (T x r_in)     dZ1 = dZ2 A'     (T x r)
//
// Both steps are tiny per row (2 r r_in FLOP each) and chained, so one kernel does both with
// the intermediate row kept in shared memory instead of a round trip through global memory.
// Order: the CPU references, the kernels, the launchers.
// Check: target/native/jnora_kernel_check (see lowrank_gemm.cu).
//
// Napkin math at T = 256, r = 64, r_in = 16: reads Z1 (64 KiB), writes Z2 + Z3 (80 KiB),
// 1 MFLOP; the floor is ~45 ns of bandwidth on an H100, so launch latency (~3 us) dominates:
// this kernel's real cost is its launch, which issue 4 removes by fusing it into the shrink.
#include "cuda_check.cuh"
#include "kernels.cuh"

namespace jnora {

namespace reference {
void inner_forward(int rows, int r, int r_in, float s, const float* z1, int ldz1,
                   const float* inner_a, const float* inner_b, float* z2, int ldz2, float* z3,
                   int ldz3) {
    for (int t = 0; t < rows; ++t) {
        for (int j = 0; j < r_in; ++j) {
            double acc = 0.0;
            for (int l = 0; l < r; ++l) acc += double(z1[(long long)t * ldz1 + l]) * inner_a[j * r + l];
            z2[(long long)t * ldz2 + j] = float(acc);
        }
        for (int i = 0; i < r; ++i) {
            double acc = 0.0;
            for (int j = 0; j < r_in; ++j) acc += double(z2[(long long)t * ldz2 + j]) * inner_b[i * r_in + j];
            z3[(long long)t * ldz3 + i] = float(s * acc);
        }
    }
}

void inner_backward(int rows, int r, int r_in, const float* dz3, int lddz3, const float* inner_a,
                    const float* inner_b, float* dz2, int lddz2, float* dz1, int lddz1) {
    for (int t = 0; t < rows; ++t) {
        for (int j = 0; j < r_in; ++j) {
            double acc = 0.0;
            for (int i = 0; i < r; ++i) acc += double(dz3[(long long)t * lddz3 + i]) * inner_b[i * r_in + j];
            dz2[(long long)t * lddz2 + j] = float(acc);
        }
        for (int l = 0; l < r; ++l) {
            double acc = 0.0;
            for (int j = 0; j < r_in; ++j) acc += double(dz2[(long long)t * lddz2 + j]) * inner_a[j * r + l];
            dz1[(long long)t * lddz1 + l] = float(acc);
        }
    }
}
}  // namespace reference

namespace {

constexpr int kInnerThreads = 128;
// Shared memory holds one row of length r and one of length r_in.
constexpr int kMaxInnerSharedFloats = 12 * 1024;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

// One block per row. Step 1: a warp per output of the small product, lanes over the long sum.
// Step 2: a thread per output of the wide product, reading the small row from shared memory.
__global__ void __launch_bounds__(kInnerThreads)
inner_forward_kernel(int r, int r_in, float s, const float* __restrict__ z1, int ldz1,
                     const float* __restrict__ inner_a, const float* __restrict__ inner_b,
                     float* __restrict__ z2, int ldz2, float* __restrict__ z3, int ldz3) {
    extern __shared__ float shared[];
    float* z1_row = shared;
    float* z2_row = shared + r;
    const long long t = blockIdx.x;
    for (int l = threadIdx.x; l < r; l += blockDim.x) z1_row[l] = z1[t * ldz1 + l];
    __syncthreads();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    for (int j = warp; j < r_in; j += warps) {
        float acc = 0.0f;
        for (int l = lane; l < r; l += 32) acc += z1_row[l] * inner_a[(long long)j * r + l];
        acc = warp_sum(acc);
        if (lane == 0) {
            z2_row[j] = acc;
            z2[t * ldz2 + j] = acc;
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < r; i += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < r_in; ++j) acc += z2_row[j] * inner_b[(long long)i * r_in + j];
        z3[t * ldz3 + i] = s * acc;
    }
}

__global__ void __launch_bounds__(kInnerThreads)
inner_backward_kernel(int r, int r_in, const float* __restrict__ dz3, int lddz3,
                      const float* __restrict__ inner_a, const float* __restrict__ inner_b,
                      float* __restrict__ dz2, int lddz2, float* __restrict__ dz1, int lddz1) {
    extern __shared__ float shared[];
    float* dz3_row = shared;
    float* dz2_row = shared + r;
    const long long t = blockIdx.x;
    for (int i = threadIdx.x; i < r; i += blockDim.x) dz3_row[i] = dz3[t * lddz3 + i];
    __syncthreads();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    for (int j = warp; j < r_in; j += warps) {
        float acc = 0.0f;
        for (int i = lane; i < r; i += 32) acc += dz3_row[i] * inner_b[(long long)i * r_in + j];
        acc = warp_sum(acc);
        if (lane == 0) {
            dz2_row[j] = acc;
            dz2[t * lddz2 + j] = acc;
        }
    }
    __syncthreads();
    for (int l = threadIdx.x; l < r; l += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < r_in; ++j) acc += dz2_row[j] * inner_a[(long long)j * r + l];
        dz1[t * lddz1 + l] = acc;
    }
}

jnora_status_t check_inner_args(const char* op, jnora_handle_t handle, int rows, int r, int r_in,
                                int ld_in, int ld_small, int ld_wide) {
    JNORA_REQUIRE(handle != nullptr, "%s: handle is NULL", op);
    JNORA_REQUIRE(rows >= 0 && r >= 1 && r_in >= 1 && r_in <= r,
                  "%s: need rows >= 0 and 1 <= r_in <= r, got rows=%d r=%d r_in=%d", op, rows, r, r_in);
    JNORA_REQUIRE(r + r_in <= kMaxInnerSharedFloats, "%s: r + r_in = %d exceeds %d", op, r + r_in,
                  kMaxInnerSharedFloats);
    JNORA_REQUIRE(ld_in >= r && ld_small >= r_in && ld_wide >= r,
                  "%s: leading dimensions %d, %d, %d too small for r=%d r_in=%d", op, ld_in,
                  ld_small, ld_wide, r, r_in);
    return JNORA_STATUS_SUCCESS;
}

}  // namespace
}  // namespace jnora

extern "C" {

jnora_status_t jnora_inner_forward(jnora_handle_t handle, int rows, int r, int r_in, float s,
                                   const float* z1, int ldz1, const float* inner_a,
                                   const float* inner_b, float* z2, int ldz2, float* z3,
                                   int ldz3) {
    jnora_status_t st = jnora::check_inner_args("jnora_inner_forward", handle, rows, r, r_in, ldz1,
                                                ldz2, ldz3);
    if (st != JNORA_STATUS_SUCCESS || rows == 0) return st;
    size_t shared = sizeof(float) * (r + r_in);
    jnora::inner_forward_kernel<<<rows, jnora::kInnerThreads, shared, handle->stream>>>(
        r, r_in, s, z1, ldz1, inner_a, inner_b, z2, ldz2, z3, ldz3);
    JNORA_LAUNCH_CHECK(inner_forward_kernel);
    return JNORA_STATUS_SUCCESS;
}

jnora_status_t jnora_inner_backward(jnora_handle_t handle, int rows, int r, int r_in,
                                    const float* dz3, int lddz3, const float* inner_a,
                                    const float* inner_b, float* dz2, int lddz2, float* dz1,
                                    int lddz1) {
    jnora_status_t st = jnora::check_inner_args("jnora_inner_backward", handle, rows, r, r_in,
                                                lddz3, lddz2, lddz1);
    if (st != JNORA_STATUS_SUCCESS || rows == 0) return st;
    size_t shared = sizeof(float) * (r + r_in);
    jnora::inner_backward_kernel<<<rows, jnora::kInnerThreads, shared, handle->stream>>>(
        r, r_in, dz3, lddz3, inner_a, inner_b, dz2, lddz2, dz1, lddz1);
    JNORA_LAUNCH_CHECK(inner_backward_kernel);
    return JNORA_STATUS_SUCCESS;
}

}  // extern "C"
