#!/usr/bin/env bash
# test_check_layers.sh — tools/check_layers.sh can fail: on a scratch copy of lib/ and runners/,
# each deliberate breakage of a dependency rule (docs/architecture.md) must make the check exit 1
# naming the file and line it put there; the untouched copy must pass. Run by `make test`; ends
# with one "N passed, N failed" line.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nb_layers.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
passed=0; failed=0

fresh() {
    rm -rf "$tmp/t" && mkdir -p "$tmp/t" && cp -r "$here/lib" "$here/runners" "$here/tools" "$tmp/t/"
}
# expect NAME FILE LINE TEXT PATTERN: append TEXT to FILE and expect the check to fail with a
# message matching "FILE:LINE: PATTERN" (LINE "-" for messages that name no line).
expect() {
    local name=$1 file=$2 text=$3 pattern=$4
    fresh
    printf '%s\n' "$text" >> "$tmp/t/$file"
    local line; line=$(wc -l < "$tmp/t/$file")
    local out rc
    out=$(cd "$tmp/t" && tools/check_layers.sh 2>&1); rc=$?
    local want="$file:$line: .*$pattern"
    [ "$pattern" = "${pattern#cycle:}" ] || want="include cycle between modules: .*${pattern#cycle:}"
    if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q -E -- "$want"; then
        echo "[       OK ] $name"; passed=$((passed + 1))
    else
        echo "[  FAILED  ] $name: exit $rc, expected a line matching '$want' in:"; printf '%s\n' "$out" | sed 's/^/    /'
        failed=$((failed + 1))
    fi
}

fresh
if out=$(cd "$tmp/t" && tools/check_layers.sh 2>&1); then
    echo "[       OK ] the tree as it is passes"; passed=$((passed + 1))
else
    echo "[  FAILED  ] the tree as it is fails:"; printf '%s\n' "$out" | sed 's/^/    /'; failed=$((failed + 1))
fi
expect "yaml.h in a loss file" lib/loss/softmax.c '#include <yaml.h>' 'includes yaml.h'
expect "a data header in a loss file" lib/loss/softmax.c '#include "data/dataset.h"' 'lib/loss/ may not include data/'
expect "a config header in nn/" lib/nn/net.h '#include "config/config.h"' 'lib/nn/ may not include config/'
expect "an include without its folder" lib/eval/verify.c '#include "gemm.h"' 'without its folder'
expect "csv.h outside io/" lib/report/report.c '#include <csv.h>' 'includes csv.h'
expect "a csv_ function of ours" lib/io/csvlog.c 'int csv_extra(void) { return 0; }' "libcsv's csv_ prefix"
expect "a process started in lib/" lib/report/report.c 'static void nb_spawn(void) { execvp("gnuplot", 0); }' 'starts a process'
expect "a command-line flag in lib/" lib/io/fsutil.c 'static const char *nb_hint = "give --results DIR";' 'command-line flag'
expect "a runner header in lib/" lib/train/train.c '#include "commands.h"' 'runner header'
fresh
printf '/* new.c */\n' > "$tmp/t/lib/core/new_module.c"
if out=$(cd "$tmp/t" && tools/check_layers.sh 2>&1); then rc=0; else rc=$?; fi
if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q 'lib/core/README.md:1: does not name new_module.c'; then
    echo "[       OK ] a file its README does not name"; passed=$((passed + 1))
else
    echo "[  FAILED  ] a file its README does not name: exit $rc"; printf '%s\n' "$out" | sed 's/^/    /'; failed=$((failed + 1))
fi
expect "a cycle between two files" lib/core/error.h '#include "core/gemm.h"' 'cycle:lib/core/(error|gemm)'

echo "check_layers: $passed passed, $failed failed"
[ $failed -eq 0 ]
