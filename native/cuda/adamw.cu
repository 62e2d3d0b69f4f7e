// Training primitives (SPEC §2.10): AdamW over every trainable tensor of a model in one launch,
// the global sum of squares for gradient-norm clipping, and the elementwise multiply-add behind
// dropout and the regression residual.
//
//   AdamW, per element, with g = grad_scale * grad (grad_scale < 1 when the global norm is clipped):
//       p = p * (1 - lr * wd)                                  decoupled decay (Loshchilov–Hutter)
//       m = beta1 * m + (1 - beta1) * g
//       v = beta2 * v + (1 - beta2) * g * g
//       p = p - (lr / (1 - beta1^t)) * (m / (sqrt(v) / sqrt(1 - beta2^t) + eps))
//   as torch.optim.AdamW (non-fused, non-capturable) computes it; t >= 1 is the update's number.
//   sum of squares:   result = sum over tensors, sum over elements of double(x)^2
//   multiply-add:     out = alpha * a * b + beta * out    (b NULL: alpha * a + beta * out)
//
// Bit-for-bit agreement with the CPU backend: the scalars that depend on t (the bias corrections)
// are formed on the host in double by the same operations as io.jnora.backend.AdamWScalars
// (powers by repeated squaring, not pow(), whose last bit differs between libraries), and the
// per-element arithmetic uses the round-to-nearest intrinsics (__fmul_rn, __fadd_rn, ...), which
// nvcc never contracts into FMAs, in the same order as the Java loop. With the same inputs both
// produce the same floats; the tests still compare with a tolerance of a few ulps.
//
// Multi-tensor layout: the caller passes host arrays of device pointers; the launcher copies them
// and the sizes into the caller's workspace (jnora_multi_tensor_workspace_size) as a table:
//   params[count] grads[count] exp_avg[count] exp_avg_sq[count] sizes[count] chunk_start[count+1]
//   then kMaxSumBlocks doubles of sum-of-squares partials.
// Each tensor is cut into chunks of kChunk elements (its last chunk may be short); chunk_start is
// the prefix sum of the chunk counts, so the chunks of all tensors form one index space and block
// b takes chunks b, b + gridDim.x, ... For each chunk a binary search in chunk_start finds its
// tensor (log2(count) cached loads, once per chunk). A chunk never straddles two tensors, so
// consecutive threads touch consecutive addresses of one tensor: loads coalesce.
// The table is copied with cudaMemcpyAsync from pageable memory, which returns once the host
// bytes are staged, so the launcher's temporary host vector may go out of scope right away.
//
// Determinism: no atomics. The sum of squares is two-stage: a grid sized from the element count
// alone (never from the device) writes one double partial per block, each thread walking a fixed
// sequence of elements and the block reducing by a fixed tree; one block then adds the partials
// by a fixed tree. The same tensors give the same bits on every run and every GPU.
//
// Order in this file: the CPU references, kernel 1 (per tensor: one launch each), kernel 2
// (multi-tensor: one launch for the whole list), the sum of squares (1: one block per tensor,
// 2: two-stage), the multiply-add, the launchers, the C API.
// Check: target/native/jnora_kernel_check (see lowrank_gemm.cu) runs both versions of each
// against the references on odd sizes, including empty tensors and tensors above kChunk.
//
// Napkin math on an H100 SXM (~3.35 TB/s): AdamW reads p, g, m, v and writes p, m, v: 28 bytes
// per parameter. NoRA at r = 256, r_in = 16 on the q and v projections of a 32-layer model: 64
// layers x 2 tensors x 4096 = 524k parameters -> 14.7 MB -> ~5 us of bandwidth, ~20 FLOP per
// element (~10 MFLOP, nothing). One launch (~3 us) plus the 6 KiB table upload instead of 128
// launches (~0.4 ms of launch latency alone): the multi-tensor kernel is what makes the update
// cost the bandwidth floor. The grid: 524k / 4096 = 128 chunks -> 128 blocks of 256 threads, 16
// elements per thread; a bigger model fills all 132 SMs. The sum of squares reads 4 bytes per
// element (2 MB -> ~1 us) plus two launches; the partials are at most 8 KiB. The multiply-add of
// dropout on X (T x n = 4096 x 4096) moves 3 x 64 MiB -> ~60 us, ~1/40 of the base GEMM's 2.5 ms
// at that shape. These are estimates: the kernels have not yet run on a GPU.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cuda_check.cuh"
#include "kernels.cuh"

namespace jnora {

namespace {
// x^e by repeated squaring in double: IEEE operations only, so Java and C++ agree to the bit.
double power(double x, int e) {
    double result = 1.0, base = x;
    while (e > 0) {
        if (e & 1) result *= base;
        base *= base;
        e >>= 1;
    }
    return result;
}
}  // namespace

AdamWScalars adamw_scalars(const AdamWHyper& h) {
    AdamWScalars s;
    s.decay = float(1.0 - double(h.lr) * double(h.weight_decay));
    s.beta1 = h.beta1;
    s.beta2 = h.beta2;
    s.one_minus_beta1 = float(1.0 - double(h.beta1));
    s.one_minus_beta2 = float(1.0 - double(h.beta2));
    s.step_size = float(double(h.lr) / (1.0 - power(double(h.beta1), h.step)));
    s.bias_correction2_sqrt = float(std::sqrt(1.0 - power(double(h.beta2), h.step)));
    s.eps = h.eps;
    s.grad_scale = h.grad_scale;
    return s;
}

namespace reference {
void adamw(long long n, float* p, const float* g, float* m, float* v, const AdamWScalars& s) {
    for (long long i = 0; i < n; ++i) {
        volatile float gi = g[i] * s.grad_scale;  // volatile: no contraction by the host compiler
        volatile float pi = p[i] * s.decay;
        volatile float mi = s.beta1 * m[i] + s.one_minus_beta1 * gi;
        volatile float vi = s.beta2 * v[i] + (s.one_minus_beta2 * gi) * gi;
        volatile float denom = std::sqrt(float(vi)) / s.bias_correction2_sqrt + s.eps;
        volatile float ratio = mi / denom;
        p[i] = pi - s.step_size * ratio;
        m[i] = mi;
        v[i] = vi;
    }
}

double sum_of_squares(int count, const float* const* tensors, const long long* sizes) {
    double total = 0.0;
    for (int t = 0; t < count; ++t)
        for (long long i = 0; i < sizes[t]; ++i) total += double(tensors[t][i]) * double(tensors[t][i]);
    return total;
}

void multiply_add(long long n, float alpha, const float* a, const float* b, float beta, float* out) {
    for (long long i = 0; i < n; ++i) {
        volatile float t = alpha * a[i];
        if (b != nullptr) t = t * b[i];
        if (beta != 0.0f) t = t + beta * out[i];
        out[i] = t;
    }
}
}  // namespace reference

namespace {

constexpr int kChunk = 4096;         // elements per chunk: one block's unit of work
constexpr int kThreads = 256;        // 16 elements of a chunk per thread
constexpr int kMaxAdamBlocks = 8192;  // grid cap; blocks then stride over the chunks
constexpr int kMaxSumBlocks = 1024;  // the sum's partials: at most 8 KiB
constexpr int kMaxTensors = 1 << 20;

// The device table inside the workspace, as typed views (built on the host from its base address).
struct Table {
    float* const* params;
    const float* const* grads;
    float* const* exp_avg;
    float* const* exp_avg_sq;
    const long long* sizes;
    const long long* chunk_start;  // count + 1 entries
    double* partials;              // kMaxSumBlocks
};

size_t table_words(int count) { return size_t(6) * size_t(count) + 1; }

Table table_view(void* workspace, int count) {
    auto* words = static_cast<long long*>(workspace);
    Table t;
    t.params = reinterpret_cast<float* const*>(words);
    t.grads = reinterpret_cast<const float* const*>(words + count);
    t.exp_avg = reinterpret_cast<float* const*>(words + 2 * size_t(count));
    t.exp_avg_sq = reinterpret_cast<float* const*>(words + 3 * size_t(count));
    t.sizes = words + 4 * size_t(count);
    t.chunk_start = words + 5 * size_t(count);
    t.partials = reinterpret_cast<double*>(words + table_words(count));
    return t;
}

long long chunks_of(long long size) { return (size + kChunk - 1) / kChunk; }

// The one element update, shared by both AdamW kernels; the order of operations is the CPU's.
__device__ __forceinline__ void adamw_element(float* p, const float* g, float* m, float* v, long long i,
                                              const AdamWScalars& s) {
    float gi = __fmul_rn(g[i], s.grad_scale);
    float pi = __fmul_rn(p[i], s.decay);
    float mi = __fadd_rn(__fmul_rn(s.beta1, m[i]), __fmul_rn(s.one_minus_beta1, gi));
    float vi = __fadd_rn(__fmul_rn(s.beta2, v[i]), __fmul_rn(__fmul_rn(s.one_minus_beta2, gi), gi));
    float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), s.bias_correction2_sqrt), s.eps);
    p[i] = __fsub_rn(pi, __fmul_rn(s.step_size, __fdiv_rn(mi, denom)));
    m[i] = mi;
    v[i] = vi;
}

// Kernel 1: one tensor per launch, a thread per element (grid-stride). Obviously right; the host
// loops over the tensors, so a model with L trainable tensors pays L launches.
__global__ void adamw_per_tensor(long long n, float* __restrict__ p, const float* __restrict__ g,
                                 float* __restrict__ m, float* __restrict__ v, AdamWScalars s) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        adamw_element(p, g, m, v, i, s);
}

// The tensor that holds chunk c: the last t with chunk_start[t] <= c (empty tensors have
// chunk_start[t] == chunk_start[t + 1] and are never chosen).
__device__ __forceinline__ int tensor_of_chunk(const long long* chunk_start, int count, long long c) {
    int lo = 0, hi = count - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (chunk_start[mid] <= c) lo = mid; else hi = mid - 1;
    }
    return lo;
}

// Kernel 2, step up: every tensor in one launch. Blocks stride over the chunks of the whole list;
// the table lookup costs a binary search per chunk, the update is kernel 1's.
__global__ void __launch_bounds__(kThreads)
adamw_multi_tensor(Table table, int count, long long total_chunks, AdamWScalars s) {
    for (long long c = blockIdx.x; c < total_chunks; c += gridDim.x) {
        const int t = tensor_of_chunk(table.chunk_start, count, c);
        const long long begin = (c - table.chunk_start[t]) * kChunk;
        const long long end = min(table.sizes[t], begin + kChunk);
        float* p = table.params[t];
        const float* g = table.grads[t];
        float* m = table.exp_avg[t];
        float* v = table.exp_avg_sq[t];
        for (long long i = begin + threadIdx.x; i < end; i += kThreads) adamw_element(p, g, m, v, i, s);
    }
}

// A fixed-order tree over the block's kThreads doubles; the result is in s[0].
__device__ __forceinline__ void block_tree_sum(double* s) {
    for (int width = kThreads / 2; width > 0; width /= 2) {
        __syncthreads();
        if (threadIdx.x < width) s[threadIdx.x] += s[threadIdx.x + width];
    }
    __syncthreads();
}

// Sum of squares, kernel 1: one block walks one tensor and adds its total to *result (the
// launches of a list are ordered on the stream, so the order of additions is fixed).
__global__ void __launch_bounds__(kThreads)
sum_squares_one_block(long long n, const float* __restrict__ x, double* __restrict__ result, bool accumulate) {
    __shared__ double s[kThreads];
    double acc = 0.0;
    for (long long i = threadIdx.x; i < n; i += kThreads) acc += double(x[i]) * double(x[i]);
    s[threadIdx.x] = acc;
    block_tree_sum(s);
    if (threadIdx.x == 0) *result = accumulate ? *result + s[0] : s[0];
}

// Sum of squares, kernel 2, step up: a grid over the chunks of the whole list (as AdamW's), one
// double partial per block, then one block adds the partials. Many blocks read in parallel.
__global__ void __launch_bounds__(kThreads)
sum_squares_partials(Table table, int count, long long total_chunks) {
    __shared__ double s[kThreads];
    double acc = 0.0;
    for (long long c = blockIdx.x; c < total_chunks; c += gridDim.x) {
        const int t = tensor_of_chunk(table.chunk_start, count, c);
        const long long begin = (c - table.chunk_start[t]) * kChunk;
        const long long end = min(table.sizes[t], begin + kChunk);
        const float* x = table.grads[t];  // the sum reads its list through the grads column
        for (long long i = begin + threadIdx.x; i < end; i += kThreads) acc += double(x[i]) * double(x[i]);
    }
    s[threadIdx.x] = acc;
    block_tree_sum(s);
    if (threadIdx.x == 0) table.partials[blockIdx.x] = s[0];
}

__global__ void __launch_bounds__(kThreads)
sum_squares_final(int blocks, const double* __restrict__ partials, double* __restrict__ result) {
    __shared__ double s[kThreads];
    double acc = 0.0;
    for (int b = threadIdx.x; b < blocks; b += kThreads) acc += partials[b];
    s[threadIdx.x] = acc;
    block_tree_sum(s);
    if (threadIdx.x == 0) *result = s[0];
}

// out = alpha * a * b + beta * out, a thread per element (grid-stride); beta == 0 never reads out.
__global__ void multiply_add_kernel(long long n, float alpha, const float* a, const float* b, float beta,
                                    float* out) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float t = __fmul_rn(alpha, a[i]);
        if (b != nullptr) t = __fmul_rn(t, b[i]);
        if (beta != 0.0f) t = __fadd_rn(t, __fmul_rn(beta, out[i]));
        out[i] = t;
    }
}

int grid_for(long long elements, int cap) {
    long long blocks = (elements + kThreads - 1) / kThreads;
    return int(std::max(1LL, std::min(blocks, (long long)cap)));
}

// Validates a tensor list and, for kernel 2, uploads its table; total_chunks is set on success.
jnora_status_t upload_table(cudaStream_t stream, const char* op, int count, float* const* params,
                            const float* const* grads, float* const* exp_avg, float* const* exp_avg_sq,
                            const long long* sizes, void* workspace, size_t workspace_bytes, bool upload,
                            long long* total_chunks) {
    JNORA_REQUIRE(count >= 0 && count <= kMaxTensors, "%s: tensor_count = %d outside [0, %d]", op, count, kMaxTensors);
    JNORA_REQUIRE(count == 0 || sizes != nullptr, "%s: sizes is NULL", op);
    std::vector<long long> words(table_words(count));
    long long chunks = 0;
    for (int t = 0; t < count; ++t) {
        JNORA_REQUIRE(sizes[t] >= 0, "%s: sizes[%d] = %lld is negative", op, t, sizes[t]);
        bool need = sizes[t] > 0;
        JNORA_REQUIRE(!need || (grads != nullptr && grads[t] != nullptr), "%s: tensor %d (%lld elements) is NULL",
                      op, t, sizes[t]);
        JNORA_REQUIRE(!need || params == nullptr || (params[t] != nullptr && exp_avg[t] != nullptr && exp_avg_sq[t] != nullptr),
                      "%s: a parameter or moment of tensor %d (%lld elements) is NULL", op, t, sizes[t]);
        words[5 * size_t(count) + t] = chunks;
        chunks += chunks_of(sizes[t]);
        if (upload) {
            words[t] = params ? (long long)reinterpret_cast<uintptr_t>(params[t]) : 0;
            words[size_t(count) + t] = (long long)reinterpret_cast<uintptr_t>(grads[t]);
            words[2 * size_t(count) + t] = params ? (long long)reinterpret_cast<uintptr_t>(exp_avg[t]) : 0;
            words[3 * size_t(count) + t] = params ? (long long)reinterpret_cast<uintptr_t>(exp_avg_sq[t]) : 0;
            words[4 * size_t(count) + t] = sizes[t];
        }
    }
    words[6 * size_t(count)] = chunks;
    *total_chunks = chunks;
    if (!upload || chunks == 0) return JNORA_STATUS_SUCCESS;
    const size_t need_bytes = multi_tensor_workspace_bytes(count);
    JNORA_REQUIRE(workspace != nullptr && workspace_bytes >= need_bytes &&
                      reinterpret_cast<uintptr_t>(workspace) % alignof(double) == 0,
                  "%s: workspace of %zu bytes (need %zu, 8-byte aligned) for %d tensors", op, workspace_bytes,
                  need_bytes, count);
    JNORA_CUDA_CHECK(cudaMemcpyAsync(workspace, words.data(), words.size() * sizeof(long long),
                                     cudaMemcpyHostToDevice, stream));
    return JNORA_STATUS_SUCCESS;
}

}  // namespace

size_t multi_tensor_workspace_bytes(int tensor_count) {
    if (tensor_count < 0) return 0;
    return (table_words(tensor_count) + kMaxSumBlocks) * sizeof(long long);
}

jnora_status_t launch_adamw(MultiTensorVersion version, cudaStream_t stream, int count, float* const* params,
                            const float* const* grads, float* const* exp_avg, float* const* exp_avg_sq,
                            const long long* sizes, const AdamWHyper& hyper, void* workspace,
                            size_t workspace_bytes) {
    const char* op = "adamw";
    JNORA_REQUIRE(hyper.step >= 1, "%s: step = %d (the first update is step 1)", op, hyper.step);
    JNORA_REQUIRE(count == 0 || (params && grads && exp_avg && exp_avg_sq), "%s: a pointer array is NULL", op);
    long long total_chunks = 0;
    jnora_status_t st = upload_table(stream, op, count, params, grads, exp_avg, exp_avg_sq, sizes, workspace,
                                     workspace_bytes, version == MultiTensorVersion::MultiTensor, &total_chunks);
    if (st != JNORA_STATUS_SUCCESS) return st;
    const AdamWScalars s = adamw_scalars(hyper);
    if (version == MultiTensorVersion::PerTensor) {
        for (int t = 0; t < count; ++t) {
            if (sizes[t] == 0) continue;
            adamw_per_tensor<<<grid_for(sizes[t], kMaxAdamBlocks), kThreads, 0, stream>>>(
                sizes[t], params[t], grads[t], exp_avg[t], exp_avg_sq[t], s);
            JNORA_LAUNCH_CHECK(adamw_per_tensor);
        }
        return JNORA_STATUS_SUCCESS;
    }
    if (total_chunks == 0) return JNORA_STATUS_SUCCESS;
    const int blocks = int(std::min(total_chunks, (long long)kMaxAdamBlocks));
    adamw_multi_tensor<<<blocks, kThreads, 0, stream>>>(table_view(workspace, count), count, total_chunks, s);
    JNORA_LAUNCH_CHECK(adamw_multi_tensor);
    return JNORA_STATUS_SUCCESS;
}

jnora_status_t launch_sum_of_squares(MultiTensorVersion version, cudaStream_t stream, int count,
                                     const float* const* tensors, const long long* sizes, double* result,
                                     void* workspace, size_t workspace_bytes) {
    const char* op = "sum of squares";
    JNORA_REQUIRE(result != nullptr, "%s: result is NULL", op);
    JNORA_REQUIRE(count == 0 || tensors != nullptr, "%s: tensors is NULL", op);
    long long total_chunks = 0;
    jnora_status_t st = upload_table(stream, op, count, nullptr, tensors, nullptr, nullptr, sizes, workspace,
                                     workspace_bytes, version == MultiTensorVersion::MultiTensor, &total_chunks);
    if (st != JNORA_STATUS_SUCCESS) return st;
    if (version == MultiTensorVersion::PerTensor) {
        JNORA_CUDA_CHECK(cudaMemsetAsync(result, 0, sizeof(double), stream));
        for (int t = 0; t < count; ++t) {
            if (sizes[t] == 0) continue;
            sum_squares_one_block<<<1, kThreads, 0, stream>>>(sizes[t], tensors[t], result, true);
            JNORA_LAUNCH_CHECK(sum_squares_one_block);
        }
        return JNORA_STATUS_SUCCESS;
    }
    if (total_chunks == 0) {
        JNORA_CUDA_CHECK(cudaMemsetAsync(result, 0, sizeof(double), stream));
        return JNORA_STATUS_SUCCESS;
    }
    const Table table = table_view(workspace, count);
    const int blocks = int(std::min(total_chunks, (long long)kMaxSumBlocks));
    sum_squares_partials<<<blocks, kThreads, 0, stream>>>(table, count, total_chunks);
    JNORA_LAUNCH_CHECK(sum_squares_partials);
    sum_squares_final<<<1, kThreads, 0, stream>>>(blocks, table.partials, result);
    JNORA_LAUNCH_CHECK(sum_squares_final);
    return JNORA_STATUS_SUCCESS;
}

jnora_status_t launch_multiply_add(cudaStream_t stream, long long n, float alpha, const float* a, const float* b,
                                   float beta, float* out) {
    JNORA_REQUIRE(n >= 0, "multiply-add: negative element count %lld", n);
    if (n == 0) return JNORA_STATUS_SUCCESS;
    JNORA_REQUIRE(a != nullptr && out != nullptr, "multiply-add: a or out is NULL");
    multiply_add_kernel<<<grid_for(n, 65535), kThreads, 0, stream>>>(n, alpha, a, b, beta, out);
    JNORA_LAUNCH_CHECK(multiply_add_kernel);
    return JNORA_STATUS_SUCCESS;
}

}  // namespace jnora

extern "C" {

jnora_status_t jnora_multi_tensor_workspace_size(int tensor_count, size_t* bytes) {
    JNORA_REQUIRE(bytes != nullptr, "jnora_multi_tensor_workspace_size: bytes is NULL");
    JNORA_REQUIRE(tensor_count >= 0 && tensor_count <= jnora::kMaxTensors,
                  "jnora_multi_tensor_workspace_size: tensor_count = %d outside [0, %d]", tensor_count,
                  jnora::kMaxTensors);
    *bytes = jnora::multi_tensor_workspace_bytes(tensor_count);
    return JNORA_STATUS_SUCCESS;
}

jnora_status_t jnora_adamw_step(jnora_handle_t handle, int tensor_count, float* const* params,
                                const float* const* grads, float* const* exp_avg, float* const* exp_avg_sq,
                                const long long* sizes, float lr, float beta1, float beta2, float eps,
                                float weight_decay, float grad_scale, int step, void* workspace,
                                size_t workspace_bytes) {
    JNORA_REQUIRE(handle != nullptr, "jnora_adamw_step: handle is NULL");
    jnora::AdamWHyper h{lr, beta1, beta2, eps, weight_decay, grad_scale, step};
    return jnora::launch_adamw(jnora::MultiTensorVersion::MultiTensor, handle->stream, tensor_count, params, grads,
                               exp_avg, exp_avg_sq, sizes, h, workspace, workspace_bytes);
}

jnora_status_t jnora_sum_of_squares(jnora_handle_t handle, int tensor_count, const float* const* tensors,
                                    const long long* sizes, double* result, void* workspace,
                                    size_t workspace_bytes) {
    JNORA_REQUIRE(handle != nullptr, "jnora_sum_of_squares: handle is NULL");
    return jnora::launch_sum_of_squares(jnora::MultiTensorVersion::MultiTensor, handle->stream, tensor_count,
                                        tensors, sizes, result, workspace, workspace_bytes);
}

jnora_status_t jnora_multiply_add(jnora_handle_t handle, long long elements, float alpha, const float* a,
                                  const float* b, float beta, float* out) {
    JNORA_REQUIRE(handle != nullptr, "jnora_multiply_add: handle is NULL");
    return jnora::launch_multiply_add(handle->stream, elements, alpha, a, b, beta, out);
}

}  // extern "C"
