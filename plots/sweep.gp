# sweep.gp — a final metric against a swept number (α, s, m, identities …), mean ± sd over seeds,
# one line per value of the other swept keys (usually one per loss), with the theory overlaid.
#
#   gnuplot -c plots/sweep.gp FMT OUT DATA XLABEL YLABEL [LOG] [VLINE] [BOUND] [BOUNDTITLE]
#
# DATA: one block per line (blocks separated by two blank lines), columns
#   <legend>,x,mean,sd       — the header's first cell is the line's legend
# (normbench plot writes it from summary_agg.csv as figures/data/sweep_<metric>_vs_<key>.csv).
# LOG the log-scaled axes: "", "x", "y" or "xy" (base 2 on x). VLINE "x;legend" draws a vertical
# line at x (α_low on α sweeps), "" for none. BOUND a CSV with columns x,bound drawn as a dashed
# black curve titled BOUNDTITLE (the NormFace loss lower bound on s sweeps), "" for none.
fmt = ARG1; out = ARG2; data = ARG3; xlabel = ARG4; ylabel = ARG5
logaxes = ARGC >= 6 ? ARG6 : ""
vline = ARGC >= 7 ? ARG7 : ""
bound = ARGC >= 8 ? ARG8 : ""
boundtitle = ARGC >= 9 ? ARG9 : "bound"
_i = strlen(ARG0); while (_i > 0 && ARG0[_i:_i] ne "/") { _i = _i - 1 }
load (_i > 0 ? ARG0[1:_i] : "") . "common.gp"

stats data using 2 nooutput
nblocks = STATS_blocks
xmin = STATS_min; xmax = STATS_max
vx = NaN; vtitle = ""
if (vline ne "") {
    _s = strstrt(vline, ";")
    vx = real(vline[1:_s-1]); vtitle = vline[_s+1:]
    if (vx < xmin) { xmin = vx }
    if (vx > xmax) { xmax = vx }
}
set xlabel xlabel
set ylabel ylabel
if (strstrt(logaxes, "x")) {
    set logscale x 2
    set xrange [xmin / 1.25 : xmax * 1.25]
} else {
    pad = (xmax > xmin) ? 0.05 * (xmax - xmin) : 0.5
    set xrange [xmin - pad : xmax + pad]
}
if (strstrt(logaxes, "y")) {
    # a bound that falls by orders of magnitude would squash the data: keep two decades below it
    stats data using 3 nooutput
    set logscale y
    set yrange [STATS_min / 100.0 : *]
}
set key outside below center vertical Left reverse maxrows 4 samplen 3 spacing 1.2 width 2
if (vline ne "") {
    set arrow 1 from vx, graph 0 to vx, graph 1 nohead lc rgb "#555555" lw 2 dt 4 front
}
main = "for [i=0:nblocks-1] data index i using 2:3:4 with yerrorlines lc i+1 ps 1 title columnhead(1)"
bkey = (bound ne "") ? ", bound using 1:2 with lines lc rgb 'black' lw 2 dt 2 title boundtitle" : ""
vkey = (vline ne "") ? ", NaN with lines lc rgb '#555555' lw 2 dt 4 title vtitle" : ""
eval "plot " . main . bkey . vkey
