package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const fixture = "testdata/report-small.json"

func loadFixture(t *testing.T) *report {
	t.Helper()
	b, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// svgSeen is what a reader of the SVG gets: its title and description, the
// labelled groups of each class in order with the colour each is drawn in
// (its first line's stroke or box's fill), and every piece of visible text.
type svgSeen struct {
	title, desc string
	groups      map[string][]string
	colours     map[string][]string
	texts       []string
}

// readSVG walks the whole document with encoding/xml, so a chart that is not
// well-formed XML fails here as it would in a browser.
func readSVG(t *testing.T, doc string) svgSeen {
	t.Helper()
	seen := svgSeen{groups: map[string][]string{}, colours: map[string][]string{}}
	dec := xml.NewDecoder(strings.NewReader(doc))
	var path []string
	group := "" // class of the innermost group open, if any
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			path = append(path, tok.Name.Local)
			switch c := seen.colours[group]; {
			case tok.Name.Local == "g":
				group = attr(tok, "class")
				seen.groups[group] = append(seen.groups[group], attr(tok, "aria-label"))
				seen.colours[group] = append(seen.colours[group], "")
			case group == "" || c[len(c)-1] != "":
			case tok.Name.Local == "polyline":
				c[len(c)-1] = attr(tok, "stroke")
			case tok.Name.Local == "rect":
				c[len(c)-1] = attr(tok, "fill")
			}
		case xml.EndElement:
			if tok.Name.Local == "g" {
				group = ""
			}
			path = path[:len(path)-1]
		case xml.CharData:
			switch strings.Join(path, "/") {
			case "svg/title":
				seen.title += string(tok)
			case "svg/desc":
				seen.desc += string(tok)
			}
			if len(path) > 0 && path[len(path)-1] == "text" {
				seen.texts = append(seen.texts, string(tok))
			}
		}
	}
	if len(path) != 0 {
		t.Fatalf("unclosed elements %v", path)
	}
	return seen
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func TestLatencyChartSVG(t *testing.T) {
	seen := readSVG(t, loadFixture(t).latencyChart())
	if seen.title != "Trigger → receipt latency versus offered load" {
		t.Errorf("title %q", seen.title)
	}
	// One series per system, in report order: a new system needs no chart code.
	if got, want := seen.groups["series"], []string{"hookflow", "hookflow (unbatched)"}; !reflect.DeepEqual(got, want) {
		t.Errorf("series %q, want %q", got, want)
	}
	// Each in its own colour, the one its bars have in the throughput chart.
	if got, want := seen.colours["series"], []string{fillBlue, fillRed}; !reflect.DeepEqual(got, want) {
		t.Errorf("series colours %q, want %q", got, want)
	}
	for _, want := range []string{"hookflow: at 10 events/s offered p50 13 ms, p99 19 ms;", "at 100 events/s offered (78.5/s delivered) p50 1.3 s, p99 2.5 s."} {
		if !strings.Contains(seen.desc, want) {
			t.Errorf("desc lacks %q:\n%s", want, seen.desc)
		}
	}
	// Points are labelled with their values; the log axis with readable ticks.
	for _, want := range []string{"13 ms", "96 ms", "199 ms", "2.5 s", "89 ms", "10 ms", "1 s", "hookflow p50", "hookflow (unbatched) p99", "offered load, events/s"} {
		if !slices.Contains(seen.texts, want) {
			t.Errorf("no text %q in %q", want, seen.texts)
		}
	}
}

func TestThroughputChartSVG(t *testing.T) {
	seen := readSVG(t, loadFixture(t).throughputChart())
	if !strings.HasPrefix(seen.title, "Saturated throughput") {
		t.Errorf("title %q", seen.title)
	}
	e2e := []string{"hookflow", "hookflow (unbatched)", "temporal activity", "temporal local act."}
	fan := []string{"hookflow", "temporal activity"}
	persisted := []string{"hookflow", "hookflow (unbatched)"}
	// Four panels: end-to-end, fan-out, then CPU per event and Temporal bytes
	// per event of the end-to-end runs (only those that measured them).
	if got, want := seen.groups["bar"], slices.Concat(e2e, fan, e2e, persisted); !reflect.DeepEqual(got, want) {
		t.Errorf("bars %q, want %q", got, want)
	}
	// The two hookflow systems apart by colour, the baselines grey behind them.
	if got, want := seen.colours["bar"][:len(e2e)], []string{fillBlue, fillRed, fillGrey, fillGrey}; !reflect.DeepEqual(got, want) {
		t.Errorf("end-to-end bar colours %q, want %q", got, want)
	}
	for _, want := range []string{"89.2/s", "301.7/s", "36.4/s", "961.1/s", "85.7/s", "20.4 ms", "48.4 ms", "7.7", "24.2", "Postgres",
		"hookflow (unbatched)", "bare-Temporal baselines", "history DB", "visibility DB", "28.0 KiB", "6.8 KiB", "24.0", "6.0"} {
		if !slices.Contains(seen.texts, want) {
			t.Errorf("no text %q in %q", want, seen.texts)
		}
	}
	for _, want := range []string{"hookflow: hookflow 3.9 + Temporal 7.7 + baseline 0.0 + Postgres 8.9 = 20.4 ms",
		"hookflow (unbatched): history DB 6.0 + visibility DB 0.8 = 6.8 KiB"} {
		if !strings.Contains(seen.desc, want) {
			t.Errorf("desc lacks %q:\n%s", want, seen.desc)
		}
	}
	if want := "; hookflow's systems in colour, bare-Temporal baselines in grey"; !slices.ContainsFunc(seen.texts, func(s string) bool { return strings.HasSuffix(s, want) }) {
		t.Errorf("no subtitle ending %q in %q", want, seen.texts)
	}
}

// TestThroughputChartOneHookflow: a report with one hookflow system and no
// persistence figures (the JSON of a run before either) draws as before:
// three panels, no legend of systems.
func TestThroughputChartOneHookflow(t *testing.T) {
	r := &report{Results: []scenarioResult{
		{Scenario: "end-to-end", System: "hookflow", DeliveredPerSec: 80, CPUTotalMs: 20},
		{Scenario: "end-to-end", System: "temporal activity", DeliveredPerSec: 40, CPUTotalMs: 40},
	}}
	seen := readSVG(t, r.throughputChart())
	if got, want := len(seen.groups["bar"]), 4; got != want {
		t.Errorf("%d bars, want %d: %q", got, want, seen.groups["bar"])
	}
	for _, unwanted := range []string{"bare-Temporal baselines", "history DB"} {
		if slices.Contains(seen.texts, unwanted) {
			t.Errorf("text %q in %q", unwanted, seen.texts)
		}
	}
}

// TestChartsEmptyReport: a report without the scenarios still draws valid charts.
func TestChartsEmptyReport(t *testing.T) {
	r := &report{}
	for _, doc := range []string{r.latencyChart(), r.throughputChart()} {
		if seen := readSVG(t, doc); seen.title == "" || len(seen.groups["series"])+len(seen.groups["bar"]) != 0 {
			t.Errorf("empty report: %+v", seen)
		}
	}
}

// TestSVGEscapesNames: names are text, so markup in one cannot break the XML.
func TestSVGEscapesNames(t *testing.T) {
	const name = `hookflow <next> & "more"`
	r := &report{Results: []scenarioResult{
		{Scenario: "latency curve", System: name, Rate: 10, P50Ms: 12, P99Ms: 30},
		{Scenario: "end-to-end", System: name, DeliveredPerSec: 50, CPUTotalMs: 1},
	}}
	if got := readSVG(t, r.latencyChart()).groups["series"]; !reflect.DeepEqual(got, []string{name}) {
		t.Errorf("series %q", got)
	}
	if got := readSVG(t, r.throughputChart()).groups["bar"]; !reflect.DeepEqual(got, []string{name, name}) {
		t.Errorf("bars %q", got)
	}
}

// TestChartsFrom redraws from the fixture the way the docs are regenerated:
// both SVGs next to the Markdown, embedded above the tables, the JSON untouched.
func TestChartsFrom(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "BENCHMARKS.md")
	const analysis = "# Benchmarks\n\n## Analysis\n\nkept\n"
	if err := os.WriteFile(md, []byte(analysis), 0o644); err != nil {
		t.Fatal(err)
	}
	jsonOut := filepath.Join(dir, "never.json")
	var stderr strings.Builder
	if code := run(context.Background(), []string{"--charts-from", fixture, "--md", md, "--json", jsonOut}, nil, io.Discard, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, f := range []string{latencySVG, throughputSVG} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		readSVG(t, string(b))
	}
	doc, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	embed := "![latency versus load](bench-latency.svg)\n\n![throughput and CPU per event](bench-throughput.svg)\n\n| scenario |"
	if !strings.HasPrefix(s, analysis) || !strings.Contains(s, embed) || !strings.Contains(s, "| end-to-end | hookflow (unbatched) | c=32 |") {
		t.Errorf("Markdown lacks the analysis, the embeds above the table, or the table:\n%s", s)
	}
	for _, want := range []string{
		"hookflow systems: “hookflow” batch max 64, window 0 (server defaults); “hookflow (unbatched)” batch max 1, window 0 (`HOOKFLOW_BATCH_MAX=1`).",
		"| scenario | system | events | history DB bytes/event | visibility DB bytes/event | history+visibility bytes/event |",
		"| end-to-end | hookflow | 100 | 24576 | 4096 | **28672** |",
		"| end-to-end | hookflow (unbatched) | 100 | 6144 | 819 | **6963** (workflows still open) |",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, s)
		}
	}
	if _, err := os.Stat(jsonOut); !os.IsNotExist(err) {
		t.Errorf("redraw wrote the JSON report (%v)", err)
	}
}

func TestSVGDirFlag(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "docs"},
		{[]string{"--md", "out/B.md"}, "out"},
		{[]string{"--svg-dir", ""}, ""},
		{[]string{"--svg-dir", "charts"}, "charts"},
		{[]string{"--md", ""}, ""},
	}
	for _, tt := range tests {
		c, err := parseConfig(tt.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.SVGDir != tt.want {
			t.Errorf("%q: svg dir %q, want %q", tt.args, c.SVGDir, tt.want)
		}
	}
}

func TestLogTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		want   []float64
	}{
		{13.3, 2509, []float64{10, 20, 50, 100, 200, 500, 1000, 2000, 5000}},
		{10, 100, []float64{10, 20, 50, 100}},
		{0.3, 4, []float64{0.2, 0.5, 1, 2, 5}},
		{1.5, 15000, []float64{1, 10, 100, 1000, 10000, 100000}}, // past three decades: powers of ten only
		{5, 5, []float64{5, 10}},
		{0, 0, []float64{1, 2}}, // nothing measured: still an axis
	}
	for _, tt := range tests {
		got := logTicks(tt.lo, tt.hi)
		if len(got) != len(tt.want) {
			t.Errorf("logTicks(%g, %g) = %v, want %v", tt.lo, tt.hi, got, tt.want)
			continue
		}
		for i := range got {
			if d := got[i] - tt.want[i]; d > 1e-9*tt.want[i] || d < -1e-9*tt.want[i] {
				t.Errorf("logTicks(%g, %g) = %v, want %v", tt.lo, tt.hi, got, tt.want)
				break
			}
		}
	}
}

func TestLinearTicks(t *testing.T) {
	tests := []struct {
		max  float64
		want []float64
	}{
		{100, []float64{0, 20, 40, 60, 80, 100}},
		{44.6, []float64{0, 10, 20, 30, 40, 50}},
		{7, []float64{0, 2, 4, 6, 8}},
	}
	for _, tt := range tests {
		if got := linearTicks(tt.max); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("linearTicks(%g) = %v, want %v", tt.max, got, tt.want)
		}
	}
}

func TestFmtMsTick(t *testing.T) {
	for v, want := range map[float64]string{0.5: "0.5 ms", 13.299: "13 ms", 199.142: "199 ms", 1000: "1 s", 1258.8: "1.3 s", 13205: "13 s"} {
		if got := fmtMs(v); got != want {
			t.Errorf("fmtMs(%g) = %q, want %q", v, got, want)
		}
	}
}
