# norm_hist.gp — histogram of the feature norm ‖f‖ (before normalisation) of a run's test samples,
# one histogram per quality level (0 = clean, higher = more degraded): L2-softmax Fig. 1's
# observation that the norm shrinks on hard samples.
#
#   gnuplot -c plots/norm_hist.gp FMT OUT FEATURES DIM TITLE
#
# FEATURES: a run's features.csv (label,quality,f0,…,f<DIM-1>); DIM the feature dimension; TITLE
# the figure's title (the run's legend).
fmt = ARG1; out = ARG2; feat = ARG3; dim = int(ARG4); title = ARG5
_i = strlen(ARG0); while (_i > 0 && ARG0[_i:_i] ne "/") { _i = _i - 1 }
load (_i > 0 ? ARG0[1:_i] : "") . "common.gp"

# ‖f‖ of the current row: the features are columns 3 … 2+DIM
fnorm = "sqrt(sum [k=3:2+dim] column(k)**2)"
stats feat using (@fnorm) nooutput
nmin = STATS_min; nmax = STATS_max
stats feat using "quality" nooutput
qmax = int(STATS_max)
nbins = 40
bw = (nmax > nmin) ? (nmax - nmin) / nbins : 1
bin(x) = nmin + bw * (floor((x - nmin) / bw) + 0.5)
set title title
set xlabel "feature norm ‖f‖ (before normalisation)"
set ylabel "test samples per bin"
set xrange [nmin - bw : nmax + bw]
set yrange [0:*]
set style fill transparent solid 0.35 border
set key outside right top vertical Left reverse samplen 2 spacing 1.2 width 1
plot for [q=0:qmax] feat using (column("quality") == q ? bin(@fnorm) : NaN):(1.0) smooth frequency \
         with boxes lc q+1 title sprintf("quality %d%s", q, q == 0 ? " (clean)" : "")
