# norm_quality.gp — mean feature norm ‖f‖ (± sd over the test samples) against the quality level
# of the sample (0 = clean, higher = more degraded), one line per run (norms.csv).
#
#   gnuplot -c plots/norm_quality.gp FMT OUT DATA [LOGY] [COLORS] [DASHES] [GROUPS NAMES]
#
# GROUPS and NAMES (normbench plot gives them when configurations have several seeds each): the
# panel (1-based) of each block as words, and the panels' titles joined by ';' — one panel per
# configuration, one line per seed, on one shared y axis so that panels compare.
#
# DATA: one block per run (two blank lines between blocks), each block a copy of the run's
# norms.csv (quality,count,norm_mean,norm_sd) with one extra first column whose header is the run's
# legend (normbench plot writes it as figures/data/norm_quality.csv). LOGY 1 for a log y axis.
fmt = ARG1; out = ARG2; data = ARG3
logy = (ARGC >= 4 && ARG4 eq "1")
colors = ARGC >= 5 ? ARG5 : ""
dashes = ARGC >= 6 ? ARG6 : ""
groups = ARGC >= 7 ? ARG7 : ""
names = ARGC >= 8 ? ARG8 : ""
_i = strlen(ARG0); while (_i > 0 && ARG0[_i:_i] ne "/") { _i = _i - 1 }
load (_i > 0 ? ARG0[1:_i] : "") . "common.gp"

stats data using "quality" nooutput
nblocks = STATS_blocks
set xrange [STATS_min - 0.3 : STATS_max + 0.3]
set xtics 1
if (logy) { set logscale y }
set xlabel "quality level of the test sample (0 = clean, higher = more degraded)"
set ylabel "mean feature norm ‖f‖ ± sd" . (logy ? " (log scale)" : "")
if (groups eq "") {
    set key outside right top vertical Left reverse samplen 3 spacing 1.1 width 1
    plot for [i=0:nblocks-1] data index i using "quality":"norm_mean":"norm_sd" with yerrorlines \
             lc color_of(colors, i+1) dt dash_of(dashes, i+1) title columnhead(1)
} else {
    stats data using "norm_mean" nooutput
    ylo = STATS_min; yhi = STATS_max
    if (logy) { set yrange [ylo / 2 : yhi * 2] } else { set yrange [0 : yhi * 1.15] }
    npanels = panel_count(names)
    set multiplot layout panel_rows(npanels), panel_cols(npanels)
    do for [g=1:npanels] {
        set title panel_name(names, g) font ",10"
        set xlabel (g > npanels - panel_cols(npanels) ? "quality level (0 = clean)" : "")
        set ylabel (g % panel_cols(npanels) == 1 || panel_cols(npanels) == 1 ? "mean ‖f‖ ± sd" . (logy ? " (log)" : "") : "")
        cmd = ""
        do for [i=0:nblocks-1] {
            if (int(word(groups, i+1)) == g) {
                cmd = cmd . (cmd eq "" ? "" : ", ") . \
                      sprintf("data index %d using 'quality':'norm_mean':'norm_sd' with yerrorlines lc %d dt 1 " . \
                              "lw 1.2 ps 0.5 notitle", i, color_of(colors, i+1))
            }
        }
        if (cmd ne "") { eval "plot " . cmd }
    }
    unset multiplot
}
