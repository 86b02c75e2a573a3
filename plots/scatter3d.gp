# scatter3d.gp — 3-D test features coloured by class, with the class-weight directions drawn.
# For losses that normalise features, the directions f/‖f‖ are drawn on the unit sphere instead
# of the raw features (what such a loss sees).
#
#   gnuplot -c plots/scatter3d.gp FMT OUT FEATURES WEIGHTS TITLE [NORMALISED]
#
# FEATURES: a run's features.csv (label,quality,f0,f1,f2); WEIGHTS: its weights.csv
# (class,w0,w1,w2), or "" when there is none; TITLE the figure's title; NORMALISED 1 for the
# unit-sphere view. Arrows have the length of the largest feature (or 1): only their direction is
# the weight's.
fmt = ARG1; out = ARG2; feat = ARG3; wts = ARG4; title = ARG5
normalised = (ARGC >= 6 && ARG6 eq "1")
_i = strlen(ARG0); while (_i > 0 && ARG0[_i:_i] ne "/") { _i = _i - 1 }
load (_i > 0 ? ARG0[1:_i] : "") . "common.gp"

nrm3(x, y, z) = sqrt(x*x + y*y + z*z)
fn = "nrm3(column('f0'), column('f1'), column('f2'))"
wn = "nrm3(column('w0'), column('w1'), column('w2'))"
stats feat using "label" nooutput
ncls = int(STATS_max) + 1
stats feat using (@fn) nooutput
R = normalised ? 1 : (STATS_max > 0 ? STATS_max : 1)
# f/‖f‖ when normalised, f otherwise; one class at a time (NaN for the others)
g(k) = normalised ? column(k) / @fn : column(k)
cx(c) = (column("label") == c) ? g("f0") : NaN
classtitle(c) = ncls <= 12 ? sprintf("class %d", c) : ""
arrowfmt = "head filled size screen 0.015,20 lw 2 lc variable"

set title title . (normalised ? ": directions f/‖f‖ on the unit sphere" : ": features f")
set view 62, 35, 1, 1
set view equal xyz
set xyplane 0
set xrange [-1.1*R:1.1*R]; set yrange [-1.1*R:1.1*R]; set zrange [-1.1*R:1.1*R]
set xlabel (normalised ? "f₁/‖f‖" : "feature 1")
set ylabel (normalised ? "f₂/‖f‖" : "feature 2")
set zlabel (normalised ? "f₃/‖f‖" : "feature 3") rotate parallel
set tics scale 0.5
set border 4095 lc rgb "#bbbbbb"
set key at screen 0.98, screen 0.85 right top vertical Left reverse samplen 1 spacing 1.15 width 1
set lmargin screen 0.1; set rmargin screen 0.80
set parametric
set urange [0:2*pi]; set vrange [-pi/2:pi/2]
set isosamples 25, 13
sphere = normalised ? "cos(u)*cos(v), sin(u)*cos(v), sin(v) with lines lc rgb '#e4e4e4' lw 0.5 notitle," : ""
arrows = wts ne "" ? ", wts using (0):(0):(0):(0.95*R*column('w0')/@wn):(0.95*R*column('w1')/@wn):(0.95*R*column('w2')/@wn):(int(column('class'))+1) with vectors @arrowfmt title 'class weights'" : ""
eval "splot " . sphere . " for [c=0:ncls-1] feat using ((column('label') == c) ? g('f0') : NaN):(g('f1')):(g('f2')) with points lc c+1 pt 7 ps 0.35 title classtitle(c)" . arrows
