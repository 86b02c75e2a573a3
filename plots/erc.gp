# erc.gp — error-versus-reject curves (docs/evaluation.md §4c): FNMR at the full set's FMR = 1e-2
# threshold against the share of pairs rejected, rejecting by quality (solid; the feature norm
# unless a score was given), by the oracle degradation level (dash-dot, same colour; only when the
# test set has degradation levels, else the column is empty and nothing is drawn) and at random
# (dotted, same colour), one group of lines per run (erc.csv). A quality score that knows which
# comparisons fail gives a solid line below its dotted one, and near its dash-dot one when it
# recovers the oracle's gain (docs/claims.md §5 claim 7).
#
#   gnuplot -c plots/erc.gp FMT OUT DATA [COLORS] [DASHES] [GROUPS NAMES]
#
# GROUPS and NAMES (normbench plot gives them when configurations have several seeds each): the
# panel (1-based) of each block as words, and the panels' titles joined by ';' — one panel per
# configuration, each seed's curves in its colour (solid: by the norm; dash-dot: oracle; dotted:
# random), on shared axes.
#
# DATA: one block per run (two blank lines between blocks), columns <legend>,reject,
# fnmr_at_fmr_1e-2,fnmr_at_fmr_1e-2_oracle,fnmr_at_fmr_1e-2_random — the header's first cell is the run's legend
# (normbench plot writes it from each run's erc.csv as figures/data/erc.csv).
fmt = ARG1; out = ARG2; data = ARG3
colors = ARGC >= 4 ? ARG4 : ""
dashes = ARGC >= 5 ? ARG5 : ""
groups = ARGC >= 6 ? ARG6 : ""
names = ARGC >= 7 ? ARG7 : ""
_i = strlen(ARG0); while (_i > 0 && ARG0[_i:_i] ne "/") { _i = _i - 1 }
load (_i > 0 ? ARG0[1:_i] : "") . "common.gp"

stats data using 2 nooutput
nblocks = STATS_blocks
set xrange [0 : 0.5]
set yrange [0 : *]
set xlabel "share of pairs rejected (worst quality first)"
set ylabel "FNMR at the full set's FMR = 1e-2 threshold"
if (groups eq "") {
    set key outside right top vertical Left reverse samplen 3 spacing 1.1 width 1
    plot for [i=0:nblocks-1] data index i using 2:3 with linespoints lc color_of(colors, i+1) \
             dt dash_of(dashes, i+1) ps 0.6 title columnhead(1), \
         for [i=0:nblocks-1] data index i using 2:4 with lines lc color_of(colors, i+1) dt 4 \
             title (i == 0 ? "oracle: by degradation level (dash-dot)" : ""), \
         for [i=0:nblocks-1] data index i using 2:5 with lines lc color_of(colors, i+1) dt 3 \
             title (i == 0 ? "random rejection (dotted)" : "")
} else {
    stats data using 3 nooutput
    ymax = STATS_max
    stats data using 5 nooutput
    ymax = STATS_max > ymax ? STATS_max : ymax
    set yrange [0 : 1.05 * ymax]
    npanels = panel_count(names)
    set multiplot layout panel_rows(npanels), panel_cols(npanels)
    set key inside left bottom vertical Left reverse samplen 2 spacing 0.9 font ",8" opaque
    set xtics 0.1
    set ytics 0.2
    do for [g=1:npanels] {
        set title panel_name(names, g) font ",10"
        set xlabel (g > npanels - panel_cols(npanels) ? "share of pairs rejected" : "")
        set ylabel (g % panel_cols(npanels) == 1 || panel_cols(npanels) == 1 ? "FNMR at FMR = 1e-2" : "")
        cmd = ""
        first = 1
        do for [i=0:nblocks-1] {
            if (int(word(groups, i+1)) == g) {
                lc = color_of(colors, i+1)
                cmd = cmd . (cmd eq "" ? "" : ", ") . \
                      sprintf("data index %d using 2:3 with lines lc %d dt 1 lw 1.5 title '%s', ", i, lc, \
                              (g == 1 && first ? "by the norm (solid), per seed" : "")) . \
                      sprintf("data index %d using 2:4 with lines lc %d dt 4 lw 1 title '%s', ", i, lc, \
                              (g == 1 && first ? "oracle (dash-dot)" : "")) . \
                      sprintf("data index %d using 2:5 with lines lc %d dt 3 lw 1 title '%s'", i, lc, \
                              (g == 1 && first ? "random (dotted)" : ""))
                first = 0
            }
        }
        if (cmd ne "") { eval "plot " . cmd }
    }
    unset multiplot
}
