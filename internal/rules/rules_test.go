package rules

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func newEnv(t testing.TB) *Env {
	t.Helper()
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// review is an event as activities.EventMap builds it: JSON numbers are doubles.
func review() map[string]any {
	return map[string]any{
		"id":        "evt_1",
		"type":      "review.created",
		"source_id": "src_1",
		"data": map[string]any{
			"rating":   5.0,
			"text":     "Great coffee",
			"customer": map[string]any{"name": "Ann", "email": "ann@example.com"},
			"tags":     []any{"coffee", "service"},
			"verified": true,
			"points":   int64(50),
		},
		"headers": map[string]any{"user-agent": "reviews/1.0"},
	}
}

func TestMatch(t *testing.T) {
	env := newEnv(t)
	tests := []struct {
		expr    string
		want    bool
		wantErr bool
	}{
		{`event.type == "review.created" && event.data.rating >= 4`, true, false},
		{`event.type == "review.created" && event.data.rating >= 6`, false, false},
		{`event.data.rating < 4`, false, false},
		{`event.data.rating == 5`, true, false},
		{`event.data.points > 10.5`, true, false},
		{`event.data.customer.name.startsWith("A")`, true, false},
		{`event.data.customer.name.startsWith("B")`, false, false},
		{`event.data.customer.email.endsWith("@example.com")`, true, false},
		{`event.data.customer.name.lowerAscii() == "ann"`, true, false},
		{`event.data.text.matches("(?i)coffee")`, true, false},
		{`event.data.text.split(" ").size() == 2`, true, false},
		{`has(event.data.x)`, false, false},
		{`has(event.data.customer)`, true, false},
		{`!has(event.data.x) || event.data.x > 1`, true, false},
		{`"service" in event.data.tags`, true, false},
		{`event.data.tags.exists(t, t.startsWith("cof"))`, true, false},
		{`event.data.verified`, true, false},
		{`event.headers["user-agent"].contains("reviews")`, true, false},
		{`"type" in event && event.type != ""`, true, false},
		// Run-time errors do not match and say why.
		{`event.data.x == 1`, false, true},
		{`event.data.x.y == 1`, false, true},
		{`event.data.customer.name > 1`, false, true},
		{`int(event.data.text) > 0`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			f, err := env.Filter(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Match(context.Background(), review())
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("Match = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestMatchErrorNamesFilter(t *testing.T) {
	f, err := newEnv(t).CompileFilter(`event.data.x == 1`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Match(context.Background(), review())
	if err == nil || !strings.Contains(err.Error(), `"event.data.x == 1"`) || !strings.Contains(err.Error(), "no such key") {
		t.Errorf("Match = %v, want an error naming the filter and the missing key", err)
	}
}

func TestMatchNotBool(t *testing.T) {
	env := newEnv(t)
	// The type of event.data.* is only known at run time, so these compile.
	for _, expr := range []string{`event.data.rating`, `event.data.customer`, `event.type`} {
		t.Run(expr, func(t *testing.T) {
			f, err := env.CompileFilter(expr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Match(context.Background(), review())
			if got || !errors.Is(err, ErrNotBool) {
				t.Errorf("Match = %v, %v; want false, ErrNotBool", got, err)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	env := newEnv(t)
	tests := []struct {
		name      string
		expr      string
		line, col int
		msg       string // part of the message
	}{
		{"undeclared", `evnt.type == "x"`, 1, 1, "undeclared reference to 'evnt'"},
		{"undeclared later", `event.type == "x" && evnt.a`, 1, 22, "undeclared reference to 'evnt'"},
		{"syntax at end", `event.type ==`, 1, 14, "Syntax error"},
		{"syntax on line 2", "event.type == \"a\" &&\n  event.data.x >", 2, 17, "Syntax error"},
		{"unclosed string", `event.type == "x`, 1, 15, "Syntax error"},
		{"unknown function", `event.type.shout()`, 1, 17, "undeclared reference to 'shout'"},
		{"not bool: string", `event.type + "x"`, 1, 1, "expression gives string, want bool"},
		{"not bool: int", `1 + 2`, 1, 1, "want bool"},
		{"not bool: list", `[true]`, 1, 1, "want bool"},
		{"bad type", `event.type == 1 && event + 1`, 1, 26, "no matching overload"},
		{"bad regex", `event.type.matches("[")`, 1, 20, "invalid matches argument"},
		{"bad timestamp", `timestamp("yesterday") < now`, 1, 26, "undeclared reference to 'now'"},
		{"bad timestamp literal", `timestamp("yesterday") < timestamp("2024-01-01T00:00:00Z")`, 1, 11, "timestamp"},
		{"bad duration literal", `duration("a while") > duration("1s")`, 1, 10, "duration"},
		{"nested too deep", `[1].all(a, [1].all(b, [1].all(c, [1].all(d, true))))`, 1, 41, "nesting limit"},
		{"empty", ``, 1, 1, "empty"},
		{"blank", "  \n ", 1, 1, "empty"},
		{"too long", strings.Repeat("a", MaxExpressionLen+1), 1, 1, "longer than 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := env.CompileFilter(tt.expr)
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("CompileFilter = %v, %v; want a *CompileError", f, err)
			}
			if ce.Line != tt.line || ce.Column != tt.col || !strings.Contains(ce.Message, tt.msg) {
				t.Errorf("got %d:%d %q, want %d:%d containing %q", ce.Line, ce.Column, ce.Message, tt.line, tt.col, tt.msg)
			}
			if ce.Expr != tt.expr {
				t.Errorf("Expr = %q, want %q", ce.Expr, tt.expr)
			}
		})
	}
}

func TestCompileErrorString(t *testing.T) {
	_, err := newEnv(t).CompileFilter(`event.a && evnt.b`)
	want := "filter: 1:12: undeclared reference to 'evnt'"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestLongestExpressionCompiles(t *testing.T) {
	expr := `event.type == "` + strings.Repeat("a", MaxExpressionLen-len(`event.type == ""`)) + `"`
	if _, err := newEnv(t).CompileFilter(expr); err != nil {
		t.Errorf("a %d-byte filter: %v", len(expr), err)
	}
}

func TestCostLimit(t *testing.T) {
	// Only the cost limit may stop these: the time limit is out of reach, so a slow
	// machine (or -race) cannot make the test pass or fail on timing. How quickly the
	// cost limit stops them is a speed, measured by BenchmarkCostLimit, not asserted.
	env := newEnv(t)
	env.evalTimeout = time.Minute
	var list []string
	for i := range 200 {
		list = append(list, fmt.Sprint(i))
	}
	literal := "[" + strings.Join(list, ",") + "]"
	ev := review()
	ev["data"].(map[string]any)["items"] = floats(300)
	tests := []struct {
		name string
		expr string
	}{
		// 200³ = 8 million iterations of a literal list.
		{"nested literal", literal + ".all(a, " + literal + ".all(b, " + literal + ".all(c, a + b + c >= 0)))"},
		// 300³ = 27 million iterations of a list from the event.
		{"nested event list", `event.data.items.all(a, event.data.items.all(b, event.data.items.all(c, a + b + c >= 0)))`},
		// 300² lists of 300 elements each.
		{"quadratic map", `event.data.items.map(a, event.data.items.map(b, event.data.items)).size() == 0`},
		{"string blow-up", `event.data.items.map(a, event.data.items.map(b, event.data.text + event.data.text)).size() == 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := env.CompileFilter(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Match(context.Background(), ev)
			if got || err == nil || !strings.Contains(err.Error(), "cost limit") {
				t.Errorf("Match = %v, %v; want false and a cost limit error", got, err)
			}
		})
	}
}

// BenchmarkCostLimit is how long the cost limit takes to stop a nested
// comprehension over a list from the event (300³ iterations asked for); in
// production that must stay well under EvalTimeout.
func BenchmarkCostLimit(b *testing.B) {
	env := newEnv(b)
	env.evalTimeout = time.Minute
	ev := review()
	ev["data"].(map[string]any)["items"] = floats(300)
	f, err := env.CompileFilter(`event.data.items.all(a, event.data.items.all(b, event.data.items.all(c, a + b + c >= 0)))`)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := f.Match(context.Background(), ev); err == nil {
			b.Fatal("no cost limit error")
		}
	}
}

func TestEvalTimeout(t *testing.T) {
	// One comprehension over a long list stays under the cost limit, but cel-go's
	// cost tracking makes it slow (most of a second); the time limit stops it.
	env := newEnv(t)
	env.evalTimeout = 5 * time.Millisecond
	ev := review()
	ev["data"].(map[string]any)["items"] = floats(20_000)
	f, err := env.CompileFilter(`event.data.items.all(a, a >= 0)`)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := f.Match(context.Background(), ev)
	if got || err == nil || !strings.Contains(err.Error(), "took longer than 5ms") {
		t.Errorf("Match = %v, %v; want false and a time limit error", got, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s to stop, want about 5ms", d)
	}
}

func TestMatchHonoursContext(t *testing.T) {
	ev := review()
	ev["data"].(map[string]any)["items"] = floats(1000)
	f, err := newEnv(t).CompileFilter(`event.data.items.all(a, a >= 0)`)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Match(context.Background(), ev); !ok || err != nil {
		t.Fatalf("Match with a live context = %v, %v; want true", ok, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, err := f.Match(ctx, ev); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("Match with a cancelled context = %v, %v; want false, context.Canceled", ok, err)
	}
}

// floats returns n JSON-like numbers, as a decoded event list holds them.
func floats(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = float64(i)
	}
	return out
}

func TestFilterCache(t *testing.T) {
	env := newEnv(t)
	expr := `event.type == "review.created"`
	a, err := env.Filter(expr)
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.Filter(expr)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("Filter compiled the same expression twice, want the cached program")
	}
	if a.Expr() != expr {
		t.Errorf("Expr = %q, want %q", a.Expr(), expr)
	}

	_, err1 := env.Filter(`evnt`)
	_, err2 := env.Filter(`evnt`)
	var ce *CompileError
	if !errors.As(err1, &ce) || err1 != err2 {
		t.Errorf("Filter(bad) = %v then %v, want the same cached *CompileError", err1, err2)
	}

	for i := range cacheLimit + 100 {
		if _, err := env.Filter(fmt.Sprintf("event.data.rating >= %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	env.mu.Lock()
	n := len(env.cache)
	env.mu.Unlock()
	if n > cacheLimit {
		t.Errorf("cache holds %d filters, want at most %d", n, cacheLimit)
	}
}

func TestConcurrentUse(t *testing.T) {
	env := newEnv(t)
	exprs := []string{
		`event.type == "review.created" && event.data.rating >= 4`,
		`event.data.customer.name.startsWith("A")`,
		`has(event.data.x)`,
	}
	want := []bool{true, true, false}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				k := (g + i) % len(exprs)
				f, err := env.Filter(exprs[k])
				if err != nil {
					errs <- err
					return
				}
				got, err := f.Match(context.Background(), review())
				if err != nil || got != want[k] {
					errs <- fmt.Errorf("%s: got %v, %v; want %v", exprs[k], got, err, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestValueBombs: expressions whose values grow far past their inputs (issue 13's
// reproductions) stop with a size error, having allocated a bounded amount, or are
// refused when saved.
func TestValueBombs(t *testing.T) {
	env := newEnv(t)
	s100k := strings.Repeat("x", 100_000)
	list := make([]any, 200)
	for i := range list {
		list[i] = strings.Repeat("y", 10_000)
	}
	ev := map[string]any{"data": map[string]any{"s": s100k, "l": list}}
	tests := []struct {
		name, expr string
	}{
		// The attacker's filter: 100 KB concatenated 10×10×10 inside nested maps
		// made a 100,000,000-character string under the cost limit.
		{"nested concatenation", `size([event.data.s].map(a,[a+a+a+a+a+a+a+a+a+a].map(b,[b+b+b+b+b+b+b+b+b+b].map(c,c+c+c+c+c+c+c+c+c+c)[0])[0])[0]) > 0`},
		// Quadratic: 100 KB in every gap of 100 KB is 10 GB.
		{"replace empty", `size(event.data.s.replace("", event.data.s)) > 0`},
		{"replace each", `size(event.data.s.replace("x", event.data.s, 50)) > 0`},
		{"join", `size([event.data.s + event.data.s + event.data.s + event.data.s + event.data.s, event.data.s + event.data.s + event.data.s + event.data.s + event.data.s, event.data.s].join(event.data.s)) > 0`},
		{"list concatenation", `size([event.data.l].map(a,[a+a+a+a+a+a+a+a+a+a].map(b,[b+b+b+b+b+b+b+b+b+b].map(c,c+c+c+c+c+c+c+c+c+c)[0])[0])[0]) > 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := env.CompileFilter(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			got, err := f.Match(context.Background(), ev)
			runtime.ReadMemStats(&after)
			if got || err == nil || !strings.Contains(err.Error(), "over the limit") {
				t.Errorf("Match = %v, %v; want false and a size limit error", got, err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 50<<20 {
				t.Errorf("allocated %d MB on the way, want under 50 MB", grew>>20)
			}
		})
	}
	for _, expr := range []string{
		`"%s".format([event.data.s]) != ""`,
		`[1].all(a, [2].all(b, [3].all(c, [4].all(d, a + b + c + d > 0))))`,
	} {
		if _, err := env.CompileFilter(expr); err == nil {
			t.Errorf("CompileFilter(%s) compiled; want it refused", expr)
		}
	}
	// The bounded replace and join behave like the extension's.
	for expr, want := range map[string]bool{
		`"hello hello".replace("he", "we") == "wello wello"`:    true,
		`"hello hello".replace("he", "we", 1) == "wello hello"`: true,
		`"ab".replace("", "_") == "_a_b_"`:                      true,
		`["a", "b"].join("-") == "a-b"`:                         true,
		`["a", "b"].join() == "ab"`:                             true,
	} {
		f, err := env.CompileFilter(expr)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := f.Match(context.Background(), ev); got != want || err != nil {
			t.Errorf("%s = %v, %v; want %v", expr, got, err, want)
		}
	}
}
