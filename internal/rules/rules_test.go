package rules

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func event() map[string]any {
	return map[string]any{
		"type": "review.created",
		"data": map[string]any{"rating": 5.0, "customer": map[string]any{"name": "Ann"}, "tags": []any{"a", "b"}},
	}
}

func TestMatch(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		expr    string
		want    bool
		wantErr bool
	}{
		{`event.type == "review.created" && event.data.rating >= 4`, true, false},
		{`event.data.rating < 4`, false, false},
		{`event.data.customer.name.startsWith("A")`, true, false},
		{`event.data.customer.name.lowerAscii() == "ann"`, true, false},
		{`has(event.data.x)`, false, false},
		{`"b" in event.data.tags`, true, false},
		{`event.data.missing == 1`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			f, err := env.Filter(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Match(context.Background(), event())
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("Match = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	env, _ := NewEnv()
	tests := []struct {
		expr       string
		line, col  int
		msgContain string
	}{
		{`evnt.type == "x"`, 1, 1, "undeclared reference"},
		{`event.type ==`, 1, 14, "Syntax error"},
		{`event.type + "x"`, 1, 1, "want a bool"},
		{"event.type == \"a\" &&\n  event.data.x >", 2, 17, "Syntax error"},
		{strings.Repeat("a", MaxExpressionLen+1), 1, 1, "longer than"},
	}
	for _, tt := range tests {
		_, err := env.CompileFilter(tt.expr)
		var ce *CompileError
		if !errors.As(err, &ce) {
			t.Errorf("%q: error %v, want a CompileError", tt.expr, err)
			continue
		}
		if ce.Line != tt.line || (tt.col != 1 && ce.Column != tt.col) || !strings.Contains(ce.Message, tt.msgContain) {
			t.Errorf("%q: %d:%d %q, want %d:%d containing %q", tt.expr, ce.Line, ce.Column, ce.Message, tt.line, tt.col, tt.msgContain)
		}
	}
}

func TestCostLimit(t *testing.T) {
	env, _ := NewEnv()
	// A cubic comprehension over a large list: far over the cost limit.
	expr := `[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(a, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(b, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(c, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(d, a+b+c+d > 0))))`
	f, err := env.CompileFilter(expr)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ok, err := f.Match(context.Background(), event())
	if err == nil || ok {
		t.Errorf("Match = %v, %v; want the cost limit to stop it", ok, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s to stop", d)
	}
}
