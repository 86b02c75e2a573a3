#!/usr/bin/env bash
# check_layers.sh — the house's dependency rules (docs/architecture.md), checked from the source
# text alone. Run by `make layers` (and so by `make test`); prints every broken rule as
# FILE:LINE: what is wrong, and exits 1 if there is one. Usage: tools/check_layers.sh [ROOT]
#
# Rules:
#  1. a file in lib/<part>/ includes only headers of the parts that part may use (ALLOWED below);
#     includes are written with the folder ("nn/net.h"), so every include line is one arrow;
#  2. nothing in lib/ includes a runner header or mentions a command-line flag ("--name");
#  3. only lib/config/ includes yaml.h; only lib/io/ includes csv.h (libcsv), and no function of
#     ours is named with libcsv's csv_ prefix;
#  4. nothing in lib/ starts a process (fork, exec*, popen, posix_spawn, system): runners/ do;
#  5. no include cycle between modules (x.c and x.h are one module);
#  6. each part's README.md names every file of its folder, and no file that is not there.
set -u
root=${1:-.}
cd "$root" || exit 2

# What each part of lib/ may include besides itself (system and library headers aside).
declare -A ALLOWED=(
    [core]=""
    [io]="core"
    [nn]="core"
    [loss]="core nn"
    [data]="core io"
    [eval]="core io nn loss data"
    [config]="core io nn loss data eval"
    [train]="core io nn loss data eval config"
    [report]="core io loss config"
)

fail=0
say() { echo "$1"; fail=1; }

lib_files=$(find lib -name '*.[ch]' | sort)
all_files=$(find lib runners -name '*.[ch]' | sort)

# 1 and 2: include arrows inside lib/.
for f in $lib_files; do
    part=${f#lib/}; part=${part%%/*}
    if [ -z "${ALLOWED[$part]+x}" ]; then
        say "$f:1: lib/$part/ is not a part of the house (parts: ${!ALLOWED[*]})"
        continue
    fi
    while IFS=: read -r line text; do
        inc=$(sed 's/^[^"]*"\([^"]*\)".*/\1/' <<<"$text")
        case $inc in
        */*)
            to=${inc%%/*}
            [ "$to" = "$part" ] && continue
            if [ -z "${ALLOWED[$to]+x}" ]; then
                say "$f:$line: includes \"$inc\", which is no header of lib/"
            elif ! [[ " ${ALLOWED[$part]} " == *" $to "* ]]; then
                say "$f:$line: lib/$part/ may not include $to/ (\"$inc\"); it may use: ${ALLOWED[$part]:-nothing}"
            fi ;;
        buildinfo.inc) ;;
        *)
            if [ -f "runners/$inc" ]; then
                say "$f:$line: includes the runner header \"$inc\""
            else
                say "$f:$line: include \"$inc\" without its folder (write \"part/$inc\")"
            fi ;;
        esac
    done < <(grep -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f")
done
while IFS=: read -r f line _; do
    say "$f:$line: lib/ mentions a command-line flag (flags belong to runners/)"
done < <(grep -n -E '"([^"]*[[:space:]([])?--[a-z][a-z-]*' $lib_files)

# 3: yaml.h, csv.h and the csv_ prefix.
while IFS=: read -r f line _; do
    case $f in lib/config/*) ;; *) say "$f:$line: includes yaml.h (only lib/config/ may)";; esac
done < <(grep -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]yaml\.h[>"]' $all_files)
while IFS=: read -r f line _; do
    case $f in lib/io/*) ;; *) say "$f:$line: includes csv.h (only lib/io/ may)";; esac
done < <(grep -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]csv\.h[>"]' $all_files)
while IFS=: read -r f line _; do
    say "$f:$line: a function of ours named with libcsv's csv_ prefix"
done < <(grep -n -E '^[a-z][a-z0-9_ ]*[ *]csv_[a-z0-9_]*[[:space:]]*\(' $all_files)

# 4: processes.
while IFS=: read -r f line _; do
    say "$f:$line: lib/ starts a process (only runners/ may)"
done < <(grep -n -E '\b(fork|vfork|execl|execlp|execle|execv|execvp|execvpe|popen|posix_spawnp?|system)[[:space:]]*\(' $lib_files)

# 5: include cycles between modules, found by tsort (which names a cycle's members).
edges=$(for f in $all_files; do
    from=${f%.*}
    dir=$(dirname "$f")
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" | while read -r inc; do
        if [ -f "lib/$inc" ]; then to=lib/${inc%.*}
        elif [ -f "$dir/$inc" ]; then to=$dir/${inc%.*}
        else continue; fi
        [ "$to" != "$from" ] && echo "$to $from"
    done
done)
if ! cyc=$(printf '%s\n' "$edges" | tsort 2>&1 >/dev/null); then :; fi
if [ -n "$cyc" ]; then
    members=$(printf '%s\n' "$cyc" | sed -n 's/^tsort: //p' | grep -v 'input contains a loop' | sort -u | tr '\n' ' ')
    say "include cycle between modules: $members"
fi

# 6: the parts' READMEs list their files.
for dir in lib/*/; do
    part=${dir%/}
    if [ ! -f "$part/README.md" ]; then
        say "$part/README.md:1: missing (each part says what it holds and what it may use)"
        continue
    fi
    for f in "$part"/*.[ch]; do
        name=$(basename "$f")
        grep -q -F "\`$name\`" "$part/README.md" || say "$part/README.md:1: does not name $name"
    done
    while IFS=: read -r line name; do
        case $name in yaml.h|csv.h|cblas.h|dnnl.h|jpeglib.h|zlib.h|cmocka.h) continue ;; esac
        [ -f "$part/$name" ] || say "$part/README.md:$line: names $name, which is not in $part/"
    done < <(grep -n -o -E '`[a-z0-9_]+\.[ch]`' "$part/README.md" | tr -d '`')
done

if [ $fail -ne 0 ]; then
    echo "make layers: the dependency rules are broken (docs/architecture.md)"
    exit 1
fi
echo "make layers: $(echo "$lib_files" | wc -l) files in lib/, every dependency rule holds"
