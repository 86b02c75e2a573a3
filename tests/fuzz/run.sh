#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS seconds: tests/fuzz/run.sh SECONDS TARGET...
# The seed corpus tests/fuzz/<target>/ is read only; new inputs go to build/fuzz/corpus/<target>/
# and crashes to build/fuzz/crashes/ (turn each into a fixture of a unit test, then fix it).
# Prints, per target, the inputs tried and the crashes found, then "fuzz: N passed, N failed".
set -u
secs=$1; shift
passed=0; failed=0
mkdir -p build/fuzz/crashes
for t in "$@"; do
  mkdir -p "build/fuzz/corpus/$t"
  log="build/fuzz/$t.log"
  dict=(); [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  "build/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="build/fuzz/crashes/$t-" "${dict[@]}" \
    "build/fuzz/corpus/$t" "tests/fuzz/$t" > "$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1)); echo "fuzz_$t: ${runs:-?} inputs in ${secs}s, ${cov:-cov: ?}, 0 crashes"
  else
    failed=$((failed + 1)); echo "fuzz_$t: FAILED after ${runs:-?} inputs (exit $rc); log: $log"
    grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | head -8
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
