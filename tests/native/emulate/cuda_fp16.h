// Stand-in for CUDA's cuda_fp16.h in the CPU emulation (see run.sh): IEEE binary16 through the
// compiler's _Float16 (GCC >= 12 on x86-64), whose conversions round to nearest, ties to even.
#pragma once

struct __half {
    _Float16 x;
};

inline float __half2float(__half h) { return static_cast<float>(h.x); }

inline __half __float2half_rn(float f) { return {static_cast<_Float16>(f)}; }
