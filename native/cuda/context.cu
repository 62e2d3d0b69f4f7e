// Device discovery and the handle (the stream every launch goes to).
// cudart is linked statically, so this library loads on a machine without a driver; there
// cudaGetDeviceCount answers cudaErrorInsufficientDriver and we report NO_DEVICE.
#include <cstring>
#include <new>

#include "cuda_check.cuh"

extern "C" {

int jnora_cuda_compiled(void) { return 1; }

jnora_status_t jnora_cuda_device_count(int* count) {
    JNORA_REQUIRE(count != nullptr, "jnora_cuda_device_count: count is NULL");
    *count = 0;
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        cudaGetLastError();  // clear the sticky-free error so later calls start clean
        return JNORA_FAIL(JNORA_STATUS_NO_DEVICE, "cudaGetDeviceCount: %s (%s, error %d)",
                          cudaGetErrorName(err), cudaGetErrorString(err), static_cast<int>(err));
    }
    if (n == 0) return JNORA_FAIL(JNORA_STATUS_NO_DEVICE, "cudaGetDeviceCount: 0 devices");
    *count = n;
    return JNORA_STATUS_SUCCESS;
}

jnora_status_t jnora_cuda_device_info(int device, char* name, int name_len, int* major,
                                      int* minor, long long* total_memory_bytes) {
    JNORA_REQUIRE(name != nullptr && name_len >= 1 && major && minor && total_memory_bytes,
                  "jnora_cuda_device_info: NULL output or name_len < 1");
    cudaDeviceProp prop;
    JNORA_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    std::strncpy(name, prop.name, static_cast<size_t>(name_len) - 1);
    name[name_len - 1] = '\0';
    *major = prop.major;
    *minor = prop.minor;
    *total_memory_bytes = static_cast<long long>(prop.totalGlobalMem);
    return JNORA_STATUS_SUCCESS;
}

jnora_status_t jnora_create(jnora_handle_t* handle) {
    JNORA_REQUIRE(handle != nullptr, "jnora_create: handle is NULL");
    *handle = new (std::nothrow) jnora_context{nullptr};
    if (*handle == nullptr) return JNORA_FAIL(JNORA_STATUS_ALLOC_FAILED, "jnora_create");
    return JNORA_STATUS_SUCCESS;
}

jnora_status_t jnora_destroy(jnora_handle_t handle) {
    delete handle;  // the stream belongs to the caller
    return JNORA_STATUS_SUCCESS;
}

jnora_status_t jnora_set_stream(jnora_handle_t handle, void* stream) {
    JNORA_REQUIRE(handle != nullptr, "jnora_set_stream: handle is NULL");
    handle->stream = static_cast<cudaStream_t>(stream);
    return JNORA_STATUS_SUCCESS;
}

jnora_status_t jnora_stream_synchronize(jnora_handle_t handle) {
    JNORA_REQUIRE(handle != nullptr, "jnora_stream_synchronize: handle is NULL");
    JNORA_CUDA_CHECK(cudaStreamSynchronize(handle->stream));
    return JNORA_STATUS_SUCCESS;
}

}  // extern "C"
