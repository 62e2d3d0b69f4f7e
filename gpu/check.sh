#!/usr/bin/env bash
# The whole GPU check in one call, run ON the lent GPU machine from the repository root, with
# .gpu-carry/ made by gpu/pack.sh. Steps: build native/ with CMake there and run the standalone
# kernel check (every kernel version against its CPU reference); run every JUnit test with
# JNORA_REQUIRE_GPU=1 (CUDA against the CPU backend; a missing GPU fails instead of skipping);
# run the demo and the benchmarks on CUDA; print a short table last. Outputs also go to $OUT.
# Parts, all by default: `bash gpu/check.sh native tests` then `bash gpu/check.sh bench` splits
# the check over two calls when one might pass the device tool's 10-minute limit per command.
set -uo pipefail
parts=" ${*:-native tests bench} "
want() { [[ $parts == *" $1 "* ]]; }
cd "$(dirname "$0")/.."
carry=.gpu-carry
log=${OUT:-/tmp}/gpu-check
mkdir -p "$log"
status=()

step() {  # step NAME COMMAND...: runs, tees its output to $log/NAME.txt, records pass/fail
    local name=$1; shift
    echo "=== $name: $*"
    if "$@" 2>&1 | tee "$log/$name.txt"; then status+=("$name|ok"); else status+=("$name|FAILED"); fi
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$log/device.txt"

# CUDA libraries for the JavaCPP presets (cudart, cuBLAS, cuSOLVER) and the driver.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu \
         $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, s, "lib") for p in nvidia.__path__ for s in os.listdir(p)))' 2>/dev/null); do
    [ -d "$d" ] && LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:$d"
done
export LD_LIBRARY_PATH

if want native; then
step cmake-build bash -c "cmake -S . -B /tmp/jnora-native -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build /tmp/jnora-native --parallel"
step kernel-check /tmp/jnora-native/jnora_kernel_check
# Shared-memory races, which neither the kernel check's results nor the CPU emulation
# (tests/native/emulate/run.sh runs threads one at a time) can show; bounded, as it is slow.
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
step kernel-racecheck timeout 120 "$sanitizer" --tool racecheck --error-exitcode 1 /tmp/jnora-native/jnora_kernel_check
fi

if command -v java >/dev/null; then JAVA=java; else
    tar -C /tmp -xzf "$carry/jre.tar.gz" && JAVA=/tmp/jre/bin/java
fi
rm -rf /tmp/jnora-tests && mkdir -p /tmp/jnora-tests && tar -C /tmp/jnora-tests -xzf "$carry/test-classes.tar.gz"
console=$(ls "$carry"/junit-platform-console-standalone-*.jar)
# The tests on the JVM's own class path (not the console's --class-path): a test that starts a child
# JVM with java.class.path (HalfWrittenFileTest) must find its classes there.
want tests && step java-tests env JNORA_REQUIRE_GPU=1 "$JAVA" \
    -cp "$console:$carry/jnora.jar:/tmp/jnora-tests/test-classes" org.junit.platform.console.ConsoleLauncher execute \
    --scan-class-path /tmp/jnora-tests/test-classes --details=summary --disable-banner
if want bench; then
step info "$JAVA" -jar "$carry/jnora.jar" info --backend cuda
step demo "$JAVA" -jar "$carry/jnora.jar" demo --synthetic --backend cuda  # the model does not fit the carry
step bench-cuda "$JAVA" -jar "$carry/jnora.jar" bench --backend cuda --iterations 200
step bench-cuda-T4096 "$JAVA" -jar "$carry/jnora.jar" bench --backend cuda --rows 4096 --in 4096 --out 4096 --rank 256 --inner-rank 16
step bench-cuda-T4096-tf32 "$JAVA" -jar "$carry/jnora.jar" bench --backend cuda --tf32 --rows 4096 --in 4096 --out 4096 --rank 256 --inner-rank 16
step bench-cuda-bf16-T4096 "$JAVA" -jar "$carry/jnora.jar" bench --backend cuda --precision bfloat16 --rows 4096 --in 4096 --out 4096 --rank 256 --inner-rank 16
step bench-cuda-bf16-decode "$JAVA" -jar "$carry/jnora.jar" bench --backend cuda --precision bfloat16 --rows 1 --in 4096 --out 4096 --rank 256 --inner-rank 16 --iterations 200
step bench-cuda-decode "$JAVA" -jar "$carry/jnora.jar" bench --backend cuda --rows 1 --in 4096 --out 4096 --rank 256 --inner-rank 16 --iterations 200
step bench-init-cuda "$JAVA" -jar "$carry/jnora.jar" bench --suite init --backend cuda --iterations 3
step bench-set-cuda "$JAVA" -jar "$carry/jnora.jar" bench --suite set --backend cuda
step bench-serve-cuda "$JAVA" -jar "$carry/jnora.jar" bench --suite serve --backend cuda --warmup 5 --iterations 30
step bench-serve-cuda-tf32 "$JAVA" -jar "$carry/jnora.jar" bench --suite serve --backend cuda --tf32 --warmup 5 --iterations 30
step bench-serve-cuda-bf16 "$JAVA" -jar "$carry/jnora.jar" bench --suite serve --backend cuda --precision bfloat16 --warmup 5 --iterations 30
step bench-train-cuda "$JAVA" -jar "$carry/jnora.jar" bench --suite train --backend cuda --iterations 100
step peers python3 gpu/peers.py
step bench-cpu "$JAVA" -jar "$carry/jnora.jar" bench --backend cpu
fi

echo
echo "=== summary ($(head -1 "$log/device.txt"))"
printf '%-18s %s\n' step result
for s in "${status[@]}"; do printf '%-18s %s\n' "${s%%|*}" "${s#*|}"; done
exec 2>/dev/null  # the logs of parts not run are missing: nothing to show for them
grep -h -E "tests (successful|failed|skipped)" "$log/java-tests.txt" | sed 's/^/  /'
grep -h -E "passed, .* failed" "$log/kernel-check.txt" | sed 's/^/  kernel check: /'
grep -h -E "base GEMM alone|forward, effective|backward" "$log/bench-cuda.txt" | sed 's/^/  /'
grep -h -E "base GEMM alone|forward, effective" "$log/bench-cuda-decode.txt" | sed 's/^/  T=1 /'
grep -h -E "base GEMM alone|forward, effective" "$log/bench-cuda-T4096.txt" | sed 's/^/  T=4096 /'
grep -h -E "base GEMM alone|forward, effective|backward" "$log/bench-cuda-bf16-T4096.txt" | sed 's/^/  bf16 T=4096 /'
grep -h -E "base GEMM alone|forward, effective" "$log/bench-cuda-bf16-decode.txt" | sed 's/^/  bf16 T=1 /'
grep -h -E "^4096×4096" "$log/bench-init-cuda.txt" | sed 's/^/  init /'
tail -1 "$log/bench-set-cuda.txt" | sed 's/^/  set /'
grep -h -E "^4096×4096" "$log/bench-train-cuda.txt" | sed 's/^/  train /'
grep -h -E "train step|4096 +base GEMM" "$log/peers.txt" | sed 's/^/  peers /'
grep -h -E "^ *(256|4096) +32 " "$log/bench-serve-cuda.txt" | sed 's/^/  serve T, 32 adapters: /'
grep -h -E "^ *(256|4096) +32 " "$log/bench-serve-cuda-tf32.txt" | sed 's/^/  serve tf32 T, 32 adapters: /'
grep -h -E "^ *(256|4096) +32 " "$log/bench-serve-cuda-bf16.txt" | sed 's/^/  serve bf16 T, 32 adapters: /'
for s in "${status[@]}"; do [ "${s#*|}" = ok ] || exit 1; done
