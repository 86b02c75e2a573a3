/* cmd_eval.c — `normbench eval`: verification and identification of embeddings computed elsewhere
 * (a PyTorch, InsightFace or OpenSphere model's), by every protocol of docs/evaluation.md §4 and
 * §4b side by side; no training. Reads the files (data/embeddings.h), evaluates them
 * (eval/given.h) into results/<experiment>/<run>/ — eval.csv, roc.csv, erc.csv, cmc.csv, headline.txt,
 * final.csv, and a config.yaml naming the run so that `normbench plot results/<experiment>`
 * draws it — and prints the headline table. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "data/embeddings.h"
#include "eval/given.h"
#include "io/fsutil.h"
#include "io/runfolder.h"

static void eval_usage(FILE *f)
{
    fprintf(f,
            "usage: normbench eval --features F.npy|F.csv [--flip-features G.npy|G.csv]\n"
            "                      [--issame I.npy|I.txt|SET.bin | --pairs pairs.txt --names NAMES.txt]\n"
            "                      [--labels L.npy|L.txt|L.csv] [--quality Q.npy|Q.txt] [--draw-pairs N]\n"
            "                      [--folds K] [--far X]\n"
            "                      [--cmc-ranks R] [--seed S] [--results DIR] [--experiment NAME] [--name RUN]\n"
            "                      [--quiet]\n"
            "  Verification and identification of given embeddings by every protocol side by side:\n"
            "  exact (normbench), Youden's J, InsightFace's verification.py, OpenSphere's get_results\n"
            "  (docs/evaluation.md). Results: DIR/NAME/RUN/ (eval.csv, roc.csv, cmc.csv, headline.txt,\n"
            "  final.csv); draw them with `normbench plot DIR/NAME`.\n"
            "  --features F        (N, d) float32/float64 .npy (C order), or CSV (numeric columns;\n"
            "                      normbench's features.csv: its f columns)\n"
            "  --flip-features G   the features of the horizontally flipped images: scores use F + G\n"
            "  --issame I          InsightFace's pair list: pair i = rows 2i and 2i+1 (.npy bool/int,\n"
            "                      text, one 0/1/True/False per line, or the .bin itself); N = 2 x pairs\n"
            "  --pairs P --names M an LFW pairs.txt (View 2 \"10 300\" or View 1 \"1100\" header) over\n"
            "                      the rows named by M (one image name per row: Name/Name_0001.jpg)\n"
            "  --labels L          one identity per row: identification (gallery/probe split) and,\n"
            "                      without a pair list, --draw-pairs pairs drawn LFW-style\n"
            "  --quality Q         one quality score per row for the error-versus-reject curves (erc.csv;\n"
            "                      default: the feature norm before normalisation)\n"
            "  --draw-pairs N      pairs drawn from the labels (default 6000; a multiple of 2 x folds)\n"
            "  --folds K           folds of an issame list or of drawn pairs (default 10)\n"
            "  --far X             InsightFace's VAL@FAR target (default 1e-3)\n"
            "  --cmc-ranks R       ranks of the CMC curve (default 20)\n"
            "  --seed S            seed of the drawn pairs and the gallery split (default 1)\n"
            "  --results DIR       results root (default results)\n"
            "  --experiment NAME   experiment folder (default eval)\n"
            "  --name RUN          run folder (default: the features file's name without extension)\n"
            "  --quiet             print nothing but errors and the results folder\n");
}

typedef struct {
    const char *features, *flip, *issame, *pairs, *names, *labels, *quality;
    const char *results, *experiment, *name;
    int draw_pairs, folds, cmc_ranks, quiet;
    double far;
    uint64_t seed;
} eval_args;

/* Parses one option at argv[*i]; 0, 1 (help shown) or −1 (error printed). */
static int eval_option(eval_args *a, int argc, char **argv, int *i)
{
    const char *o = argv[*i];
    const char **s = !strcmp(o, "--features")        ? &a->features
                     : !strcmp(o, "--flip-features") ? &a->flip
                     : !strcmp(o, "--issame")        ? &a->issame
                     : !strcmp(o, "--pairs")         ? &a->pairs
                     : !strcmp(o, "--names")         ? &a->names
                     : !strcmp(o, "--labels")        ? &a->labels
                     : !strcmp(o, "--quality")       ? &a->quality
                     : !strcmp(o, "--results")       ? &a->results
                     : !strcmp(o, "--experiment")    ? &a->experiment
                     : !strcmp(o, "--name")          ? &a->name
                                                     : NULL;
    const char *val = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
        eval_usage(stdout);
        return 1;
    }
    if (!strcmp(o, "--quiet")) {
        a->quiet = 1;
        return 0;
    }
    if (s || !strcmp(o, "--far") || !strcmp(o, "--seed") || !strcmp(o, "--draw-pairs") || !strcmp(o, "--folds") ||
        !strcmp(o, "--cmc-ranks")) {
        if (!val) {
            fprintf(stderr, "normbench: eval: %s needs a value\n", o);
            return -1;
        }
        (*i)++;
    }
    if (s) {
        *s = val;
        return 0;
    }
    char *end;
    errno = 0;
    if (!strcmp(o, "--far")) {
        a->far = strtod(val, &end);
        if (end == val || *end || !(a->far > 0 && a->far < 1)) {
            fprintf(stderr, "normbench: eval: --far: expected a number in (0, 1), got '%s'\n", val);
            return -1;
        }
        return 0;
    }
    if (!strcmp(o, "--seed")) {
        a->seed = strtoull(val, &end, 10);
        if (end == val || *end || errno || val[0] == '-') {
            fprintf(stderr, "normbench: eval: --seed: expected a non-negative integer, got '%s'\n", val);
            return -1;
        }
        return 0;
    }
    if (!strcmp(o, "--draw-pairs"))
        return parse_positive_int(o, val, &a->draw_pairs);
    if (!strcmp(o, "--folds"))
        return parse_positive_int(o, val, &a->folds);
    if (!strcmp(o, "--cmc-ranks"))
        return parse_positive_int(o, val, &a->cmc_ranks);
    fprintf(stderr, "normbench: eval: unexpected argument '%s'\n", o);
    eval_usage(stderr);
    return -1;
}

static int check_args(eval_args *a)
{
    const char *why = !a->features                           ? "--features is required"
                      : a->issame && (a->pairs || a->names)  ? "give --issame or --pairs with --names, not both"
                      : !a->pairs != !a->names               ? "--pairs and --names go together"
                      : !a->issame && !a->pairs && !a->labels ? "give a pair list (--issame, or --pairs with "
                                                               "--names) or --labels"
                                                             : NULL;
    if (why) {
        fprintf(stderr, "normbench: eval: %s\n", why);
        eval_usage(stderr);
        return -1;
    }
    if (!a->name) { /* the features file's name without folder and extension */
        static char base[256];
        const char *b = strrchr(a->features, '/');
        snprintf(base, sizeof base, "%s", b ? b + 1 : a->features);
        char *dot = strrchr(base, '.');
        if (dot && dot != base)
            *dot = '\0';
        a->name = base;
    }
    return 0;
}

/* The run folder, made; a config.yaml naming the run (what `normbench plot` lists folders by). */
static int make_folder(char *dir, size_t size, const eval_args *a, nb_error *err)
{
    char rel[600], path[1300];
    snprintf(rel, sizeof rel, "%s/%s", a->experiment, a->name);
    if (runfolder_path(dir, size, a->results, a->experiment, a->name, err) || results_path_check(a->results, rel, err))
        return -1;
    if (runfolder_file(path, sizeof path, dir, RUNFOLDER_FINAL, err))
        return -1;
    unlink(path); /* incomplete until this evaluation finishes */
    if (mkdir_p(dir, err) || runfolder_file(path, sizeof path, dir, "config.yaml", err))
        return -1;
    atomic_file f;
    if (atomic_open(&f, path, err))
        return -1;
    fprintf(f.f, "# written by normbench eval: features %s%s%s\nname: \"%s\"\nseed: %llu\n", a->features,
            a->flip ? ", flip features " : "", a->flip ? a->flip : "", a->name, (unsigned long long)a->seed);
    return atomic_commit(&f, err);
}

/* Reads every input; the arrays are the caller's to free. */
static int load_inputs(const eval_args *a, real **feat, real **flip, int *n, int *d, pair_list *pl, int **labels,
                       double **quality, nb_error *err)
{
    if (embeddings_read(feat, n, d, a->features, err))
        return -1;
    if (a->flip) {
        int n2, d2;
        if (embeddings_read(flip, &n2, &d2, a->flip, err))
            return -1;
        if (n2 != *n || d2 != *d)
            return nb_error_set(err, a->flip, 0, 0, "flip features are %d x %d, the features %d x %d", n2, d2, *n, *d);
    }
    if (a->issame && issame_read(pl, a->issame, *n, a->folds, err))
        return -1;
    if (a->pairs && lfw_pairs_rows_read(pl, a->pairs, a->names, *n, err))
        return -1;
    if (a->labels) {
        int nl;
        if (labels_read(labels, &nl, a->labels, err))
            return -1;
        if (nl != *n)
            return nb_error_set(err, a->labels, 0, 0, "%d labels for %d feature rows", nl, *n);
    }
    if (a->quality) {
        int nq;
        if (scores_read(quality, &nq, a->quality, err))
            return -1;
        if (nq != *n)
            return nb_error_set(err, a->quality, 0, 0, "%d quality scores for %d feature rows", nq, *n);
    }
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    eval_args a = {.results = "results", .experiment = "eval", .draw_pairs = 6000, .folds = 10, .cmc_ranks = 20,
                   .far = 1e-3, .seed = 1};
    for (int i = 1; i < argc; i++) {
        int rc = eval_option(&a, argc, argv, &i);
        if (rc)
            return rc > 0 ? 0 : 2;
    }
    if (check_args(&a))
        return 2;
    real *feat = NULL, *flip = NULL;
    double *quality = NULL;
    int *labels = NULL, n = 0, d = 0, rc = 1;
    pair_list pl = {0};
    nb_error err = {0};
    char dir[1200];
    given_summary s;
    if (load_inputs(&a, &feat, &flip, &n, &d, &pl, &labels, &quality, &err) || make_folder(dir, sizeof dir, &a, &err))
        goto out;
    given_input in = {feat, flip, n, d, pl.n ? &pl : NULL, labels, quality};
    given_options opt = {a.draw_pairs, a.folds, a.cmc_ranks, a.far, a.seed};
    if (given_evaluate(&s, &in, &opt, dir, &err))
        goto out;
    if (!a.quiet)
        given_print_table(stdout, &s);
    printf("results: %s/\n", dir);
    rc = 0;
out:
    if (rc)
        nb_error_print(&err, stderr);
    free(feat);
    free(flip);
    free(labels);
    free(quality);
    free(pl.p);
    return rc;
}
