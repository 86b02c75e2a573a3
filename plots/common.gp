# common.gp — what every normbench figure shares: output format and size, font, colours.
#
# Loaded by each script in plots/ after it has set `fmt` ("png" or "svg") and `out` (the output
# file). Every figure is 960 × 640 pixels (PNG through pngcairo, SVG with a fixed size) in DejaVu
# Sans (Debian's fonts-dejavu-core); to draw one larger by hand, set width/height first:
#     gnuplot -e "width=1600; height=1000" -c plots/roc.gp png roc.png figures/data/roc.csv
# Text is drawn as given (noenhanced): run names such as tar_at_far_1e-2 keep their underscores,
# and Greek letters are written as Unicode.
if (!exists("width")) width = 960
if (!exists("height")) height = 640
if (fmt eq "svg") {
    set terminal svg size width,height fixed font "DejaVu Sans,14" noenhanced background "white" linewidth 1.2
} else {
    set terminal pngcairo size width,height font "DejaVu Sans,11" noenhanced background "white" linewidth 1.2
}
set output out
set datafile separator comma
set encoding utf8

# Ten distinguishable colours (matplotlib's tab10), reused cyclically.
set linetype 1 lc rgb "#1f77b4" lw 2 pt 7 ps 0.8
set linetype 2 lc rgb "#ff7f0e" lw 2 pt 5 ps 0.8
set linetype 3 lc rgb "#2ca02c" lw 2 pt 9 ps 0.9
set linetype 4 lc rgb "#d62728" lw 2 pt 11 ps 0.9
set linetype 5 lc rgb "#9467bd" lw 2 pt 13 ps 0.9
set linetype 6 lc rgb "#8c564b" lw 2 pt 7 ps 0.8
set linetype 7 lc rgb "#e377c2" lw 2 pt 5 ps 0.8
set linetype 8 lc rgb "#7f7f7f" lw 2 pt 9 ps 0.9
set linetype 9 lc rgb "#bcbd22" lw 2 pt 11 ps 0.9
set linetype 10 lc rgb "#17becf" lw 2 pt 13 ps 0.9
set linetype cycle 10

set grid back lc rgb "#d0d0d0" lw 0.8 dt 1
set border 3 lw 1
set tics nomirror out
set key noautotitle

# Per-line styles given as words: colour index and dash type of line i (1-based), default i and
# solid. The scripts take them as two optional arguments, e.g. "1 1 2 2" and "1 2 1 2" for two
# losses with two seeds each (same colour per loss, dashes per seed).
color_of(list, i) = (list eq "" || words(list) < i) ? i : int(word(list, i))
dash_of(list, i) = (list eq "" || words(list) < i) ? 1 : int(word(list, i))

# Figures of one panel per configuration (erc.gp, norm_quality.gp): the panel titles come as one
# string joined by ';'. panel_count(s) is their number, panel_name(s, k) the k-th (1-based), and
# panel_rows/panel_cols the grid: up to 3 in a row, then 2 × 2, then 3 columns.
panel_count(s) = strstrt(s, ";") ? 1 + panel_count(s[strstrt(s, ";") + 1:]) : 1
panel_name(s, k) = k <= 1 ? (strstrt(s, ";") ? s[1:strstrt(s, ";") - 1] : s) : panel_name(s[strstrt(s, ";") + 1:], k - 1)
panel_cols(n) = n <= 3 ? n : (n == 4 ? 2 : 3)
panel_rows(n) = int((n + panel_cols(n) - 1) / panel_cols(n))
