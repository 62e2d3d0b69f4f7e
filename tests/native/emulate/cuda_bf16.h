// Stand-in for CUDA's cuda_bf16.h in the CPU emulation (see run.sh): the type and the two
// conversions the kernels and the kernel check use, rounding to nearest, ties to even, NaN kept.
#pragma once
#include <cstring>

struct __nv_bfloat16 {
    unsigned short x;
};

inline float __bfloat162float(__nv_bfloat16 h) {
    unsigned u = unsigned(h.x) << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    unsigned u;
    std::memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return {static_cast<unsigned short>((u >> 16) | 0x40u)};
    u += 0x7fffu + ((u >> 16) & 1u);
    return {static_cast<unsigned short>(u >> 16)};
}
