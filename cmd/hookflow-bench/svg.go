package main

import (
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// svgDoc builds one static SVG by hand. Everything a reader sees is <text>,
// never paths, so screen readers, search and copy-paste get the numbers; there
// are no scripts and no web fonts, so it renders the same inside an <img> on
// GitHub as in a browser opened on the file.
type svgDoc struct{ b strings.Builder }

// Colours: the Okabe–Ito palette, which stays distinguishable with each common
// colour-vision deficiency, minus its orange, sky blue and yellow: those are
// below 3:1 against white, too faint for a line or a bar. Dark text ink is
// used on every fill lighter than blue.
const (
	inkText   = "#222222"
	inkMuted  = "#555555"
	gridLine  = "#dddddd"
	fillBlue  = "#0072B2"
	fillRed   = "#D55E00" // vermillion
	fillGreen = "#009E73" // bluish green
	fillPink  = "#CC79A7" // reddish purple
	fillBlack = "#000000"
	fillGrey  = "#767676" // 4.5:1 on white: the baselines, drawn as the backdrop
)

// seriesColour is the i-th system's colour; a sixth system reuses the first,
// told apart by its legend entry.
func seriesColour(i int) string {
	palette := [...]string{fillBlue, fillRed, fillGreen, fillPink, fillBlack}
	return palette[i%len(palette)]
}

func newSVG(id string, width, height int, title, desc string) *svgDoc {
	d := &svgDoc{}
	d.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-title %s-desc" `+
		`font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="13" fill="%s">`+"\n",
		width, height, width, height, id, id, inkText)
	d.printf("<title id=\"%s-title\">%s</title>\n<desc id=\"%s-desc\">%s</desc>\n", id, esc(title), id, esc(desc))
	// An opaque background: GitHub's dark theme would otherwise put the dark
	// text on a dark page.
	d.printf("<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width, height)
	d.text(16, 24, `font-size="16" font-weight="bold"`, title)
	return d
}

func (d *svgDoc) printf(format string, args ...any) { fmt.Fprintf(&d.b, format, args...) }

// text writes s at (x, y); attrs are extra attributes, written as given.
func (d *svgDoc) text(x, y float64, attrs, s string) {
	d.printf("<text x=\"%.1f\" y=\"%.1f\" %s>%s</text>\n", x, y, attrs, esc(s))
}

func (d *svgDoc) line(x1, y1, x2, y2 float64, attrs string) {
	d.printf("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" %s/>\n", x1, y1, x2, y2, attrs)
}

// rect is a filled box with a tooltip, for browsers that show one.
func (d *svgDoc) rect(x, y, w, h float64, fill, tip string) {
	d.printf("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"#ffffff\"><title>%s</title></rect>\n",
		x, y, w, h, fill, esc(tip))
}

// group opens a <g> that names what it holds; tests count them, assistive
// technology reads the label.
func (d *svgDoc) group(class, label string) {
	d.printf("<g class=\"%s\" aria-label=\"%s\">\n", class, esc(label))
}

func (d *svgDoc) endGroup() { d.printf("</g>\n") }

func (d *svgDoc) end() string {
	d.printf("</svg>\n")
	return d.b.String()
}

// esc escapes s for XML text and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}

// logTicks returns 1-2-5 ticks from the largest at or below lo to the
// smallest at or above hi, so the axis spans whole ticks. Over more than three
// decades it keeps only the powers of ten, so labels do not crowd.
func logTicks(lo, hi float64) []float64 {
	if hi <= 0 {
		hi = 1
	}
	if lo <= 0 || lo > hi {
		lo = hi
	}
	steps := []float64{1, 2, 5}
	if math.Log10(hi/lo) > 3 {
		steps = []float64{1}
	}
	const slack = 1e-9 // 0.1+0.2 style error must not add a tick
	var ticks []float64
	done := func() bool { return len(ticks) >= 2 && ticks[len(ticks)-1] >= hi*(1-slack) }
	for e := int(math.Floor(math.Log10(lo))) - 1; !done(); e++ {
		for _, m := range steps {
			switch v := m * math.Pow10(e); {
			case v <= lo*(1+slack):
				ticks = []float64{v} // the latest tick at or below lo starts the axis
			case !done():
				ticks = append(ticks, v)
			}
		}
	}
	return ticks
}

// linearTicks returns ticks from 0 to at least max in steps of 1, 2 or 5
// times a power of ten, about five of them.
func linearTicks(max float64) []float64 {
	if max <= 0 {
		max = 1
	}
	raw := max / 5
	mag := math.Pow10(int(math.Floor(math.Log10(raw))))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []float64
	for i := 0; ; i++ {
		v := float64(i) * step
		ticks = append(ticks, v)
		if v >= max {
			return ticks
		}
	}
}

// fmtMs is a latency as people say it: "13 ms", "0.5 ms", "1.3 s", "13 s".
func fmtMs(v float64) string {
	switch {
	case v >= 10000:
		return trimFloat(math.Round(v/1000), 0) + " s"
	case v >= 1000:
		return trimFloat(v/1000, 1) + " s"
	case v >= 10:
		return trimFloat(v, 0) + " ms"
	default:
		return trimFloat(v, 1) + " ms"
	}
}

// trimFloat formats v with at most prec decimals, without trailing zeros.
func trimFloat(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
