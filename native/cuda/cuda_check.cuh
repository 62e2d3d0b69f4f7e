// Internal: checked CUDA calls and launches; a failure returns a status carrying file and line.
#ifndef JNORA_CUDA_CHECK_CUH
#define JNORA_CUDA_CHECK_CUH

#include <cuda_runtime.h>

#include "../core/errors.h"

#define JNORA_CUDA_CHECK(call)                                                                \
    do {                                                                                      \
        cudaError_t jnora_err_ = (call);                                                      \
        if (jnora_err_ != cudaSuccess) {                                                      \
            /* A failed runtime call is also the runtime's "last error": clear it, or the next */ \
            /* JNORA_LAUNCH_CHECK (cudaGetLastError) would blame an unrelated launch for it. */  \
            cudaGetLastError();                                                               \
            return JNORA_FAIL(JNORA_STATUS_CUDA_ERROR, "%s failed: %s (%s)", #call,           \
                              cudaGetErrorName(jnora_err_), cudaGetErrorString(jnora_err_));  \
        }                                                                                     \
    } while (0)

// After every launch: a bad configuration shows here, not at the next unrelated call.
#define JNORA_LAUNCH_CHECK(kernel_name)                                                       \
    do {                                                                                      \
        cudaError_t jnora_err_ = cudaGetLastError();                                          \
        if (jnora_err_ != cudaSuccess)                                                        \
            return JNORA_FAIL(JNORA_STATUS_CUDA_ERROR, "launch of %s failed: %s (%s)",         \
                              #kernel_name, cudaGetErrorName(jnora_err_),                     \
                              cudaGetErrorString(jnora_err_));                                \
    } while (0)

#define JNORA_REQUIRE(condition, ...)                                                         \
    do {                                                                                      \
        if (!(condition)) return JNORA_FAIL(JNORA_STATUS_INVALID_VALUE, __VA_ARGS__);         \
    } while (0)

struct jnora_context {
    cudaStream_t stream;
};

#endif
