#!/usr/bin/env bash
# Runs every cmocka test program given as an argument from the repository root, counts the test
# cases cmocka reports as passed and failed, and ends with one "N passed, N failed" line.
# Exits non-zero if any program fails or reports a failure.
set -u
passed=0; failed=0; skipped=0; bad_progs=""
for t in "$@"; do
  echo "== $t"
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  k=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + k))
  if [ $rc -ne 0 ] || [ $((p + k)) -eq 0 ]; then
    bad_progs="$bad_progs $t"
    [ "$f" -eq 0 ] && failed=$((failed + 1))
  fi
done
[ -n "$bad_progs" ] && echo "failing programs:$bad_progs"
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ -z "$bad_progs" ]
