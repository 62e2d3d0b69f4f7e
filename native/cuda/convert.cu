// Precision conversion (float32 <-> bfloat16 / float16), elementwise, for the half-precision layer:
// the trainable inner factors are float32 and meet the half outer factors through a converted copy.
// Rounding is to nearest, ties to even (the CUDA intrinsics; io.jnora.io.BFloat16/Float16 on the
// host do the same; so do the cuda_bf16/cuda_fp16 conversions, which the kernel check uses as its
// host reference). Check: target/native/jnora_kernel_check.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "cuda_check.cuh"
#include "kernels.cuh"

namespace jnora {
namespace {

__device__ __forceinline__ float load(jnora_precision_t p, const void* data, long long i) {
    if (p == JNORA_FLOAT32) return static_cast<const float*>(data)[i];
    if (p == JNORA_BFLOAT16) return __bfloat162float(static_cast<const __nv_bfloat16*>(data)[i]);
    return __half2float(static_cast<const __half*>(data)[i]);
}

__device__ __forceinline__ void store(jnora_precision_t p, void* data, long long i, float v) {
    if (p == JNORA_FLOAT32) static_cast<float*>(data)[i] = v;
    else if (p == JNORA_BFLOAT16) static_cast<__nv_bfloat16*>(data)[i] = __float2bfloat16_rn(v);
    else static_cast<__half*>(data)[i] = __float2half_rn(v);
}

__global__ void convert_kernel(long long n, jnora_precision_t from, const void* __restrict__ src, jnora_precision_t to,
                               void* __restrict__ dst) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        store(to, dst, i, load(from, src, i));
}

}  // namespace
}  // namespace jnora

extern "C" jnora_status_t jnora_convert(jnora_handle_t handle, long long n, jnora_precision_t from, const void* src,
                                        jnora_precision_t to, void* dst) {
    JNORA_REQUIRE(handle != nullptr, "jnora_convert: handle is NULL");
    JNORA_REQUIRE(n >= 0 && from >= JNORA_FLOAT32 && from <= JNORA_FLOAT16 && to >= JNORA_FLOAT32 &&
                      to <= JNORA_FLOAT16,
                  "jnora_convert: n=%lld from=%d to=%d", n, int(from), int(to));
    if (n == 0) return JNORA_STATUS_SUCCESS;
    JNORA_REQUIRE(src && dst, "jnora_convert: NULL pointer");
    const int threads = 256;
    const long long blocks = std::min<long long>((n + threads - 1) / threads, 65535LL * 8);
    jnora::convert_kernel<<<(unsigned)blocks, threads, 0, handle->stream>>>(n, from, src, to, dst);
    JNORA_LAUNCH_CHECK(convert_kernel);
    return JNORA_STATUS_SUCCESS;
}
