# norm_quality.gp — mean feature norm ‖f‖ (± sd over the test samples) against the quality level
# of the sample (0 = clean, higher = more degraded), one line per run (norms.csv).
#
#   gnuplot -c plots/norm_quality.gp FMT OUT DATA [LOGY] [COLORS] [DASHES]
#
# DATA: one block per run (two blank lines between blocks), each block a copy of the run's
# norms.csv (quality,count,norm_mean,norm_sd) with one extra first column whose header is the run's
# legend (normbench plot writes it as figures/data/norm_quality.csv). LOGY 1 for a log y axis.
fmt = ARG1; out = ARG2; data = ARG3
logy = (ARGC >= 4 && ARG4 eq "1")
colors = ARGC >= 5 ? ARG5 : ""
dashes = ARGC >= 6 ? ARG6 : ""
_i = strlen(ARG0); while (_i > 0 && ARG0[_i:_i] ne "/") { _i = _i - 1 }
load (_i > 0 ? ARG0[1:_i] : "") . "common.gp"

stats data using "quality" nooutput
nblocks = STATS_blocks
set xrange [STATS_min - 0.3 : STATS_max + 0.3]
set xtics 1
if (logy) { set logscale y }
set xlabel "quality level of the test sample (0 = clean, higher = more degraded)"
set ylabel "mean feature norm ‖f‖ ± sd" . (logy ? " (log scale)" : "")
set key outside right top vertical Left reverse samplen 3 spacing 1.1 width 1
plot for [i=0:nblocks-1] data index i using "quality":"norm_mean":"norm_sd" with yerrorlines \
         lc color_of(colors, i+1) dt dash_of(dashes, i+1) title columnhead(1)
