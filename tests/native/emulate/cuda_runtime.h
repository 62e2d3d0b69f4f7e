// CPU emulation of the CUDA runtime subset jnora uses: kernels run as fibers (ucontext), one block
// at a time, every thread of a block to its next barrier; __syncthreads is a block barrier and
// __shfl_xor_sync a warp barrier (an exited lane at a shuffle or a barrier mismatch is reported).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <tuple>
#include <type_traits>

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 { unsigned x, y, z; };
typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorInvalidConfiguration = 9, cudaErrorInvalidValue = 1 };
typedef struct CUstream_st* cudaStream_t;
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice, cudaMemcpyDefault };
struct cudaDeviceProp { char name[256]; int major, minor; size_t totalGlobalMem; };

extern uint3 blockIdx, threadIdx;
extern dim3 blockDim, gridDim;
extern void* emu_dynamic_shared;
extern int emu_last_error;

inline const char* cudaGetErrorName(cudaError_t e) { return e ? "cudaErrorEmulated" : "cudaSuccess"; }
inline const char* cudaGetErrorString(cudaError_t e) { return e ? "emulated error" : "no error"; }
inline cudaError_t cudaGetLastError() { int e = emu_last_error; emu_last_error = 0; return e; }
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) { std::strcpy(p->name, "emu"); p->major = 9; p->minor = 0; p->totalGlobalMem = 1ull << 34; return 0; }
cudaError_t emu_malloc(void** p, size_t n);
cudaError_t emu_free(void* p);
template <class T> cudaError_t cudaMalloc(T** p, size_t n) { return emu_malloc(reinterpret_cast<void**>(p), n); }
inline cudaError_t cudaFree(const void* p) { return emu_free(const_cast<void*>(p)); }
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) { std::memmove(d, s, n); return 0; }
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind k, cudaStream_t = nullptr) { return cudaMemcpy(d, s, n, k); }
inline cudaError_t cudaMemset(void* d, int v, size_t n) { std::memset(d, v, n); return 0; }
inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t = nullptr) { return cudaMemset(d, v, n); }
inline cudaError_t cudaDeviceSynchronize() { return 0; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return 0; }

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

// vector_types.h: the 16-byte vector a kernel reads shared memory with (reinterpret_cast of an
// __align__(16) float array, as on the device).
struct alignas(16) float4 {
    float x, y, z, w;
};

inline int min(int a, int b) { return a < b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }

void emu_warp_barrier();
void emu_block_barrier();
extern float emu_shfl_slots[1024];
inline void __syncthreads() { emu_block_barrier(); }
// Threads run one at a time and switch only at barriers: a plain read-modify-write is atomic.
inline int atomicAdd(int* p, int v) { int old = *p; *p = old + v; return old; }
inline float __shfl_xor_sync(unsigned, float v, int offset) {
    unsigned tid = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    emu_shfl_slots[tid] = v;
    emu_warp_barrier();
    float r = emu_shfl_slots[tid ^ unsigned(offset)];
    emu_warp_barrier();
    return r;
}

namespace emu {
struct Kernel { virtual void run() = 0; virtual ~Kernel() {} };
void launch(const dim3& grid, const dim3& block, size_t shared, Kernel& k);
template <class... P> struct Bound : Kernel {
    void (*f)(P...);
    std::tuple<typename std::decay<P>::type...> args;
    template <class... A> Bound(void (*f_)(P...), A&&... a) : f(f_), args(std::forward<A>(a)...) {}
    void run() override { std::apply(f, args); }
};
struct Launch {
    dim3 grid, block; size_t shared;
    Launch(dim3 g, dim3 b, size_t s = 0, cudaStream_t = nullptr) : grid(g), block(b), shared(s) {}
    template <class... P, class... A> void run(void (*f)(P...), A&&... a) {
        Bound<P...> k(f, std::forward<A>(a)...);
        launch(grid, block, shared, k);
    }
};
}  // namespace emu
