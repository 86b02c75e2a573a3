# scatter2d.gp — 2-D test features coloured by class, with the class-weight directions drawn
# (NormFace Fig. 2, L2-softmax Fig. 1). For losses that normalise features, a second panel shows
# the directions f/‖f‖ on the unit circle, which is all such a loss sees.
#
#   gnuplot -c plots/scatter2d.gp FMT OUT FEATURES WEIGHTS TITLE [NORMALISED]
#
# FEATURES: a run's features.csv (label,quality,f0,f1); WEIGHTS: its weights.csv (class,w0,w1), or
# "" when there is none; TITLE the figure's title (the run's legend); NORMALISED 1 to add the
# unit-circle panel. Arrows have the length of the largest feature (left) or 1 (right): only
# their direction is the weight's.
fmt = ARG1; out = ARG2; feat = ARG3; wts = ARG4; title = ARG5
normalised = (ARGC >= 6 && ARG6 eq "1")
_i = strlen(ARG0); while (_i > 0 && ARG0[_i:_i] ne "/") { _i = _i - 1 }
load (_i > 0 ? ARG0[1:_i] : "") . "common.gp"

nrm(x, y) = sqrt(x*x + y*y)
stats feat using "label" nooutput
ncls = int(STATS_max) + 1
stats feat using (nrm(column("f0"), column("f1"))) nooutput
R = STATS_max > 0 ? STATS_max : 1
# a class's points: f0/f1 of its rows, NaN for the others
fx(c) = (column("label") == c) ? column("f0") : NaN
fy(c) = (column("label") == c) ? column("f1") : NaN
ux(c) = (column("label") == c) ? column("f0") / nrm(column("f0"), column("f1")) : NaN
uy(c) = (column("label") == c) ? column("f1") / nrm(column("f0"), column("f1")) : NaN
wn = "nrm(column('w0'), column('w1'))"
arrowfmt = "head filled size screen 0.012,20 lw 2 lc variable"
# about four labelled tics per half axis
_e = 10**floor(log10(R)); _m = R / _e
step = _m >= 3 ? 2*_e : (_m >= 1.5 ? _e : 0.5*_e)
# Square panels placed by hand (equal scales on both axes: 320 × 320 pixels side by side, or one
# of 460 × 460), the legend in a column at the right.
set key at screen 0.835, screen 0.8 left top vertical Left reverse samplen 1 spacing 1.15 width 1
if (normalised) {
    set tmargin screen 0.8; set bmargin screen 0.8 - 320.0/height
} else {
    set tmargin screen 0.88; set bmargin screen 0.88 - 460.0/height
}
set xlabel "feature 1"
set ylabel "feature 2"
classtitle(c) = ncls <= 12 ? sprintf("class %d", c) : ""
set angles radians
set parametric
set trange [0:2*pi]
if (normalised) {
    set multiplot layout 1,2 title title
} else {
    set multiplot layout 1,1 title title
}
set title "features f (before normalisation)"
if (normalised) {
    set lmargin screen 0.07; set rmargin screen 0.07 + 320.0/width
} else {
    set lmargin screen 0.25; set rmargin screen 0.25 + 460.0/width
}
set xtics step; set ytics step
set xrange [-1.1*R:1.1*R]
set yrange [-1.1*R:1.1*R]
if (wts ne "") {
    plot for [c=0:ncls-1] feat using (fx(c)):(fy(c)) with points lc c+1 pt 7 ps 0.35 title classtitle(c), \
         wts using (0):(0):(0.95*R*column("w0")/@wn):(0.95*R*column("w1")/@wn):(int(column("class"))+1) \
             with vectors @arrowfmt title "class weights"
} else {
    plot for [c=0:ncls-1] feat using (fx(c)):(fy(c)) with points lc c+1 pt 7 ps 0.35 title classtitle(c)
}
if (normalised) {
    set title "directions f/‖f‖ on the unit circle"
    set xlabel "feature 1 / ‖f‖"
    set ylabel "feature 2 / ‖f‖"
    set lmargin screen 0.49; set rmargin screen 0.49 + 320.0/width
    set xtics 0.5; set ytics 0.5
    set xrange [-1.25:1.25]
    set yrange [-1.25:1.25]
    if (wts ne "") {
        plot cos(t), sin(t) with lines lc rgb "#999999" lw 1 notitle, \
             for [c=0:ncls-1] feat using (ux(c)):(uy(c)) with points lc c+1 pt 7 ps 0.35 notitle, \
             wts using (0):(0):(column("w0")/@wn):(column("w1")/@wn):(int(column("class"))+1) \
                 with vectors @arrowfmt notitle
    } else {
        plot cos(t), sin(t) with lines lc rgb "#999999" lw 1 notitle, \
             for [c=0:ncls-1] feat using (ux(c)):(uy(c)) with points lc c+1 pt 7 ps 0.35 notitle
    }
}
unset multiplot
