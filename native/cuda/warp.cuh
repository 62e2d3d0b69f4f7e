// Internal: warp-level helpers shared by the kernels.
#ifndef JNORA_CUDA_WARP_CUH
#define JNORA_CUDA_WARP_CUH

namespace jnora {

// The sum over the 32 lanes of a full warp, in every lane (xor butterfly): all lanes must take part.
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

}  // namespace jnora

#endif
