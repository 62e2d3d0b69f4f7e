/*
 * jnora C API: nested low-rank adapter kernels (SPEC §2.5, §2.6).
 *
 * Conventions, stated once for every function below:
 *  - Matrices are row-major float32. A matrix "P (rows x cols, ld)" has element (i, j) at
 *    P[i * ld + j], ld >= cols. Where a function takes two strides instead of a leading
 *    dimension, element (i, j) is at P[i * s_row + j * s_col]: a transposed view is
 *    expressed by swapping the strides, never by copying.
 *  - Every function returns a jnora_status_t; none throws, aborts or exits. After a failure,
 *    jnora_last_error() gives a message with the file and line where it was detected.
 *  - Pointers passed to the kernel launchers are device pointers. Launches are asynchronous
 *    on the stream held by the handle; nothing allocates memory behind the caller.
 *  - A library built without CUDA still exports every symbol: the CUDA entry points then
 *    return JNORA_STATUS_CUDA_NOT_BUILT.
 */
#ifndef JNORA_H
#define JNORA_H

#include <stddef.h> /* size_t */

#ifdef __cplusplus
extern "C" {
#endif

#define JNORA_VERSION_MAJOR 0
#define JNORA_VERSION_MINOR 1
#define JNORA_VERSION_PATCH 0

typedef enum {
    JNORA_STATUS_SUCCESS = 0,
    JNORA_STATUS_INVALID_VALUE = 1,     /* a size, stride or pointer argument is invalid */
    JNORA_STATUS_CUDA_NOT_BUILT = 2,    /* the library was built without nvcc */
    JNORA_STATUS_NO_DEVICE = 3,         /* no usable device or driver */
    JNORA_STATUS_CUDA_ERROR = 4,        /* a CUDA runtime call or a launch failed */
    JNORA_STATUS_ALLOC_FAILED = 5       /* host memory for a handle could not be allocated */
} jnora_status_t;

/* Element precisions of matrices (half precisions: 2-byte elements). */
typedef enum { JNORA_FLOAT32 = 0, JNORA_BFLOAT16 = 1, JNORA_FLOAT16 = 2 } jnora_precision_t;

/* An explicit context: the stream every launch goes to. Opaque to callers. */
typedef struct jnora_context* jnora_handle_t;

/* Version encoded as major * 10000 + minor * 100 + patch. */
int jnora_version(void);

/* 1 when the CUDA kernels were compiled into this library, else 0. */
int jnora_cuda_compiled(void);

/* A static string for a status code. */
const char* jnora_status_string(jnora_status_t status);

/* The message of the last failure on this thread ("" when none). */
const char* jnora_last_error(void);

/* Number of CUDA devices. Without a driver or device this returns JNORA_STATUS_NO_DEVICE
 * with *count = 0 and the CUDA error in jnora_last_error(); it never crashes. */
jnora_status_t jnora_cuda_device_count(int* count);

/* Name, compute capability and memory of a device, for `jnora info`. name_len >= 1. */
jnora_status_t jnora_cuda_device_info(int device, char* name, int name_len, int* major,
                                      int* minor, long long* total_memory_bytes);

jnora_status_t jnora_create(jnora_handle_t* handle);
jnora_status_t jnora_destroy(jnora_handle_t handle);
/* stream is a cudaStream_t (NULL: the legacy default stream). */
jnora_status_t jnora_set_stream(jnora_handle_t handle, void* stream);
jnora_status_t jnora_stream_synchronize(jnora_handle_t handle);

/* Shrink: Z = alpha * X * F^T, with X (rows x k_dim, ldx), F a (cols x k_dim) view given by
 * strides, Z (rows x cols, ldz). The low-rank "down" projection: Z1 = X A^T (F = A, cols = r),
 * and in the backward dZ3 = s * dY B (F = B^T, a strided view of B). */
jnora_status_t jnora_shrink(jnora_handle_t handle, int rows, int cols, int k_dim, float alpha,
                            const float* x, int ldx, const float* f, long long f_row_stride,
                            long long f_col_stride, float* z, int ldz);

/* Expand: Y = beta * Y + alpha * Z * G^T, with Z (rows x k_dim, ldz), G a (cols x k_dim) view
 * given by strides, Y (rows x cols, ldy). The "up" projection accumulating into the base
 * output (beta = 1): Y += s * Z3 B^T, and in the backward dX += dZ1 A (G = A^T). */
jnora_status_t jnora_expand(jnora_handle_t handle, int rows, int cols, int k_dim, float alpha,
                            const float* z, int ldz, const float* g, long long g_row_stride,
                            long long g_col_stride, float beta, float* y, int ldy);

/* Weight gradient: G = P^T * Q summed over the rows, P (rows x p_cols, ldp), Q (rows x q_cols,
 * ldq), G (p_cols x q_cols, ldg). dB' = dZ3^T Z2 and dA' = dZ2^T Z1 (SPEC §2.6). */
jnora_status_t jnora_weight_grad(jnora_handle_t handle, int rows, int p_cols, int q_cols,
                                 const float* p, int ldp, const float* q, int ldq, float* g,
                                 int ldg);

/* Inner transform, forward, row by row: Z2 = Z1 A'^T (rows x r_in), Z3 = s * Z2 B'^T
 * (rows x r). Z1 (rows x r, ldz1); A' (r_in x r, dense); B' (r x r_in, dense). */
jnora_status_t jnora_inner_forward(jnora_handle_t handle, int rows, int r, int r_in, float s,
                                   const float* z1, int ldz1, const float* inner_a,
                                   const float* inner_b, float* z2, int ldz2, float* z3,
                                   int ldz3);

/* Inner transform, backward, row by row: dZ2 = dZ3 B' (rows x r_in), dZ1 = dZ2 A' (rows x r).
 * dZ3 (rows x r, lddz3) already carries the scale s. */
jnora_status_t jnora_inner_backward(jnora_handle_t handle, int rows, int r, int r_in,
                                    const float* dz3, int lddz3, const float* inner_a,
                                    const float* inner_b, float* dz2, int lddz2, float* dz1,
                                    int lddz1);

/* Activation statistics of one batch (SPEC §2.1): for X (rows x cols, ldx), per column j
 *     sum_abs[j] = sum_t |X(t, j)|,   sum_sq[j] = sum_t X(t, j)^2,   max_abs[j] = max_t |X(t, j)|
 * accumulated in double in one pass over X, deterministic (no atomics). The outputs (cols values
 * each, device memory) are overwritten, not accumulated: rows = 0 writes zeros. A non-finite
 * element makes sum_abs and sum_sq of its column non-finite (max_abs may not show it).
 * workspace: device memory of at least the bytes given by jnora_activation_stats_workspace_size
 * for the same rows and cols, 8-byte aligned (cudaMalloc's is); its contents need no setup. */
jnora_status_t jnora_activation_stats_workspace_size(int rows, int cols, size_t* bytes);

jnora_status_t jnora_activation_stats(jnora_handle_t handle, int rows, int cols, const float* x,
                                      int ldx, double* sum_abs, double* sum_sq, float* max_abs,
                                      void* workspace, size_t workspace_bytes);

/* Several adapters in one batch (SPEC §2.9), per row t with adapter a = row_adapter[t] (-1: none):
 *     Z[t, 0:r_a] = X[t, :] A_a^T                          (jnora_grouped_shrink)
 *     Y[t, :]    += scale_a * Z[t, 0:r_a] B_a^T            (jnora_grouped_expand)
 * A_a (r_a x n) and B_a (m x r_a) are dense row-major effective factors found through device tables
 * indexed by a: a_ptrs[a], b_ptrs[a] (device pointers), ranks[a], scales[a]; row_adapter is a device
 * array of `rows` ints. Each row computes only its own adapter's r_a columns (no padding to the
 * largest rank); Z has ldz >= max_rank and its columns past r_a are not written; rows with no
 * adapter leave Y untouched. `adapters` bounds the indices: a row whose index is >= adapters is
 * skipped like -1 (the host validates indices before upload). No host loop over adapters, no
 * allocation, no synchronisation: graph-capturable.
 *
 * Split-K: the shrink may cut n into `splits` slices (more blocks for decode-sized batches, where
 * rows x ranks alone cannot fill the GPU). Z then holds `splits` planes of rows x ldz partial sums,
 * plane s at z + s * rows * ldz, and the expand adds them in plane order (deterministic; no atomics,
 * no memset). jnora_grouped_splits gives the library's choice for a shape (1 <= splits <= 32; 1 for
 * large batches): size Z as splits * rows * ldz floats and pass the same `splits` to both calls. */
int jnora_grouped_splits(int rows, int n, int max_rank);

jnora_status_t jnora_grouped_shrink(jnora_handle_t handle, int rows, int n, const float* x, int ldx,
                                    const int* row_adapter, int adapters, const float* const* a_ptrs,
                                    const int* ranks, int max_rank, int splits, float* z, int ldz);

jnora_status_t jnora_grouped_expand(jnora_handle_t handle, int rows, int m, const float* z, int ldz, int splits,
                                    const int* row_adapter, int adapters, const float* const* b_ptrs,
                                    const int* ranks, const float* scales, float* y, int ldy);

/* The same in bfloat16 or float16 (precision JNORA_BFLOAT16 / JNORA_FLOAT16): X, the factors A_a and
 * B_a, and Y hold 2-byte elements; products and sums are float32, Z is float32, and each element of Y
 * is rounded once, from float(Y) + scale_a * (Z B_a^T). */
jnora_status_t jnora_grouped_shrink_half(jnora_handle_t handle, jnora_precision_t precision, int rows, int n,
                                         const void* x, int ldx, const int* row_adapter, int adapters,
                                         const void* const* a_ptrs, const int* ranks, int max_rank, int splits,
                                         float* z, int ldz);

jnora_status_t jnora_grouped_expand_half(jnora_handle_t handle, jnora_precision_t precision, int rows, int m,
                                         const float* z, int ldz, int splits, const int* row_adapter, int adapters,
                                         const void* const* b_ptrs, const int* ranks, const float* scales, void* y,
                                         int ldy);

/* The same per-row adapter terms for prefill-sized batches, segment-grouped (SGMV): the rows are
 * gathered by adapter, so a block reads a tile of up to JNORA_SEGMENT_ROWS rows of one adapter and
 * that adapter's factors once, instead of once per row as jnora_grouped_shrink/expand do.
 *
 * The layout is built on the device by jnora_segment_layout_device from the rows' adapter indices
 * in device memory (part of what a CUDA graph records), or on the host by jnora_segment_layout (no
 * CUDA needed; the reference): row_order lists the rows that have an adapter (0 <= a < adapters),
 * grouped by adapter in ascending order (in row order within one on the host, in any order on the
 * device, which changes no result); tiles[0] is the number of tiles and tile i is the
 * three ints tiles[1 + 3i ..] = {adapter, first position in row_order, rows (1..JNORA_SEGMENT_ROWS)}.
 * A batch of `rows` rows never needs more than jnora_segment_tiles_capacity(rows, adapters) tiles:
 * size tiles as 1 + 3 * that, and pass the same capacity to the kernels (it sets their grid, so a
 * captured CUDA graph stays valid for any layout of the same rows and adapters; blocks past
 * tiles[0] exit at once). Both arrays live in device memory for the kernels.
 *
 * Z and its split-K planes are as for jnora_grouped_shrink (row t's values at z + t * ldz), with
 * jnora_segmented_splits in place of jnora_grouped_splits. Entries of row_order >= rows are skipped
 * (a layout made for a larger batch never leads the kernels past `rows` rows of X, Z or Y).
 * Sizes: jnora_segment_tiles_capacity returns INT_MAX where the count would not fit an int (no
 * tiles array can then be large enough, and the calls refuse).
 * Deterministic, graph-capturable. */
#define JNORA_SEGMENT_ROWS 64

int jnora_segment_tiles_capacity(int rows, int adapters);

jnora_status_t jnora_segment_layout(int rows, const int* row_adapter, int adapters, int* row_order, int* tiles,
                                    int max_tiles);

/* The same layout on the device, on the handle's stream: row_adapter, row_order and tiles in device
 * memory, workspace of jnora_segment_layout_workspace_ints(adapters) ints of device memory. One
 * small launch; asynchronous, graph-capturable. The tiles equal jnora_segment_layout's. */
int jnora_segment_layout_workspace_ints(int adapters);

jnora_status_t jnora_segment_layout_device(jnora_handle_t handle, int rows, const int* row_adapter, int adapters,
                                           int* row_order, int* tiles, int max_tiles, int* workspace);

int jnora_segmented_splits(int rows, int n, int max_rank);

jnora_status_t jnora_segmented_shrink(jnora_handle_t handle, int rows, int n, const float* x, int ldx,
                                      const int* row_order, const int* tiles, int max_tiles, int adapters,
                                      const float* const* a_ptrs, const int* ranks, int max_rank, int splits,
                                      float* z, int ldz);

jnora_status_t jnora_segmented_expand(jnora_handle_t handle, int rows, int m, const float* z, int ldz,
                                      int splits, const int* row_order, const int* tiles, int max_tiles,
                                      int adapters, const float* const* b_ptrs, const int* ranks,
                                      const float* scales, float* y, int ldy);

/* The segment-grouped kernels in bfloat16 or float16, as jnora_grouped_shrink_half/expand_half. */
jnora_status_t jnora_segmented_shrink_half(jnora_handle_t handle, jnora_precision_t precision, int rows, int n,
                                           const void* x, int ldx, const int* row_order, const int* tiles,
                                           int max_tiles, int adapters, const void* const* a_ptrs, const int* ranks,
                                           int max_rank, int splits, float* z, int ldz);

jnora_status_t jnora_segmented_expand_half(jnora_handle_t handle, jnora_precision_t precision, int rows, int m,
                                           const float* z, int ldz, int splits, const int* row_order,
                                           const int* tiles, int max_tiles, int adapters, const void* const* b_ptrs,
                                           const int* ranks, const float* scales, void* y, int ldy);

/* Decode-sized forward on cached effective factors (SPEC §2.5), rows <= JNORA_DECODE_MAX_ROWS:
 *     Y[t, j] = X[t, :] W[j, :]^T + scale * (X[t, :] A^T) B[j, :]^T
 * X (rows x n, ldx), W (m x n, ldw), A (k x n, lda), B (m x k, ldb), Y (rows x m, ldy) is written
 * whole (never read). Two launches: a split-K shrink of X A^T into `splits` partial planes of z, then
 * one GEMV that streams W and adds the low-rank term as k extra reduction columns: no pass over Y
 * besides its one write. z: device scratch of splits * rows * max(k, 1) floats (contents need no
 * setup); splits from jnora_decode_splits (or any 1 <= splits <= n). k = 0 computes X W^T alone.
 * No allocation, no synchronisation: graph-capturable. */
#define JNORA_DECODE_MAX_ROWS 16
#define JNORA_DECODE_MAX_RANK 512

int jnora_decode_splits(int rows, int n, int k);

jnora_status_t jnora_decode_forward(jnora_handle_t handle, int rows, int m, int n, const float* x, int ldx,
                                    const float* w, int ldw, int k, float scale, const float* a, int lda,
                                    const float* b, int ldb, int splits, float* z, float* y, int ldy);

/* dst[i] = src[i] converted between precisions (round to nearest, ties to even) for i < n;
 * src and dst must not overlap. Graph-capturable. */
jnora_status_t jnora_convert(jnora_handle_t handle, long long n, jnora_precision_t from, const void* src,
                             jnora_precision_t to, void* dst);

/* jnora_decode_forward with X, W, A, B and Y of a half precision (JNORA_BFLOAT16 or JNORA_FLOAT16):
 * products and sums in float32, z float32 as there, Y rounded to nearest once. */
jnora_status_t jnora_decode_forward_half(jnora_handle_t handle, jnora_precision_t precision, int rows, int m, int n,
                                         const void* x, int ldx, const void* w, int ldw, int k, float scale,
                                         const void* a, int lda, const void* b, int ldb, int splits, float* z, void* y,
                                         int ldy);

/* Widening copy: out[i] = (double) x[i] for rows x cols of X (ldx) into a dense rows x cols array.
 * It feeds the covariance of the statistics to a float64 SYRK, so that XᵀX is summed in double
 * (SPEC §2.1) as on the CPU. */
jnora_status_t jnora_widen_to_double(jnora_handle_t handle, int rows, int cols, const float* x, int ldx,
                                     double* out);

/* Training (SPEC §2.10; native/cuda/adamw.cu). A "tensor list" is tensor_count device pointers
 * passed in HOST arrays, with sizes[i] >= 0 floats each (a pointer may be NULL where its size is 0).
 * The list is copied into the caller's workspace, which must hold at least the bytes given by
 * jnora_multi_tensor_workspace_size for the same tensor_count, 8-byte aligned; its contents need no
 * setup and it may be reused by the next call on the same stream. One launch covers the whole list. */
jnora_status_t jnora_multi_tensor_workspace_size(int tensor_count, size_t* bytes);

/* AdamW with decoupled weight decay, in place, over every tensor of the list; per element, with
 * g = grad_scale * grads[i][k] (grad_scale < 1 when the caller clipped the global gradient norm):
 *     p = p * (1 - lr * weight_decay)
 *     m = beta1 * m + (1 - beta1) * g,    v = beta2 * v + (1 - beta2) * g * g
 *     p = p - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
 * as torch.optim.AdamW. step >= 1 is this update's number (1 for the first). Deterministic. */
jnora_status_t jnora_adamw_step(jnora_handle_t handle, int tensor_count, float* const* params,
                                const float* const* grads, float* const* exp_avg,
                                float* const* exp_avg_sq, const long long* sizes, float lr,
                                float beta1, float beta2, float eps, float weight_decay,
                                float grad_scale, int step, void* workspace, size_t workspace_bytes);

/* *result (one double, device memory) = sum over the list of sum x^2, accumulated in double by a
 * deterministic two-stage reduction (the same bits on every run and device); 0 for an empty list. */
jnora_status_t jnora_sum_of_squares(jnora_handle_t handle, int tensor_count,
                                    const float* const* tensors, const long long* sizes,
                                    double* result, void* workspace, size_t workspace_bytes);

/* Elementwise out = alpha * a * b + beta * out over `elements` floats (b NULL: alpha * a + beta * out).
 * beta == 0 never reads out; out may alias a or b. Dropout (X times a scaled mask) and the
 * regression residual (Y - target) are both this. */
jnora_status_t jnora_multiply_add(jnora_handle_t handle, long long elements, float alpha,
                                  const float* a, const float* b, float beta, float* out);

#ifdef __cplusplus
}
#endif

#endif /* JNORA_H */
