package main

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The charts the bench draws from its report, next to the Markdown.
const (
	latencySVG    = "bench-latency.svg"
	throughputSVG = "bench-throughput.svg"
)

// chartRef is a chart as the Markdown embeds it.
type chartRef struct{ alt, link string }

// writeCharts draws both charts into dir and returns their links relative to
// the Markdown file; an empty dir draws nothing.
func (r *report) writeCharts(dir, markdown string) ([]chartRef, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	charts := []struct {
		file, alt string
		draw      func() string
	}{
		{latencySVG, "latency versus load", r.latencyChart},
		{throughputSVG, "throughput and CPU per event", r.throughputChart},
	}
	var refs []chartRef
	for _, c := range charts {
		path := filepath.Join(dir, c.file)
		if err := os.WriteFile(path, []byte(c.draw()), 0o644); err != nil {
			return nil, err
		}
		refs = append(refs, chartRef{alt: c.alt, link: relLink(markdown, path)})
	}
	return refs, nil
}

// relLink is file as a link from the Markdown file's directory; Markdown
// links are slash-separated on every OS.
func relLink(markdown, file string) string {
	from, err1 := filepath.Abs(filepath.Dir(markdown))
	to, err2 := filepath.Abs(file)
	if err1 != nil || err2 != nil {
		return filepath.ToSlash(file)
	}
	rel, err := filepath.Rel(from, to)
	if err != nil {
		return filepath.ToSlash(to)
	}
	return filepath.ToSlash(rel)
}

// runLine says which run a chart shows, under its title: charts get copied
// into slides and issues without the table that dates them.
func (r *report) runLine() string {
	return fmt.Sprintf("%s, commit %s, %d cores (%s)", r.When.Format("2006-01-02"), r.Machine.Commit, r.Machine.Cores, r.Machine.CPU)
}

// curve is one system's fixed-rate runs, by offered load.
type curve struct {
	system string
	points []scenarioResult
}

// latencyCurves groups the fixed-rate runs by system, in the order systems
// first appear, so a new system (hookflow batched, say) is one more curve
// without touching the chart. The half-load run is a fixed rate too: one more
// point between the curve's rates.
func latencyCurves(results []scenarioResult) []curve {
	var cs []curve
	for _, x := range results {
		fixed := x.Scenario == "latency curve" || x.Scenario == "end-to-end half load"
		if !fixed || x.Rate <= 0 || x.P50Ms <= 0 || x.P99Ms <= 0 { // a log axis has no zero
			continue
		}
		i := slices.IndexFunc(cs, func(c curve) bool { return c.system == x.System })
		if i < 0 {
			i = len(cs)
			cs = append(cs, curve{system: x.System})
		}
		cs[i].points = append(cs[i].points, x)
	}
	for _, c := range cs {
		slices.SortFunc(c.points, func(a, b scenarioResult) int { return cmp.Compare(a.Rate, b.Rate) })
	}
	return cs
}

// systemColours gives each system one colour in both charts: hookflow's
// systems take the palette first, in the order they first appear (so
// "hookflow" is blue, "hookflow (unbatched)" vermillion), the others the
// colours after them.
func systemColours(results []scenarioResult) map[string]string {
	out := map[string]string{}
	for _, hookflow := range []bool{true, false} {
		for _, x := range results {
			if _, seen := out[x.System]; !seen && isHookflow(x.System) == hookflow {
				out[x.System] = seriesColour(len(out))
			}
		}
	}
	return out
}

func isHookflow(system string) bool { return strings.HasPrefix(system, "hookflow") }

// percentile is one line per system: told apart by dash and marker shape as
// well as by label, never by colour alone.
type percentile struct {
	name   string
	of     func(scenarioResult) float64
	dash   string
	square bool
	dy     float64 // where its value labels sit: p50 under the marker, p99 over it
}

func percentiles() []percentile {
	return []percentile{
		{name: "p50", of: func(x scenarioResult) float64 { return x.P50Ms }, dy: 17},
		{name: "p99", of: func(x scenarioResult) float64 { return x.P99Ms }, dash: `stroke-dasharray="7 4"`, square: true, dy: -9},
	}
}

// loadPlot maps offered load (linear, from 0) and latency (log) to pixels.
type loadPlot struct {
	left, right, top, bottom float64
	xTicks, yTicks           []float64
}

func (p loadPlot) x(rate float64) float64 {
	return p.left + rate/p.xTicks[len(p.xTicks)-1]*(p.right-p.left)
}

func (p loadPlot) y(ms float64) float64 {
	lo, hi := math.Log10(p.yTicks[0]), math.Log10(p.yTicks[len(p.yTicks)-1])
	return p.bottom - (math.Log10(ms)-lo)/(hi-lo)*(p.bottom-p.top)
}

// latencyChart is trigger→receipt latency versus offered load, p50 and p99
// per system, on a log axis: p99 at overload is seconds, p50 at light load
// milliseconds, and both must be readable.
func (r *report) latencyChart() string {
	curves := latencyCurves(r.Results)
	d := newSVG("latency", 800, 470, "Trigger → receipt latency versus offered load", latencyDesc(curves))
	d.text(16, 44, `font-size="12" fill="`+inkMuted+`"`, r.runLine()+"; fixed-rate runs; latency on a log scale")
	if len(curves) == 0 {
		d.text(400, 240, `text-anchor="middle"`, "no fixed-rate runs in this report")
		return d.end()
	}
	lo, hi, maxRate := math.Inf(1), 0.0, 0.0
	for _, c := range curves {
		for _, x := range c.points {
			lo, hi, maxRate = min(lo, x.P50Ms, x.P99Ms), max(hi, x.P50Ms, x.P99Ms), max(maxRate, x.Rate)
		}
	}
	// Half a tick's room beyond the extremes, so their value labels clear the axis.
	colours := systemColours(r.Results)
	top := d.curveLegend(curves, colours, 70) + 26
	p := loadPlot{left: 80, right: 770, top: top, bottom: 400, xTicks: linearTicks(maxRate), yTicks: logTicks(lo/1.5, hi*1.5)}
	d.loadAxes(p)
	for _, c := range curves {
		d.curve(p, c, colours[c.system])
	}
	return d.end()
}

func (d *svgDoc) loadAxes(p loadPlot) {
	for _, v := range p.yTicks {
		y := p.y(v)
		d.line(p.left, y, p.right, y, `stroke="`+gridLine+`"`)
		d.text(p.left-8, y+4, `text-anchor="end" font-size="12"`, fmtMs(v))
	}
	for _, v := range p.xTicks {
		x := p.x(v)
		d.line(x, p.bottom, x, p.bottom+5, `stroke="`+inkMuted+`"`)
		d.text(x, p.bottom+20, `text-anchor="middle" font-size="12"`, trimFloat(v, 1))
	}
	d.line(p.left, p.bottom, p.right, p.bottom, `stroke="`+inkMuted+`"`)
	d.line(p.left, p.top, p.left, p.bottom, `stroke="`+inkMuted+`"`)
	d.text((p.left+p.right)/2, p.bottom+44, `text-anchor="middle"`, "offered load, events/s")
	mid := (p.top + p.bottom) / 2
	d.text(20, mid, fmt.Sprintf(`text-anchor="middle" transform="rotate(-90 20 %.1f)"`, mid), "trigger → receipt latency")
}

// curveLegend is one entry per system and percentile, in rows from y; it
// returns the last row's y.
func (d *svgDoc) curveLegend(curves []curve, colours map[string]string, y float64) float64 {
	x := 80.0
	for _, c := range curves {
		for _, pc := range percentiles() {
			label := c.system + " " + pc.name
			w := 34 + 7.5*float64(len(label)) + 18 // system-ui at 13 px is under 7.5 px a character
			if x+w > 780 && x > 80 {
				x, y = 80, y+20
			}
			d.line(x, y-4, x+28, y-4, fmt.Sprintf(`stroke="%s" stroke-width="2" %s`, colours[c.system], pc.dash))
			d.marker(pc, x+14, y-4, colours[c.system], label)
			d.text(x+34, y, "", label)
			x += w
		}
	}
	return y
}

// curve draws a system's p50 and p99 lines with a labelled marker per run.
func (d *svgDoc) curve(p loadPlot, c curve, colour string) {
	d.group("series", c.system)
	for _, pc := range percentiles() {
		pts := make([]string, len(c.points))
		for i, x := range c.points {
			pts[i] = fmt.Sprintf("%.1f,%.1f", p.x(x.Rate), p.y(pc.of(x)))
		}
		d.printf("<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" %s/>\n", strings.Join(pts, " "), colour, pc.dash)
		for _, x := range c.points {
			v := pc.of(x)
			d.marker(pc, p.x(x.Rate), p.y(v), colour, fmt.Sprintf("%s %s at %s: %s", c.system, pc.name, loadText(x), fmtMs(v)))
			d.text(p.x(x.Rate), p.y(v)+pc.dy, `text-anchor="middle" font-size="11"`, fmtMs(v))
		}
	}
	d.endGroup()
}

func (d *svgDoc) marker(pc percentile, x, y float64, colour, tip string) {
	if pc.square {
		d.rect(x-4.5, y-4.5, 9, 9, colour, tip)
		return
	}
	d.printf("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"%s\" stroke=\"#ffffff\"><title>%s</title></circle>\n", x, y, colour, esc(tip))
}

// loadText is a run's offered load, and what got through when that was less:
// the overloaded point is the one whose latency is seconds.
func loadText(x scenarioResult) string {
	s := trimFloat(x.Rate, 1) + " events/s offered"
	if x.DeliveredPerSec > 0 && x.DeliveredPerSec < 0.95*x.Rate {
		s += fmt.Sprintf(" (%.1f/s delivered)", x.DeliveredPerSec)
	}
	return s
}

// latencyDesc is the chart in words, for readers who cannot see it.
func latencyDesc(curves []curve) string {
	var s strings.Builder
	s.WriteString("Trigger-to-receipt latency, p50 and p99, of the fixed-rate runs, by offered load.")
	for _, c := range curves {
		fmt.Fprintf(&s, " %s:", c.system)
		for i, x := range c.points {
			sep := ";"
			if i == len(c.points)-1 {
				sep = "."
			}
			fmt.Fprintf(&s, " at %s p50 %s, p99 %s%s", loadText(x), fmtMs(x.P50Ms), fmtMs(x.P99Ms), sep)
		}
	}
	return s.String()
}
