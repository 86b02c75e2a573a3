# theta_hist.gp — histogram of θ_y, the angle between a test feature and its class weight, as the
# fraction of test samples per bin, one line per run (theta_hist.csv).
#
#   gnuplot -c plots/theta_hist.gp FMT OUT DATA [COLORS] [DASHES]
#
# DATA: one block per run (two blank lines between blocks), columns <legend>,bin_start_deg,
# bin_end_deg,fraction — the header's first cell is the run's legend (normbench plot writes it
# from each run's theta_hist.csv, counts divided by their total, as figures/data/theta_hist.csv).
fmt = ARG1; out = ARG2; data = ARG3
colors = ARGC >= 4 ? ARG4 : ""
dashes = ARGC >= 5 ? ARG5 : ""
_i = strlen(ARG0); while (_i > 0 && ARG0[_i:_i] ne "/") { _i = _i - 1 }
load (_i > 0 ? ARG0[1:_i] : "") . "common.gp"

stats data using 3 nooutput
nblocks = STATS_blocks
set xrange [0:180]
set xtics 30
set yrange [0:*]
set xlabel "θ_y: angle between feature and its class weight (degrees)"
set ylabel "fraction of test samples per bin"
set key outside right top vertical Left reverse samplen 3 spacing 1.1 width 1
plot for [i=0:nblocks-1] data index i using ((column(2) + column(3)) / 2):4 with histeps \
         lc color_of(colors, i+1) dt dash_of(dashes, i+1) title columnhead(1)
