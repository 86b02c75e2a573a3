# roc.gp — verification ROC curves, TAR against FAR on a log axis, one line per run (roc.csv).
#
#   gnuplot -c plots/roc.gp FMT OUT DATA [COLORS] [DASHES]
#
# DATA: one block per run (two blank lines between blocks), columns <legend>,far,tar — the
# header's first cell is the run's legend; rows with FAR = 0 left out, since a log axis cannot show
# them (normbench plot writes it from each run's roc.csv as figures/data/roc.csv).
fmt = ARG1; out = ARG2; data = ARG3
colors = ARGC >= 4 ? ARG4 : ""
dashes = ARGC >= 5 ? ARG5 : ""
_i = strlen(ARG0); while (_i > 0 && ARG0[_i:_i] ne "/") { _i = _i - 1 }
load (_i > 0 ? ARG0[1:_i] : "") . "common.gp"

stats data using 2 nooutput
nblocks = STATS_blocks
fmin = STATS_min
set logscale x 10
set xrange [10**floor(log10(fmin)) : 1]
set yrange [0:1.02]
set format x "%g"
set xlabel "false accept rate (FAR, log scale)"
set ylabel "true accept rate (TAR)"
set key outside right top vertical Left reverse samplen 3 spacing 1.1 width 1
plot for [i=0:nblocks-1] data index i using 2:3 with steps lc color_of(colors, i+1) \
         dt dash_of(dashes, i+1) title columnhead(1), \
     x with lines lc rgb "#aaaaaa" lw 1 dt 3 title "chance (TAR = FAR)"
