#!/usr/bin/env bash
# valgrind memcheck on a short training run of bin/normbench (make valgrind): 1 thread, the tiny
# fixture cut to 1 epoch of 128 images. Passes with 0 errors and 0 definitely, indirectly or
# possibly lost bytes. "Still reachable" blocks (a few hundred bytes that libgomp and OpenBLAS keep
# for their thread pools until exit) are not leaks and are not suppressed either: no suppression
# file is needed. Prints valgrind's summaries and "valgrind: N passed, N failed".
set -u
out=${TMPDIR:-/tmp}/nb_valgrind
rm -rf "$out"
log=$out.log
valgrind --leak-check=full --error-exitcode=1 --show-leak-kinds=definite,indirect,possible \
  --errors-for-leak-kinds=definite,indirect,possible --track-origins=yes \
  bin/normbench train tests/fixtures/tiny_train.yaml --threads 1 --quiet --results "$out" \
  --set train.epochs=1 --set data.train_subset=128 --set data.test_subset=64 --set eval.pairs=100 \
  > "$log" 2>&1
rc=$?
grep -E 'in use at exit|total heap usage|definitely lost|indirectly lost|possibly lost|still reachable|suppressed:|ERROR SUMMARY' "$log"
if [ $rc -eq 0 ] && grep -q 'ERROR SUMMARY: 0 errors' "$log" && [ -f "$out/tiny/softmax_seed3/final.csv" ]; then
  echo "valgrind: 1 passed, 0 failed"
  rm -rf "$out" "$log"
else
  echo "valgrind: memcheck failed (exit $rc); log: $log"
  echo "valgrind: 0 passed, 1 failed"
  exit 1
fi
