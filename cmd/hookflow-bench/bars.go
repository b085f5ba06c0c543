package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Bar geometry, in pixels of an 800-wide chart: system names right-aligned
// before barLeft, the longest bar ending where its value label still fits.
const (
	barLabelEnd = 196
	barLeft     = 204
	barMax      = 490
	barRowH     = 22
	barGap      = 8
)

// barPanel is one horizontal bar chart: a heading and a bar per system.
type barPanel struct {
	heading string
	rows    []barRow
	legend  []segment // for stacked bars: what each colour is
}

// barRow is one system's bar: a single segment, or the stacked parts of a total.
type barRow struct {
	label string
	segs  []segment
	total string // written after the bar
}

type segment struct {
	name      string
	value     float64
	fill, ink string // ink: the text colour that contrasts with fill
	tip       string
}

func (r barRow) sum() float64 {
	var s float64
	for _, x := range r.segs {
		s += x.value
	}
	return s
}

func (p barPanel) height() float64 {
	h := 30.0 + float64(max(1, len(p.rows)))*(barRowH+barGap) + 16
	if len(p.legend) > 0 {
		h += 22
	}
	return h
}

// stackPart is one part of a stacked bar: a kind of process's share of the
// CPU per delivered event, or a database's share of the bytes per event.
type stackPart struct {
	name, fill, ink string
	of              func(scenarioResult) float64
}

func stackParts() []stackPart {
	return []stackPart{
		{"hookflow", fillBlue, "#ffffff", func(x scenarioResult) float64 { return x.CPUHookflowMs }},
		{"Temporal", fillRed, fillBlack, func(x scenarioResult) float64 { return x.CPUTemporalMs }},
		{"baseline", fillGreen, fillBlack, func(x scenarioResult) float64 { return x.CPUBaselineMs }},
		{"Postgres", fillPink, fillBlack, func(x scenarioResult) float64 { return x.CPUPostgresMs }},
	}
}

// saturated is each system's saturated run of a scenario, in report order.
func saturated(results []scenarioResult, scenario string) []scenarioResult {
	var out []scenarioResult
	for _, x := range results {
		seen := slices.ContainsFunc(out, func(y scenarioResult) bool { return y.System == x.System })
		if x.Scenario == scenario && x.Rate == 0 && !seen {
			out = append(out, x)
		}
	}
	return out
}

// rateRows are delivered/s bars. Each of hookflow's systems has its colour,
// the one of its latency curve, and the baselines are grey: the question is
// how hookflow does against the engine it runs on, bare; the labels name
// every bar.
func rateRows(xs []scenarioResult, colours map[string]string) []barRow {
	var rows []barRow
	for _, x := range xs {
		fill := fillGrey
		if isHookflow(x.System) {
			fill = colours[x.System]
		}
		total := strconv.FormatFloat(x.DeliveredPerSec, 'f', 1, 64) + "/s"
		rows = append(rows, barRow{label: x.System, total: total,
			segs: []segment{{name: x.System, value: x.DeliveredPerSec, fill: fill, tip: x.System + ": " + total}}})
	}
	return rows
}

// cpuRows stack each system's CPU per delivered event by kind of process.
func cpuRows(xs []scenarioResult) []barRow {
	return stackRows(xs, stackParts(), func(x scenarioResult) (string, bool) { return fmt.Sprintf("%.1f ms", x.CPUTotalMs), true },
		func(x scenarioResult, part string, v float64) string {
			return fmt.Sprintf("%s, %s processes: %.1f ms", x.System, part, v)
		})
}

// stackRows is one stacked bar per system of xs that total says to show, a
// segment per part.
func stackRows(xs []scenarioResult, parts []stackPart, total func(scenarioResult) (string, bool), tip func(x scenarioResult, part string, v float64) string) []barRow {
	var rows []barRow
	for _, x := range xs {
		label, ok := total(x)
		if !ok {
			continue
		}
		row := barRow{label: x.System, total: label}
		for _, p := range parts {
			v := p.of(x)
			row.segs = append(row.segs, segment{name: p.name, value: v, fill: p.fill, ink: p.ink, tip: tip(x, p.name, v)})
		}
		rows = append(rows, row)
	}
	return rows
}

// persistenceParts are the two databases of Temporal's growth per event.
func persistenceParts() []stackPart {
	kib := func(v float64) float64 { return v / 1024 }
	return []stackPart{
		{"history DB", fillRed, fillBlack, func(x scenarioResult) float64 { return kib(x.Persistence.HistoryPerEvent) }},
		{"visibility DB", fillGreen, fillBlack, func(x scenarioResult) float64 { return kib(x.Persistence.VisibilityPerEvent) }},
	}
}

// persistenceRows stack each measured system's Temporal growth per event, in
// KiB, by database.
func persistenceRows(xs []scenarioResult) []barRow {
	return stackRows(xs, persistenceParts(), func(x scenarioResult) (string, bool) {
		if x.Persistence == nil {
			return "", false
		}
		return fmt.Sprintf("%.1f KiB", x.Persistence.TotalPerEvent/1024), true
	}, func(x scenarioResult, part string, v float64) string {
		return fmt.Sprintf("%s, Temporal %s: %.1f KiB per event", x.System, part, v)
	})
}

// systemLegend names each bar colour of the rate panels; hookflow is the
// number of hookflow systems among xs.
func systemLegend(xs []scenarioResult, colours map[string]string) (legend []segment, hookflow int) {
	baselines := false
	for _, x := range xs {
		if !isHookflow(x.System) {
			baselines = true
			continue
		}
		legend = append(legend, segment{name: x.System, fill: colours[x.System]})
		hookflow++
	}
	if baselines {
		legend = append(legend, segment{name: "bare-Temporal baselines", fill: fillGrey})
	}
	return legend, hookflow
}

// throughputChart is saturated delivered/s, end-to-end and fan-out, the CPU
// each delivered event cost, and, when measured, the bytes each event added
// to Temporal's databases, for each hookflow system and each baseline.
func (r *report) throughputChart() string {
	e2e, fan := saturated(r.Results, "end-to-end"), saturated(r.Results, "fan-out")
	colours := systemColours(r.Results)
	var legend []segment
	for _, p := range stackParts() {
		legend = append(legend, segment{name: p.name, fill: p.fill})
	}
	// One hookflow system is blue against grey, which the subtitle says; more
	// get a legend, as the subtitle has no room to name them all.
	subtitle := "hookflow in blue, bare-Temporal baselines in grey"
	systems, n := systemLegend(e2e, colours)
	if n < 2 {
		systems = nil
	} else {
		subtitle = "hookflow's systems in colour, bare-Temporal baselines in grey"
	}
	panels := []barPanel{
		{heading: fmt.Sprintf("End-to-end at concurrency %d: delivered events/s (higher is better)", r.Settings.Concurrency), rows: rateRows(e2e, colours), legend: systems},
		{heading: fmt.Sprintf("Fan-out, each event to %d endpoints: deliveries/s (higher is better)", r.Settings.FanoutEndpoints), rows: rateRows(fan, colours)},
		{heading: "End-to-end: CPU ms per delivered event, every process counted (lower is better)", rows: cpuRows(e2e), legend: legend},
	}
	if rows := persistenceRows(e2e); len(rows) > 0 {
		var legend []segment
		for _, p := range persistenceParts() {
			legend = append(legend, segment{name: p.name, fill: p.fill})
		}
		panels = append(panels, barPanel{heading: "End-to-end: KiB each event added to Temporal's databases (lower is better)", rows: rows, legend: legend})
	}
	h := 60.0
	for _, p := range panels {
		h += p.height()
	}
	d := newSVG("throughput", 800, int(math.Ceil(h)), "Saturated throughput and CPU per event: hookflow and bare Temporal", barsDesc(panels))
	d.text(16, 44, `font-size="12" fill="`+inkMuted+`"`, r.runLine()+"; "+subtitle)
	y := 60.0
	for _, p := range panels {
		y = d.bars(y, p)
	}
	return d.end()
}

// bars draws a panel from y and returns where the next one starts.
func (d *svgDoc) bars(y float64, p barPanel) float64 {
	d.text(16, y+16, `font-weight="bold"`, p.heading)
	y += 30
	if len(p.legend) > 0 {
		d.swatches(y, p.legend)
		y += 22
	}
	if len(p.rows) == 0 {
		d.text(barLeft, y+15, `fill="`+inkMuted+`"`, "not in this report")
		return y + barRowH + barGap + 16
	}
	widest := 0.0
	for _, row := range p.rows {
		widest = max(widest, row.sum())
	}
	if widest == 0 {
		widest = 1
	}
	top := y
	for _, row := range p.rows {
		d.bar(y, row, barMax/widest)
		y += barRowH + barGap
	}
	d.line(barLeft, top-3, barLeft, y-barGap+3, `stroke="`+inkMuted+`"`)
	return y + 16
}

// bar is one row; a stacked bar labels each part wide enough to hold its value.
func (d *svgDoc) bar(y float64, row barRow, scale float64) {
	d.group("bar", row.label)
	d.text(barLabelEnd, y+15, `text-anchor="end"`, row.label)
	x := float64(barLeft)
	for _, s := range row.segs {
		w := s.value * scale
		if w <= 0 {
			continue
		}
		d.rect(x, y, w, barRowH, s.fill, s.tip)
		if len(row.segs) > 1 && w >= 30 {
			d.text(x+w/2, y+15, `text-anchor="middle" font-size="11" fill="`+s.ink+`"`, strconv.FormatFloat(s.value, 'f', 1, 64))
		}
		x += w
	}
	d.text(x+6, y+15, `font-weight="bold"`, row.total)
	d.endGroup()
}

// swatches is a legend row: a square of each colour and its name.
func (d *svgDoc) swatches(y float64, legend []segment) {
	x := float64(barLeft)
	for _, s := range legend {
		d.printf("<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", x, y+1, s.fill)
		d.text(x+17, y+12, "", s.name)
		x += 17 + 7.5*float64(len(s.name)) + 18
	}
}

// barsDesc is the chart in words, for readers who cannot see it.
func barsDesc(panels []barPanel) string {
	var s strings.Builder
	for _, p := range panels {
		var rows []string
		for _, row := range p.rows {
			text := row.label + " " + row.total
			if len(row.segs) > 1 {
				var parts []string
				for _, x := range row.segs {
					parts = append(parts, fmt.Sprintf("%s %.1f", x.name, x.value))
				}
				text = row.label + ": " + strings.Join(parts, " + ") + " = " + row.total
			}
			rows = append(rows, text)
		}
		fmt.Fprintf(&s, "%s: %s. ", p.heading, strings.Join(rows, "; "))
	}
	return strings.TrimSpace(s.String())
}
