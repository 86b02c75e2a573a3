# bars.gp — final metrics per loss (per value of the swept keys): mean ± sd over seeds as bars.
#
#   gnuplot -c plots/bars.gp FMT OUT DATA NMETRICS [YLABEL]
#
# DATA: a CSV with one row per loss: label,<metric 1>,<sd 1>,<metric 2>,<sd 2>,… — the header
# names each metric (the sd columns' headers are not shown); NMETRICS the number of metrics
# (normbench plot writes it from summary_agg.csv as figures/data/bars.csv).
fmt = ARG1; out = ARG2; data = ARG3; nm = int(ARG4)
ylabel = ARGC >= 5 ? ARG5 : "value (fraction)"
_i = strlen(ARG0); while (_i > 0 && ARG0[_i:_i] ne "/") { _i = _i - 1 }
load (_i > 0 ? ARG0[1:_i] : "") . "common.gp"

stats data using 2 nooutput
nrows = STATS_records
set style data histogram
set style histogram errorbars gap 1.5 lw 1.5
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:1.05]
set ytics 0.1
set grid noxtics ytics
set ylabel ylabel
if (nrows > 4) { set xtics rotate by -30 left }
set key outside right top vertical Left reverse samplen 2 spacing 1.2 width 1
plot for [k=0:nm-1] data using 2+2*k:3+2*k:xtic(1) lc k+1 title columnhead(2+2*k)
