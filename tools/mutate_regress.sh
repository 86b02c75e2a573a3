#!/usr/bin/env bash
# mutate_regress.sh — measures `normbench regress` instead of trusting it (make mutate-regress).
#
# Copies the tracked files of this tree (as they are in the working tree) to one scratch folder,
# then for each deliberate breakage below: applies it (a sed that must change its file, else the
# script stops), rebuilds bin/normbench there (only the changed objects), runs
#   bin/normbench regress -j 2 --results <scratch>/out
# against the committed references, records whether the check failed (caught) or passed (missed),
# keeps that mutation's results (summary.csv and run.yaml files) in <keep>/<mutation>/, and reverts
# the file. The first row, "none", is the unchanged build: it must pass (else the check raises
# false alarms). Writes results/regress/mutations.csv (temp name, then renamed) and prints it.
#
#   tools/mutate_regress.sh                  run every mutation (~2 min each on 2 cores)
#   tools/mutate_regress.sh --recheck KEEP   no training: rerun only the comparison
#                                            (regress --compare-only) on results kept by an
#                                            earlier run, with this tree's checker
#   MUTATE_DIR=/tmp/x MUTATE_ONLY="none,grad_f_sign" tools/mutate_regress.sh
#
# Not part of make test: it trains 14 × 18 quick runs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=${MUTATE_DIR:-/tmp/normbench-mutate-$(id -u)}
KEEP=${MUTATE_KEEP:-$SCRATCH/kept}
ONLY=${MUTATE_ONLY:-}
OUT_CSV=$ROOT/results/regress/mutations.csv
RECHECK=""
if [ "${1:-}" = "--recheck" ]; then
    RECHECK=${2:?"--recheck needs the folder of kept results"}
fi

die() { echo "mutate_regress: $*" >&2; exit 2; }

# name | file | sed expression | what it breaks
MUTATIONS=$(cat <<'EOF'
none|-|-|unchanged build (must pass)
grad_f_sign|lib/loss/normface.c|s/gemm(0, 0, B, d, C, 1, cs, C, what, d, 0, dfhat, d);/gemm(0, 0, B, d, C, -1, cs, C, what, d, 0, dfhat, d);/|sign flip in dL/df of the angular losses
grad_w_sign|lib/loss/normface.c|s/gemm(1, 0, C, d, B, 1, cs, C, fhat, d, 0, dwhat, d);/gemm(1, 0, C, d, B, -1, cs, C, fhat, d, 0, dwhat, d);/|sign flip in dL/dW of the angular losses
margin_deriv_dropped|lib/loss/normface.c|s/d = cm + cc \* sm \/ sn;/d = cm;/|ArcFace du/dc loses its c sin m / sin theta term
detach_forced|lib/loss/normface.c|s/\*du = cfg->detach_margin ? 1.0 : d;/*du = 1.0;/|detach_margin forced on for every margin loss
norm_eps|lib/loss/rowops.h|s/#define NB_NORM_EPS 1e-12/#define NB_NORM_EPS 1e-5/|wrong epsilon in the L2 normalisation (1e-5 for 1e-12)
arcface_fallback|lib/loss/normface.c|s/u = c - cfg->m \* sm; \/\* fallback/u = c; \/* fallback/|ArcFace past pi-m takes easy_margin's branch (cos theta) instead of cos theta - m sin m
head_momentum|lib/nn/optim.c|s/mu = (real)momentum;/mu = t->group == PARAM_HEAD ? 0 : (real)momentum;/|SGD momentum ignored for the head's parameters
bn_running_stats|lib/nn/dnnl_net.c|s/st->run_mean\[c\] = (real)((1.0 - momentum) \* st->run_mean\[c\] + momentum \* (double)mean\[c\]);/st->run_mean[c] = (real)(momentum * st->run_mean[c] + (1.0 - momentum) * (double)mean[c]);/|batch-norm running mean with the momentum swapped (the oneDNN backend, the one model.backend auto picks here)
bn_running_stats_blas|lib/nn/batchnorm.c|s/running_mean\[c\] = (real)((1.0 - momentum) \* running_mean\[c\] + momentum \* mu);/running_mean[c] = (real)(momentum * running_mean[c] + (1.0 - momentum) * mu);/|the same in the OpenBLAS backend (not the backend regress_quick runs on here)
sampler_off_by_one|lib/data/sampler.c|s/rng_shuffle_int(rng, s->order, s->n);/rng_shuffle_int(rng, s->order, s->n - 1);/|epoch shuffle leaves the last sample in place
threshold_on_test|lib/eval/verify.c|s/fold_thr\[k\] = choose_threshold(it, n, k, rule, np - fold_pos\[k\], nn - fold_neg\[k\]);/fold_thr[k] = choose_threshold(it, n, -1, rule, np, nn);/|verification threshold chosen on all folds, the test fold included
flip_not_applied|lib/eval/evaluate.c|s/^        if (flip)$/        if (0)/|eval.flip ignored (no flipped features)
fold_sd|lib/eval/verify.c|s/\*sd = k > 1 ? sqrt(ss \/ (k - 1)) : NAN;/*sd = k > 1 ? sqrt(ss \/ k) : NAN;/|sd over folds divides by k, not k - 1
EOF
)

selected() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

mkdir -p "$(dirname "$OUT_CSV")"
TMP_CSV=$OUT_CSV.tmp.$$
echo "mutation,file,breaks,exit_status,verdict,rule,metrics_beyond" > "$TMP_CSV"

if [ -z "$RECHECK" ]; then
    echo "mutate_regress: copying the tracked files of $ROOT to $SCRATCH"
    mkdir -p "$SCRATCH/tree"
    (cd "$ROOT" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$SCRATCH/tree"
    # reuse this tree's objects, so that only what a mutation changes is rebuilt
    for d in build bin; do
        if [ -d "$ROOT/$d" ]; then rm -rf "$SCRATCH/tree/$d" && cp -a "$ROOT/$d" "$SCRATCH/tree/$d"; fi
    done
    rm -rf "$SCRATCH/tree/build/regress"
    rm -rf "$KEEP"
    mkdir -p "$KEEP"
fi
TREE=$SCRATCH/tree
[ -x "$TREE/bin/normbench" ] || [ -z "$RECHECK" ] || die "no $TREE/bin/normbench to recheck with"

while IFS='|' read -r name file expr what; do
    selected "$name" || continue
    log=$SCRATCH/$name.log
    if [ -z "$RECHECK" ]; then
        if [ "$file" != "-" ]; then
            f=$TREE/$file
            [ -f "$f" ] || die "$name: no file $file"
            cp "$f" "$SCRATCH/orig"
            sed -i "$expr" "$f"
            cmp -s "$f" "$SCRATCH/orig" && die "$name: the sed did not change $file (the code moved? update the mutation)"
        fi
        if ! (cd "$TREE" && make -j2 bin/normbench > "$SCRATCH/$name.build.log" 2>&1); then
            if [ "$file" != "-" ]; then cp "$SCRATCH/orig" "$TREE/$file"; fi
            die "$name: the build failed (see $SCRATCH/$name.build.log)"
        fi
        set +e
        (cd "$TREE" && bin/normbench regress -j 2 --results "$SCRATCH/out") > "$log" 2>&1
        rc=$?
        set -e
        mkdir -p "$KEEP/$name"
        (cd "$SCRATCH/out" && find . -name summary.csv -o -name run.yaml | tar -T - -cf -) | tar -xf - -C "$KEEP/$name"
        # revert (plain cp: a new mtime, so make rebuilds the object from the original)
        if [ "$file" != "-" ]; then cp "$SCRATCH/orig" "$TREE/$file"; fi
    else
        [ -d "$RECHECK/$name" ] || die "$name: nothing kept in $RECHECK/$name"
        set +e
        (cd "$ROOT" && bin/normbench regress -j 2 --compare-only --results "$RECHECK/$name") > "$log" 2>&1
        rc=$?
        set -e
    fi
    if [ "$name" = none ]; then
        verdict=$([ $rc = 0 ] && echo "passes (ok)" || echo "FALSE ALARM")
    else
        verdict=$([ $rc = 0 ] && echo missed || echo caught)
    fi
    rule=$(grep -o 'rule: [a-z]*' "$log" | sort -u | sed 's/rule: //' | paste -sd/ - || true)
    beyond=$(grep -oE '[0-9]+ beyond tolerance' "$log" | grep -oE '^[0-9]+' || echo "?")
    printf '%-22s %-20s exit %-3s %-12s rule %-12s beyond %s\n' "$name" "$file" "$rc" "$verdict" "${rule:--}" "$beyond"
    echo "$name,$file,\"$what\",$rc,$verdict,${rule:--},$beyond" >> "$TMP_CSV"
done <<< "$MUTATIONS"

mv "$TMP_CSV" "$OUT_CSV"
echo "mutate_regress: wrote $OUT_CSV (kept results: $KEEP)"
