#!/usr/bin/env bash
# Runs the standalone kernel check (tests/native/kernel_check.cu) on the CPU, without a GPU: every
# kernel of native/cuda/*.cu is compiled as C++ against the stand-in runtime beside this script
# (cuda_runtime.h, emu.cpp) and executed thread by thread. A block runs all its threads as fibers
# (ucontext) up to each barrier: __syncthreads is a block barrier, __shfl_xor_sync a warp barrier,
# and a shuffle with exited lanes, threads waiting at different barriers, or a bad launch shape
# is reported. With ASAN=1 (default) reads and writes outside any allocation (device buffers,
# dynamic shared memory) stop the run with AddressSanitizer's report. What this cannot see: races
# between threads (they run one at a time), timing, float contraction into FMAs (off here), and the
# device's own limits beyond those checked in emu.cpp (grid.y/z <= 65535, 1024 threads, 48 KiB).
#     bash tests/native/emulate/run.sh            # ~3-5 minutes on 2 cores
# The kernels' launch syntax and `extern __shared__` are rewritten by perl before compiling; the
# sources themselves are untouched.
set -euo pipefail
for tool in g++ perl; do
    if ! command -v "$tool" >/dev/null; then
        echo "kernel emulation skipped: $tool not found" >&2
        exit 0
    fi
done
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
build=${BUILD:-$(mktemp -d /tmp/jnora-emulate.XXXXXX)}
mkdir -p "$build/src" "$build/include"
cp "$here/cuda_runtime.h" "$here/cuda_bf16.h" "$here/cuda_fp16.h" "$build/include/"
prep() {  # kernel<<<grid, block, shared, stream>>>(args) -> emu::Launch(grid, block, shared, stream).run(kernel, args)
    perl -0pe 's/extern __shared__ (\w+) (\w+)\[\];/$1* $2 = static_cast<$1*>(emu_dynamic_shared);/g;
               s/([\w:]+(?:<[\w, ]+>)?)<<<(.*?)>>>\(/emu::Launch($2).run($1, /gs;
               s#"\.\./\.\./native/cuda/kernels\.cuh"#"kernels.cuh"#' "$1" > "$2"
}
for f in "$root"/native/cuda/*.cu; do prep "$f" "$build/src/$(basename "$f" .cu).cpp"; done
prep "$root/tests/native/kernel_check.cu" "$build/src/kernel_check.cpp"
cp "$root"/native/cuda/*.cuh "$build/src/"
flags=(-std=c++17 -O1 -g -ffp-contract=off -w -I"$build/include" -I"$root/native/include" -I"$build/src")
[ "${ASAN:-1}" = 1 ] && flags+=(-fsanitize=address -fno-omit-frame-pointer)
objs=()
for f in "$build"/src/*.cpp "$root/native/core/errors.cpp" "$root/native/core/segments.cpp" "$here/emu.cpp"; do
    o="$build/$(basename "$f" .cpp).o"
    # kernel_check.cu includes ../../native/cuda/kernels.cuh, cuda_check.cuh ../core/errors.h
    g++ "${flags[@]}" -I"$root/native/cuda" -c "$f" -o "$o"
    objs+=("$o")
done
g++ "${flags[@]}" "${objs[@]}" -o "$build/kernel_check_emulated"
echo "built $build/kernel_check_emulated; running (the GPU check's cases, on the CPU)"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=0:detect_leaks=0} "$build/kernel_check_emulated" 2>&1 \
    | grep -v "ASan doesn't fully support makecontext"
