# training.gp — one training quantity per epoch, one line per run (metrics.csv of each run).
#
#   gnuplot -c plots/training.gp FMT OUT DATA COLUMN YLABEL [LOGY] [COLORS] [DASHES]
#
# FMT png|svg; OUT the image file; DATA a CSV of one block per run (blocks separated by two blank
# lines), each block a copy of that run's metrics.csv with one extra first column whose header
# is the run's legend (normbench plot writes it as figures/data/training.csv); COLUMN the
# metrics.csv column to draw (train_loss, train_acc, test_acc, feature_norm, …); YLABEL the
# y-axis label; LOGY 1 for a log y axis; COLORS/DASHES see common.gp.
fmt = ARG1; out = ARG2; data = ARG3; ycol = ARG4; ylabel = ARG5
logy = (ARGC >= 6 && ARG6 eq "1")
colors = ARGC >= 7 ? ARG7 : ""
dashes = ARGC >= 8 ? ARG8 : ""
_i = strlen(ARG0); while (_i > 0 && ARG0[_i:_i] ne "/") { _i = _i - 1 }
load (_i > 0 ? ARG0[1:_i] : "") . "common.gp"

stats data using "epoch" nooutput
nblocks = STATS_blocks
set xlabel "epoch"
set ylabel ylabel
if (logy) { set logscale y }
if (STATS_max - STATS_min <= 20) { set xtics 1 }
set xrange [STATS_min:STATS_max]
set key outside right top vertical Left reverse samplen 3 spacing 1.1 width 1
plot for [i=0:nblocks-1] data index i using "epoch":ycol with linespoints \
     lc color_of(colors, i+1) dt dash_of(dashes, i+1) ps 0.6 title columnhead(1)
