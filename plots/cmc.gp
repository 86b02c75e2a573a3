# cmc.gp — open-set identification: cumulative match characteristic, one line per run (cmc.csv).
#
#   gnuplot -c plots/cmc.gp FMT OUT DATA [COLORS] [DASHES]
#
# DATA: one block per run (two blank lines between blocks), columns <legend>,rank,
# identification_rate — the header's first cell is the run's legend (normbench plot writes it
# from each run's cmc.csv as figures/data/cmc.csv).
fmt = ARG1; out = ARG2; data = ARG3
colors = ARGC >= 4 ? ARG4 : ""
dashes = ARGC >= 5 ? ARG5 : ""
_i = strlen(ARG0); while (_i > 0 && ARG0[_i:_i] ne "/") { _i = _i - 1 }
load (_i > 0 ? ARG0[1:_i] : "") . "common.gp"

stats data using 2 nooutput
nblocks = STATS_blocks
set xrange [STATS_min - 0.2 : STATS_max + 0.2]
if (STATS_max <= 20) { set xtics 1 }
set yrange [0:1.02]
set xlabel "rank (gallery identities considered)"
set ylabel "identification rate (fraction of probes)"
set key outside right top vertical Left reverse samplen 3 spacing 1.1 width 1
plot for [i=0:nblocks-1] data index i using 2:3 with linespoints lc color_of(colors, i+1) \
         dt dash_of(dashes, i+1) ps 0.7 title columnhead(1)
