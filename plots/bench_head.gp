# bench_head.gp — the classification head at large C: step time and peak memory
# against the number of classes, log-log, from `normbench bench head` and, when present, the
# PyTorch reference (bench/torch_head.py).
#
#   gnuplot -c plots/bench_head.gp OUT HEAD_CSV [TORCH_CSV]
#   e.g. gnuplot -c plots/bench_head.gp results/bench/head.png results/bench/head.csv \
#                   results/bench/head_torch.csv
#
# One column of panels per feature dimension d (128, 512): top, seconds per training step
# (forward + backward + SGD, median); bottom, peak resident memory of the process that ran it.
# normbench: solid lines at sample_rate 1, dashed at 0.1 (Partial FC); PyTorch: dotted. The
# bottom panels also draw the memory reference of the issue's target, float32 W + momentum + one
# batch of logits, (2·C·d + B·C)·4 bytes (grey). Rows whose status is not "ok" are left out. A
# curve is drawn through consecutive rows of its (loss, d, rate), as both programs write them.
# PNG through pngcairo (plots/common.gp); width and height can be set with -e.
out = ARG1; head = ARG2
torch = ARGC >= 3 ? ARG3 : ""
fmt = "png"
if (!exists("width")) width = 1400
if (!exists("height")) height = 900
_i = strlen(ARG0); while (_i > 0 && ARG0[_i:_i] ne "/") { _i = _i - 1 }
load (_i > 0 ? ARG0[1:_i] : "") . "common.gp"

has_torch = 0
if (strlen(torch) > 0) { has_torch = system("test -r '" . torch . "' && echo 1 || echo 0") + 0 }

# head.csv columns: 1 loss, 2 dim, 3 classes, 5 sample_rate, 11 seconds_median, 13 peak_rss_bytes,
# 15 mem_reference_bytes, 22 status; head_torch.csv: 2 loss, 3 dim, 4 classes, 8 seconds_median,
# 10 peak_rss_bytes, 14 status. The selectors give NaN (skipped) for other rows.
nb(col, l, d, r) = (strcol(1) eq l && column(2) == d && abs(column(5) - r) < 1e-9 && strcol(22) eq "ok") ? column(col) : NaN
th(col, l, d) = (strcol(2) eq l && column(3) == d && strcol(14) eq "ok") ? column(col) : NaN
ref(d) = (column(2) == d && strcol(1) eq "softmax" && column(5) == 1) ? column(15) / 1e9 : NaN

set logscale xy
set format x "10^%L"
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
set xlabel "classes C"
set key top left Left reverse samplen 3 spacing 1.1 font ",10"
set style line 11 lc rgb "#1f77b4" lw 2 pt 7 ps 0.9          # softmax
set style line 12 lc rgb "#1f77b4" lw 2 pt 6 ps 0.9 dt 2     # softmax, sampled
set style line 13 lc rgb "#d62728" lw 2 pt 5 ps 0.9          # arcface
set style line 14 lc rgb "#d62728" lw 2 pt 4 ps 0.9 dt 2     # arcface, sampled
set style line 15 lc rgb "#1f77b4" lw 2 pt 9 ps 1.0 dt 3     # pytorch softmax
set style line 16 lc rgb "#d62728" lw 2 pt 11 ps 1.0 dt 3    # pytorch arcface
set style line 17 lc rgb "#888888" lw 1.5 dt 4               # memory reference

set multiplot layout 2,2 title "classification head: batch 256, forward + backward + SGD step" font ",13"
# a panel without any rows for its d (a subset was benchmarked) says so instead of failing
rows(d) = (column(2) == d && strcol(22) eq "ok") ? 1 : 0
empty_panel(t) = sprintf("set title '%s'; unset logscale; set xrange [0:1]; set yrange [0:1]; unset xtics; unset ytics; set label 99 'no rows for this d' at 0.5,0.5 center; plot NaN notitle; unset label 99; set xtics; set ytics; set autoscale; set logscale xy", t)
do for [d in "128 512"] {
    dd = d + 0
    set ylabel "seconds (median)"
    stats head using (rows(dd)) nooutput
    if (STATS_sum == 0) { eval empty_panel(sprintf("d = %d: seconds per step", dd)); continue }
    set title sprintf("d = %d: seconds per step", dd)
    plot head using 3:(nb(11, "softmax", dd, 1)) with linespoints ls 11 title "normbench softmax", \
         head using 3:(nb(11, "softmax", dd, 0.1)) with linespoints ls 12 title "normbench softmax, r = 0.1", \
         head using 3:(nb(11, "arcface", dd, 1)) with linespoints ls 13 title "normbench arcface", \
         head using 3:(nb(11, "arcface", dd, 0.1)) with linespoints ls 14 title "normbench arcface, r = 0.1", \
         for [k=1:has_torch] torch using 4:(th(8, "softmax", dd)) with linespoints ls 15 title "PyTorch softmax", \
         for [k=1:has_torch] torch using 4:(th(8, "arcface", dd)) with linespoints ls 16 title "PyTorch arcface"
}
do for [d in "128 512"] {
    dd = d + 0
    set ylabel "GB (VmHWM)"
    stats head using (rows(dd)) nooutput
    if (STATS_sum == 0) { eval empty_panel(sprintf("d = %d: peak resident memory", dd)); continue }
    set title sprintf("d = %d: peak resident memory", dd)
    plot head using 3:(nb(13, "softmax", dd, 1) / 1e9) with linespoints ls 11 title "normbench softmax", \
         head using 3:(nb(13, "softmax", dd, 0.1) / 1e9) with linespoints ls 12 title "normbench softmax, r = 0.1", \
         head using 3:(nb(13, "arcface", dd, 1) / 1e9) with linespoints ls 13 title "normbench arcface", \
         head using 3:(nb(13, "arcface", dd, 0.1) / 1e9) with linespoints ls 14 title "normbench arcface, r = 0.1", \
         head using 3:(ref(dd)) with lines ls 17 title "W + momentum + logits (float32)", \
         for [k=1:has_torch] torch using 4:(th(10, "softmax", dd) / 1e9) with linespoints ls 15 title "PyTorch softmax", \
         for [k=1:has_torch] torch using 4:(th(10, "arcface", dd) / 1e9) with linespoints ls 16 title "PyTorch arcface"
}
unset multiplot
