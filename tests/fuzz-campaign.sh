#!/usr/bin/env bash
# A long fuzzing campaign per reader (issue 11; docs/RELIABILITY.md). Usage, from the repository root
# after `mvn -B test-compile`:
#   tests/fuzz-campaign.sh SECONDS [TARGET ...]     (targets: the classes in tests/java/io/jnora/fuzz)
# Each target starts from its committed seed corpus and keeps its grown corpus in .fuzz/corpus/TARGET;
# findings go to .fuzz/artifacts/TARGET/, the libFuzzer log (executions, cov/ft coverage) to
# .fuzz/logs/TARGET.log. The classes are copied to .fuzz first, so a rebuild does not disturb a campaign.
# Jazzer's regex-injection sanitizer is off: PEFT's rank_pattern/alpha_pattern keys ARE regular
# expressions (PEFT matches them with re), and a key that does not compile is refused as an
# AdapterFormatException; the sanitizer flags every Pattern.compile of fuzzer data, wanted or not.
# A unit running longer than FUZZ_TIMEOUT seconds (default 30) is a hang finding. 10 s was too short on
# 2 cores shared with other builds: the first unit, which loads and instruments JUnit and Jackson, took
# 11-12 s and was reported as a timeout.
# The same campaign through JUnit: JAZZER_FUZZ=1 mvn test -Dtest=io/jnora/fuzz/TARGET -Djazzer.max_duration=10m
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?seconds per target}; shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(OnnxModelFuzzTest TokenizerFuzzTest SafetensorsFileFuzzTest NestedAdapterFileFuzzTest PeftAdapterFuzzTest AllocationJsonFuzzTest TrainerStateFuzzTest)
mkdir -p .fuzz/logs
if [ ! -f .fuzz/cp.txt ] || [ pom.xml -nt .fuzz/cp.txt ]; then
  mvn -B -q dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=.fuzz/cp.txt >/dev/null
fi
stamp=$(date +%s%N)
rm -rf ".fuzz/run-$stamp" && mkdir -p ".fuzz/run-$stamp"
cp -r target/classes target/test-classes ".fuzz/run-$stamp/"
cp=".fuzz/run-$stamp/test-classes:.fuzz/run-$stamp/classes:$(cat .fuzz/cp.txt)"
for t in "${targets[@]}"; do
  mkdir -p ".fuzz/corpus/$t" ".fuzz/artifacts/$t"
  cp -n "tests/resources/io/jnora/fuzz/${t}Inputs/fuzz/"* ".fuzz/corpus/$t/" 2>/dev/null || true
  java -Xmx1536m -cp "$cp" com.code_intelligence.jazzer.Jazzer --target_class="io.jnora.fuzz.$t" \
      --instrumentation_includes='io.jnora.**:com.fasterxml.**' --keep_going=50 \
      --disabled_hooks=com.code_intelligence.jazzer.sanitizers.RegexInjection \
      -max_total_time="$seconds" -rss_limit_mb=4096 -timeout="${FUZZ_TIMEOUT:-30}" -print_final_stats=1 \
      -artifact_prefix=".fuzz/artifacts/$t/" ".fuzz/corpus/$t" > ".fuzz/logs/$t.log" 2>&1 || true
  echo "$t: $(grep -E 'stat::number_of_executed_units' ".fuzz/logs/$t.log" | awk '{print $2}') executions," \
       "corpus $(ls ".fuzz/corpus/$t" | wc -l), findings $(ls ".fuzz/artifacts/$t" | wc -l)," \
       "last: $(grep -E '^#[0-9]+' ".fuzz/logs/$t.log" | tail -1)"
done
rm -rf ".fuzz/run-$stamp"
