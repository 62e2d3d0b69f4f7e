// The inner transform of a nested adapter, row by row (SPEC §2.5, §2.6):
//
//   forward   Z2 = Z1 A'^T   (T x r_in)     Z3 = s Z2 B'^T   (T x r)
//   backward  dZ2 = dZ3 B'   (T x r_in)     dZ1 = dZ2 A'     (T x r)
//
// Both steps are tiny per row (2 r r_in FLOP each) and chained, so one kernel does both with
// the intermediate row kept in shared memory instead of a round trip through global memory;
// forward and backward are one kernel with the factors read through different strides.
// Order: the CPU references, the kernels, the launchers.
// Check: target/native/jnora_kernel_check (see lowrank_gemm.cu).
//
// Napkin math at T = 256, r = 64, r_in = 16: reads Z1 (64 KiB), writes Z2 + Z3 (80 KiB),
// 1 MFLOP; the floor is ~45 ns of bandwidth on an H100, so launch latency (~3 us) dominates:
// this kernel's real cost is its launch, which issue 4 removes by fusing it into the shrink.
#include "cuda_check.cuh"
#include "kernels.cuh"
#include "warp.cuh"

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

// Both directions are the same two-stage row transform with the factors read through strides:
//
//   small[j] = sum_l in[l] * M1(l, j)          (j < r_in, l < r)
//   out[i]   = alpha * sum_j small[j] * M2(j, i)   (i < r)
//
//   forward:   in = Z1,  M1(l, j) = A'[j, l],  out = Z3, M2(j, i) = B'[i, j],  alpha = s
//   backward:  in = dZ3, M1(l, j) = B'[l, j],  out = dZ1, M2(j, i) = A'[j, i], alpha = 1
//
// One block per row. Stage 1: a warp per small output, lanes over the long sum, a warp
// reduction. Stage 2: a thread per wide output, reading the small row from shared memory.
struct Strided {
    const float* __restrict__ data;
    int s0, s1;  // element (a, b) is data[a * s0 + b * s1]
    __device__ __forceinline__ float operator()(int a, int b) const {
        return data[(long long)a * s0 + (long long)b * s1];
    }
};

__global__ void __launch_bounds__(kInnerThreads)
row_transform_kernel(int r, int r_in, float alpha, const float* __restrict__ in, int ld_in,
                     Strided m1, Strided m2, float* __restrict__ small, int ld_small,
                     float* __restrict__ out, int ld_out) {
    extern __shared__ float shared[];
    float* in_row = shared;
    float* small_row = shared + r;
    const long long t = blockIdx.x;
    for (int l = threadIdx.x; l < r; l += blockDim.x) in_row[l] = in[t * ld_in + l];
    __syncthreads();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    for (int j = warp; j < r_in; j += warps) {
        float acc = 0.0f;
        for (int l = lane; l < r; l += 32) acc += in_row[l] * m1(l, j);
        acc = warp_sum(acc);
        if (lane == 0) {
            small_row[j] = acc;
            small[t * ld_small + j] = acc;
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < r; i += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < r_in; ++j) acc += small_row[j] * m2(j, i);
        out[t * ld_out + i] = alpha * acc;
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

jnora_status_t launch_row_transform(jnora_handle_t handle, int rows, int r, int r_in, float alpha,
                                    const float* in, int ld_in, Strided m1, Strided m2,
                                    float* small, int ld_small, float* out, int ld_out) {
    size_t shared = sizeof(float) * (r + r_in);
    row_transform_kernel<<<rows, kInnerThreads, shared, handle->stream>>>(
        r, r_in, alpha, in, ld_in, m1, m2, small, ld_small, out, ld_out);
    JNORA_LAUNCH_CHECK(row_transform_kernel);
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
    return jnora::launch_row_transform(handle, rows, r, r_in, s, z1, ldz1,
                                       jnora::Strided{inner_a, 1, r}, jnora::Strided{inner_b, 1, r_in},
                                       z2, ldz2, z3, ldz3);
}

jnora_status_t jnora_inner_backward(jnora_handle_t handle, int rows, int r, int r_in,
                                    const float* dz3, int lddz3, const float* inner_a,
                                    const float* inner_b, float* dz2, int lddz2, float* dz1,
                                    int lddz1) {
    jnora_status_t st = jnora::check_inner_args("jnora_inner_backward", handle, rows, r, r_in,
                                                lddz3, lddz2, lddz1);
    if (st != JNORA_STATUS_SUCCESS || rows == 0) return st;
    return jnora::launch_row_transform(handle, rows, r, r_in, 1.0f, dz3, lddz3,
                                       jnora::Strided{inner_b, r_in, 1}, jnora::Strided{inner_a, r, 1},
                                       dz2, lddz2, dz1, lddz1);
}

}  // extern "C"
