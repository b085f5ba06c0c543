// Package rules compiles and evaluates the CEL (https://cel.dev) expressions
// business users write as filters over an event, such as
// `event.type == "review.created" && event.data.rating >= 4`.
//
// Filters are compiled and type-checked when they are saved, so a typo is a 400
// with its position rather than a surprise at run time. Evaluation is bounded in
// cost and honours context cancellation, so a pathological expression cannot
// stall a worker.
package rules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
)

// MaxExpressionLen is the longest filter accepted, in bytes. Real filters are a
// line or two; the bound keeps parsing and type-checking cheap.
const MaxExpressionLen = 4096

// cacheLimit bounds the compiled-filter cache.
const cacheLimit = 1024

// ErrNotBool is returned by Match when a filter whose type is only known at run
// time (such as `event.data.flag`) yields something other than a bool.
var ErrNotBool = errors.New("filter did not give a bool")

// CompileError is a filter that does not compile, with the 1-based position of
// the first problem so an API can point at it.
type CompileError struct {
	Expr    string
	Line    int
	Column  int
	Message string
}

// Error reads like "filter: 1:12: undeclared reference to 'evnt'".
func (e *CompileError) Error() string {
	return fmt.Sprintf("filter: %d:%d: %s", e.Line, e.Column, e.Message)
}

// Env compiles filters. It is safe for concurrent use.
type Env struct {
	env         *cel.Env
	evalTimeout time.Duration // a field so tests can shorten it

	mu    sync.Mutex
	cache map[string]cached
}

// cached is the outcome of compiling one expression; failures are kept too, so
// a broken filter on a busy endpoint does not recompile for every event.
type cached struct {
	filter *Filter
	err    error
}

// NewEnv returns an environment with one variable, `event` (a map from field
// name to any value: id, type, source_id, data, headers, created_at), CEL's
// standard library and its string extensions.
func NewEnv() (*Env, error) {
	env, err := NewCELEnv(cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		return nil, err
	}
	return &Env{env: env, evalTimeout: EvalTimeout, cache: make(map[string]cached)}, nil
}

// Filter is a compiled boolean expression. It is safe for concurrent use.
type Filter struct {
	expr        string
	prg         cel.Program
	evalTimeout time.Duration
}

// Expr returns the source of the filter.
func (f *Filter) Expr() string { return f.expr }

// CompileFilter parses and type-checks expr, which must give a bool (or a value
// whose type is only known at run time, checked by Match). Errors are
// *CompileError.
func (e *Env) CompileFilter(expr string) (*Filter, error) {
	if len(expr) > MaxExpressionLen {
		return nil, &CompileError{Expr: expr, Line: 1, Column: 1,
			Message: fmt.Sprintf("expression is longer than %d characters", MaxExpressionLen)}
	}
	if strings.TrimSpace(expr) == "" {
		return nil, &CompileError{Expr: expr, Line: 1, Column: 1, Message: "expression is empty"}
	}
	ast, iss := e.env.Compile(expr)
	if iss.Err() != nil {
		return nil, compileError(expr, iss)
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, &CompileError{Expr: expr, Line: 1, Column: 1,
			Message: fmt.Sprintf("expression gives %s, want bool", t)}
	}
	prg, err := NewProgram(e.env, ast)
	if err != nil {
		return nil, &CompileError{Expr: expr, Line: 1, Column: 1, Message: err.Error()}
	}
	return &Filter{expr: expr, prg: prg, evalTimeout: e.evalTimeout}, nil
}

// compileError reports the first of CEL's issues, which is the one the others
// usually follow from.
func compileError(expr string, iss *cel.Issues) *CompileError {
	ce := &CompileError{Expr: expr, Line: 1, Column: 1, Message: iss.Err().Error()}
	errs := iss.Errors()
	if len(errs) == 0 {
		return ce
	}
	// Without a container the suffix only confuses the people writing filters.
	ce.Message = strings.TrimSuffix(errs[0].Message, " (in container '')")
	if loc := errs[0].Location; loc != nil && loc.Line() > 0 {
		ce.Line, ce.Column = loc.Line(), loc.Column()+1 // CEL's columns count from 0
	}
	return ce
}

// Filter returns the compiled filter for expr from a bounded cache, compiling it
// on a miss: matching many events against the same endpoints and automations
// then reuses the programs. Compile errors are cached as well.
func (e *Env) Filter(expr string) (*Filter, error) {
	e.mu.Lock()
	c, ok := e.cache[expr]
	e.mu.Unlock()
	if ok {
		return c.filter, c.err
	}
	// Compile outside the lock: two callers may race on the same new expression
	// and both compile it, which is cheaper than serialising every compile.
	f, err := e.CompileFilter(expr)
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.cache) >= cacheLimit {
		// Evict one arbitrary entry (map order is random): bounded, and a
		// workspace's working set of filters stays mostly warm.
		for k := range e.cache {
			delete(e.cache, k)
			break
		}
	}
	e.cache[expr] = cached{filter: f, err: err}
	return f, err
}

// Match evaluates the filter against event. A run-time error (a missing field,
// a wrong type, the cost or time limit, a cancelled ctx) means no match and is
// returned for the caller to log; when ctx ended, the error wraps ctx.Err().
func (f *Filter) Match(ctx context.Context, event map[string]any) (bool, error) {
	out, err := Eval(ctx, f.prg, map[string]any{"event": event}, f.evalTimeout)
	if err != nil {
		return false, fmt.Errorf("evaluate filter %s: %w", quote(f.expr), err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("evaluate filter %s: %w (got %s)", quote(f.expr), ErrNotBool, out.Type().TypeName())
	}
	return b, nil
}

// quote shortens long expressions so that log lines stay readable.
func quote(expr string) string {
	const limit = 80
	if len(expr) <= limit {
		return fmt.Sprintf("%q", expr)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(expr[cut]) { // never split a character
		cut--
	}
	return fmt.Sprintf("%q…", expr[:cut])
}
