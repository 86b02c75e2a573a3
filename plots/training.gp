# training.gp — one training quantity against the epochs done, one line per run: every
# train.log_every steps from each run's steps.csv, or per epoch from its metrics.csv.
#
#   gnuplot -c plots/training.gp FMT OUT DATA COLUMN YLABEL [LOGY] [COLORS] [DASHES] [SIZES]
#
# FMT png|svg; OUT the image file; DATA a CSV of one block per run (blocks separated by two blank
# lines), each block a copy of that run's steps.csv or metrics.csv with one extra first column
# whose header is the run's legend (normbench plot writes them as figures/data/training.csv and,
# for the per-epoch test accuracy, training_epochs.csv); both have a column "epoch" (fractional in
# steps.csv); COLUMN the column to draw (train_loss, train_acc, test_acc, feature_norm, …); YLABEL
# the y-axis label; LOGY 1 for a log y axis; COLORS/DASHES see common.gp; SIZES the point size of
# each block as words (0: a line without points, for the dense steps.csv blocks), default 0.6.
fmt = ARG1; out = ARG2; data = ARG3; ycol = ARG4; ylabel = ARG5
logy = (ARGC >= 6 && ARG6 eq "1")
colors = ARGC >= 7 ? ARG7 : ""
dashes = ARGC >= 8 ? ARG8 : ""
sizes = ARGC >= 9 ? ARG9 : ""
_i = strlen(ARG0); while (_i > 0 && ARG0[_i:_i] ne "/") { _i = _i - 1 }
load (_i > 0 ? ARG0[1:_i] : "") . "common.gp"
size_of(list, i) = (list eq "" || words(list) < i) ? 0.6 : real(word(list, i))

stats data using "epoch" nooutput
nblocks = STATS_blocks
set xlabel "epoch"
set ylabel ylabel
if (logy) { set logscale y }
if (STATS_max - STATS_min <= 20) { set xtics 1 }
set xrange [(STATS_min < 1 ? 0 : STATS_min):STATS_max]
set key outside right top vertical Left reverse samplen 3 spacing 1.1 width 1
plot for [i=0:nblocks-1] data index i using "epoch":ycol with linespoints \
     lc color_of(colors, i+1) dt dash_of(dashes, i+1) ps size_of(sizes, i+1) title columnhead(1)
