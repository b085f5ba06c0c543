// Package rules compiles and evaluates the CEL expressions business users write:
// endpoint filters over an event (`event.type == "review.created" &&
// event.data.rating >= 4`). Everything is compiled and type-checked when saved, so
// a typo is a 400 with its position, not a surprise at run time; evaluation is
// bounded in cost so a pathological expression cannot stall a worker.
package rules

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
)

// Limits on expressions.
const (
	MaxExpressionLen = 4096
	// costLimit bounds the work of one evaluation (CEL's abstract cost units); real
	// filters cost a few dozen.
	costLimit  = 1_000_000
	cacheLimit = 1024
)

// CompileError is a filter that does not compile, with the 1-based position of
// the first problem.
type CompileError struct {
	Expr    string
	Line    int
	Column  int
	Message string
}

// Error implements error.
func (e *CompileError) Error() string {
	return fmt.Sprintf("filter: %d:%d: %s", e.Line, e.Column, e.Message)
}

// Env compiles filters. It is safe for concurrent use.
type Env struct {
	env   *cel.Env
	mu    sync.Mutex
	cache map[string]*Filter
}

// NewEnv returns an environment with one variable, `event` (a map: id, type,
// source_id, data, headers, created_at), CEL's standard library and string extensions.
func NewEnv() (*Env, error) {
	env, err := cel.NewEnv(
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
		ext.Strings(),
		// JSON numbers arrive as doubles; `rating >= 4` must still work.
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(MaxExpressionLen),
		cel.ParserRecursionLimit(100),
	)
	if err != nil {
		return nil, fmt.Errorf("cel environment: %w", err)
	}
	return &Env{env: env, cache: map[string]*Filter{}}, nil
}

// Filter is a compiled boolean expression.
type Filter struct {
	expr string
	prg  cel.Program
}

// CompileFilter compiles and type-checks expr; the result must be a bool.
func (e *Env) CompileFilter(expr string) (*Filter, error) {
	if len(expr) > MaxExpressionLen {
		return nil, &CompileError{Expr: expr, Line: 1, Column: 1, Message: fmt.Sprintf("expression is longer than %d characters", MaxExpressionLen)}
	}
	ast, iss := e.env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		ce := &CompileError{Expr: expr, Line: 1, Column: 1, Message: iss.Err().Error()}
		if errs := iss.Errors(); len(errs) > 0 {
			ce.Message = errs[0].Message
			if loc := errs[0].Location; loc != nil && loc.Line() > 0 {
				ce.Line, ce.Column = loc.Line(), loc.Column()+1
			}
		}
		return nil, ce
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, &CompileError{Expr: expr, Line: 1, Column: 1, Message: fmt.Sprintf("expression gives %s, want a bool", t)}
	}
	prg, err := e.env.Program(ast,
		cel.CostLimit(costLimit),
		cel.InterruptCheckFrequency(100),
	)
	if err != nil {
		return nil, &CompileError{Expr: expr, Line: 1, Column: 1, Message: err.Error()}
	}
	return &Filter{expr: expr, prg: prg}, nil
}

// Filter returns the compiled filter for expr, from a small cache: matching many
// events against the same endpoints reuses the programs.
func (e *Env) Filter(expr string) (*Filter, error) {
	e.mu.Lock()
	f, ok := e.cache[expr]
	e.mu.Unlock()
	if ok {
		return f, nil
	}
	f, err := e.CompileFilter(expr)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if len(e.cache) >= cacheLimit {
		// Dropping everything is crude but bounded; real workspaces have far fewer
		// distinct filters than the limit.
		clear(e.cache)
	}
	e.cache[expr] = f
	e.mu.Unlock()
	return f, nil
}

// ErrNotBool is returned when a dyn-typed filter yields something other than a bool.
var ErrNotBool = errors.New("filter did not give a bool")

// Match evaluates the filter against event. A run-time error (a missing field, the
// cost limit) does not match and is returned for the caller to log.
func (f *Filter) Match(ctx context.Context, event map[string]any) (bool, error) {
	out, _, err := f.prg.ContextEval(ctx, map[string]any{"event": event})
	if err != nil {
		return false, fmt.Errorf("evaluate %q: %w", f.expr, err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("evaluate %q: %w (got %v)", f.expr, ErrNotBool, out.Type())
	}
	return b, nil
}
