// Internal: recording a failure with the file and line where it was detected.
#ifndef JNORA_CORE_ERRORS_H
#define JNORA_CORE_ERRORS_H

#include "jnora.h"

namespace jnora {
// Formats the message into this thread's last-error buffer and returns `status` unchanged,
// so that a failing path reads `return JNORA_FAIL(...)`.
jnora_status_t fail(jnora_status_t status, const char* file, int line, const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
void clear_error();
}  // namespace jnora

#define JNORA_FAIL(status, ...) ::jnora::fail((status), __FILE__, __LINE__, __VA_ARGS__)

#endif
