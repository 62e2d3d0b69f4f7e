// Status strings, the per-thread last-error message and the version: the part of the C API
// that exists whether or not CUDA was compiled in.
#include "errors.h"

#include <cstdarg>
#include <cstdio>

namespace {
thread_local char last_error_message[1024] = "";
}

namespace jnora {
jnora_status_t fail(jnora_status_t status, const char* file, int line, const char* format, ...) {
    int used = std::snprintf(last_error_message, sizeof last_error_message, "%s:%d: ", file, line);
    if (used < 0 || used >= static_cast<int>(sizeof last_error_message)) used = 0;
    va_list args;
    va_start(args, format);
    std::vsnprintf(last_error_message + used, sizeof last_error_message - used, format, args);
    va_end(args);
    return status;
}

void clear_error() { last_error_message[0] = '\0'; }
}  // namespace jnora

extern "C" {

int jnora_version(void) {
    return JNORA_VERSION_MAJOR * 10000 + JNORA_VERSION_MINOR * 100 + JNORA_VERSION_PATCH;
}

const char* jnora_status_string(jnora_status_t status) {
    switch (status) {
        case JNORA_STATUS_SUCCESS: return "success";
        case JNORA_STATUS_INVALID_VALUE: return "invalid value";
        case JNORA_STATUS_CUDA_NOT_BUILT: return "library built without CUDA";
        case JNORA_STATUS_NO_DEVICE: return "no CUDA device or driver";
        case JNORA_STATUS_CUDA_ERROR: return "CUDA error";
        case JNORA_STATUS_ALLOC_FAILED: return "host allocation failed";
    }
    return "unknown status";
}

const char* jnora_last_error(void) { return last_error_message; }

}  // extern "C"
