// The CUDA entry points of a library built without nvcc: every one answers
// JNORA_STATUS_CUDA_NOT_BUILT, so callers see one clear reason instead of a missing symbol.
#include <climits>
#include "errors.h"

#define JNORA_NOT_BUILT() JNORA_FAIL(JNORA_STATUS_CUDA_NOT_BUILT, "jnora was built without nvcc")

extern "C" {

int jnora_cuda_compiled(void) { return 0; }

jnora_status_t jnora_cuda_device_count(int* count) {
    if (count) *count = 0;
    return JNORA_NOT_BUILT();
}

jnora_status_t jnora_cuda_device_info(int, char* name, int name_len, int*, int*, long long*) {
    if (name && name_len > 0) name[0] = '\0';
    return JNORA_NOT_BUILT();
}

jnora_status_t jnora_create(jnora_handle_t* handle) {
    if (handle) *handle = nullptr;
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_destroy(jnora_handle_t) { return JNORA_NOT_BUILT(); }
jnora_status_t jnora_set_stream(jnora_handle_t, void*) { return JNORA_NOT_BUILT(); }
jnora_status_t jnora_stream_synchronize(jnora_handle_t) { return JNORA_NOT_BUILT(); }

jnora_status_t jnora_shrink(jnora_handle_t, int, int, int, float, const float*, int, const float*,
                            long long, long long, float*, int) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_expand(jnora_handle_t, int, int, int, float, const float*, int, const float*,
                            long long, long long, float, float*, int) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_weight_grad(jnora_handle_t, int, int, int, const float*, int, const float*,
                                 int, float*, int) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_inner_forward(jnora_handle_t, int, int, int, float, const float*, int,
                                   const float*, const float*, float*, int, float*, int) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_inner_backward(jnora_handle_t, int, int, int, const float*, int,
                                    const float*, const float*, float*, int, float*, int) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_activation_stats_workspace_size(int, int, size_t* bytes) {
    if (bytes) *bytes = 0;
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_activation_stats(jnora_handle_t, int, int, const float*, int, double*, double*,
                                      float*, void*, size_t) {
    return JNORA_NOT_BUILT();
}

jnora_status_t jnora_convert(jnora_handle_t, long long, jnora_precision_t, const void*, jnora_precision_t, void*) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_decode_forward_half(jnora_handle_t, jnora_precision_t, int, int, int, const void*, int,
                                         const void*, int, int, float, const void*, int, const void*, int, int, float*,
                                         void*, int) {
    return JNORA_NOT_BUILT();
}
int jnora_decode_splits(int, int, int) {
    return 1;
}
jnora_status_t jnora_decode_forward(jnora_handle_t, int, int, int, const float*, int, const float*, int, int, float,
                                    const float*, int, const float*, int, int, float*, float*, int) {
    return JNORA_NOT_BUILT();
}
int jnora_grouped_splits(int, int, int) {
    return 1;  // nothing to split without kernels
}
jnora_status_t jnora_grouped_shrink(jnora_handle_t, int, int, const float*, int, const int*, int,
                                    const float* const*, const int*, int, int, float*, int) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_grouped_expand(jnora_handle_t, int, int, const float*, int, int, const int*, int,
                                    const float* const*, const int*, const float*, float*, int) {
    return JNORA_NOT_BUILT();
}
int jnora_segmented_splits(int, int, int) {
    return 1;
}
int jnora_segment_layout_workspace_ints(int adapters) {
    if (adapters <= 0) return 0;
    return adapters > INT_MAX / 2 ? -1 : 2 * adapters;
}
jnora_status_t jnora_segment_layout_device(jnora_handle_t, int, const int*, int, int*, int*, int, int*) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_segmented_shrink(jnora_handle_t, int, int, const float*, int, const int*, const int*, int, int,
                                      const float* const*, const int*, int, int, float*, int) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_segmented_expand(jnora_handle_t, int, int, const float*, int, int, const int*, const int*, int,
                                      int, const float* const*, const int*, const float*, float*, int) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_grouped_shrink_half(jnora_handle_t, jnora_precision_t, int, int, const void*, int, const int*,
                                         int, const void* const*, const int*, int, int, float*, int) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_grouped_expand_half(jnora_handle_t, jnora_precision_t, int, int, const float*, int, int,
                                         const int*, int, const void* const*, const int*, const float*, void*, int) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_segmented_shrink_half(jnora_handle_t, jnora_precision_t, int, int, const void*, int, const int*,
                                           const int*, int, int, const void* const*, const int*, int, int, float*,
                                           int) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_segmented_expand_half(jnora_handle_t, jnora_precision_t, int, int, const float*, int, int,
                                           const int*, const int*, int, int, const void* const*, const int*,
                                           const float*, void*, int) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_widen_to_double(jnora_handle_t, int, int, const float*, int, double*) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_multi_tensor_workspace_size(int, size_t* bytes) {
    if (bytes) *bytes = 0;
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_adamw_step(jnora_handle_t, int, float* const*, const float* const*, float* const*,
                                float* const*, const long long*, float, float, float, float, float, float,
                                int, void*, size_t) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_sum_of_squares(jnora_handle_t, int, const float* const*, const long long*, double*,
                                    void*, size_t) {
    return JNORA_NOT_BUILT();
}
jnora_status_t jnora_multiply_add(jnora_handle_t, long long, float, const float*, const float*, float,
                                  float*) {
    return JNORA_NOT_BUILT();
}

}  // extern "C"
