// Package automation compiles an automation definition once, when it is saved, and
// evaluates it cheaply for each event: the trigger's CEL filter, each step's CEL `if`,
// and its params, whose strings are Go templates over .event and .steps and whose
// {"$expr": "<CEL>"} objects are CEL values that keep their type. Every problem is
// found at compile time and reported with the step, the field and the position.
package automation

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hookflow/hookflow/internal/rules"
	"github.com/hookflow/hookflow/models"
)

// Limits. CEL's own bounds (cost, value sizes, nesting, time) are the ones every
// hookflow expression shares, in internal/rules.
const (
	MaxSteps      = 20
	maxExprLen    = rules.MaxExpressionLen
	maxNameLength = 200
)

var stepIDPattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{0,63}$`)

// Error is a compile error: which step (Index -1 for the trigger and top-level
// fields), which field, and where in it.
type Error struct {
	Step    string
	Index   int
	Field   string
	Line    int
	Column  int
	Message string
}

// Error implements error, e.g. `steps[1] (id "award") params.points: 1:7: undeclared reference to 'evnt'`.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Index >= 0 {
		fmt.Fprintf(&b, "steps[%d]", e.Index)
		if e.Step != "" {
			fmt.Fprintf(&b, " (id %q)", e.Step)
		}
		b.WriteString(" ")
	}
	b.WriteString(e.Field)
	if e.Line > 0 {
		fmt.Fprintf(&b, ": %d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	return b.String()
}

// Program is a compiled automation.
type Program struct {
	filter   cel.Program
	steps    []compiledStep
	cancelOn []Match
	flow     Flow
}

type compiledStep struct {
	id      string
	action  string
	cond    cel.Program
	params  node
	wait    *Wait
	secrets []string
}

type compiler struct {
	env *cel.Env
	// secrets collects the credentials the step being compiled names.
	secrets []string
}

func newEnv() (*cel.Env, error) {
	return rules.NewCELEnv(
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("steps", cel.MapType(cel.StringType, cel.DynType)),
	)
}

// Compile checks and compiles a. known reports whether an action exists.
func Compile(a *models.Automation, known func(action string) bool) (*Program, error) {
	env, err := newEnv()
	if err != nil {
		return nil, err
	}
	c := &compiler{env: env}
	top := func(field, format string, args ...any) error {
		return &Error{Index: -1, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(a.Name) == "" || len(a.Name) > maxNameLength {
		return nil, top("name", "is required (at most %d characters)", maxNameLength)
	}
	if a.Trigger.EventType != "*" {
		if err := models.ValidateEventType("trigger.event_type", a.Trigger.EventType); err != nil {
			return nil, top("trigger.event_type", "%s", err.(*models.ValidationError).Message)
		}
	}
	p := &Program{}
	if a.Trigger.Filter != "" {
		prg, err := c.cel(a.Trigger.Filter, true, nil, &Error{Index: -1, Field: "trigger.filter"})
		if err != nil {
			return nil, err
		}
		p.filter = prg
	}
	if err := c.compileFlow(a, p); err != nil {
		return nil, err
	}
	if len(a.Steps) == 0 || len(a.Steps) > MaxSteps {
		return nil, top("steps", "give 1 to %d steps", MaxSteps)
	}
	seen := map[string]int{}
	for i, st := range a.Steps {
		loc := func(field string) *Error { return &Error{Step: st.ID, Index: i, Field: field} }
		fail := func(field, format string, args ...any) error {
			e := loc(field)
			e.Message = fmt.Sprintf(format, args...)
			return e
		}
		if !stepIDPattern.MatchString(st.ID) {
			return nil, fail("id", "%q must start with a letter and hold only letters, digits and _ (at most 64)", st.ID)
		}
		if j, dup := seen[st.ID]; dup {
			return nil, fail("id", "%q is already the id of steps[%d]", st.ID, j)
		}
		if known == nil || !known(st.Action) {
			return nil, fail("action", "unknown action %q", st.Action)
		}
		cs := compiledStep{id: st.ID, action: st.Action}
		var err error
		if st.If != "" {
			if cs.cond, err = c.cel(st.If, true, seen, loc("if")); err != nil {
				return nil, err
			}
		}
		if st.Action == WaitAction {
			if cs.wait, err = compileWait(st.Params, seen, loc); err != nil {
				return nil, err
			}
		}
		var params any = map[string]any{}
		if raw := strings.TrimSpace(string(st.Params)); raw != "" && raw != "null" {
			if err := json.Unmarshal(st.Params, &params); err != nil {
				return nil, fail("params", "is not valid JSON: %v", err)
			}
		}
		if _, ok := params.(map[string]any); !ok {
			return nil, fail("params", "must be a JSON object")
		}
		c.secrets = nil
		n, err := c.node(params, "params", seen, loc)
		if err != nil {
			return nil, err
		}
		cs.params, cs.secrets = n, c.secrets
		p.steps = append(p.steps, cs)
		seen[st.ID] = i
	}
	return p, nil
}

// cel compiles one expression; earlier holds the ids of the steps before this one
// (nil where `steps` may not be used).
func (c *compiler) cel(expr string, wantBool bool, earlier map[string]int, at *Error) (cel.Program, error) {
	fail := func(line, col int, format string, args ...any) error {
		e := *at
		e.Line, e.Column, e.Message = line, col, fmt.Sprintf(format, args...)
		return &e
	}
	if len(expr) > maxExprLen {
		return nil, fail(1, 1, "expression is longer than %d characters", maxExprLen)
	}
	checked, iss := c.env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		errs := iss.Errors()
		if len(errs) > 0 && errs[0].Location != nil && errs[0].Location.Line() > 0 {
			return nil, fail(errs[0].Location.Line(), errs[0].Location.Column()+1, "%s", errs[0].Message)
		}
		return nil, fail(1, 1, "%s", iss.Err())
	}
	if wantBool {
		if t := checked.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
			return nil, fail(1, 1, "expression gives %s, want a bool", t)
		}
	}
	native := checked.NativeRep()
	var refErr error
	ast.PreOrderVisit(native.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if refErr != nil || e.Kind() != ast.SelectKind {
			return
		}
		sel := e.AsSelect()
		op := sel.Operand()
		if op.Kind() != ast.IdentKind || op.AsIdent() != "steps" {
			return
		}
		if _, ok := earlier[sel.FieldName()]; !ok {
			loc := native.SourceInfo().GetStartLocation(e.ID())
			refErr = fail(loc.Line(), loc.Column()+1, "step %q is not an earlier step", sel.FieldName())
		}
	}))
	if refErr != nil {
		return nil, refErr
	}
	prg, err := rules.NewProgram(c.env, checked)
	if err != nil {
		return nil, fail(1, 1, "%v", err)
	}
	return prg, nil
}

// eval evaluates prg within timeout (rules.EvalTimeout when zero) and ctx.
func eval(ctx context.Context, prg cel.Program, event, steps map[string]any, timeout time.Duration) (any, error) {
	if steps == nil {
		steps = map[string]any{}
	}
	out, err := rules.Eval(ctx, prg, map[string]any{"event": event, "steps": steps}, timeout)
	if err != nil {
		return nil, err
	}
	v, err := out.ConvertToNative(reflect.TypeOf(&structpb.Value{}))
	if err != nil {
		return out.Value(), nil
	}
	native := v.(*structpb.Value).AsInterface()
	return wholeNumbers(native), nil
}

// wholeNumbers turns whole-number doubles into int64 so 50 stays 50, not 50.0.
func wholeNumbers(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
		return x
	case []any:
		for i := range x {
			x[i] = wholeNumbers(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = wholeNumbers(x[k])
		}
		return x
	}
	return v
}

// Matches evaluates the trigger filter; true when there is none.
func (p *Program) Matches(ctx context.Context, event map[string]any) (bool, error) {
	if p.filter == nil {
		return true, nil
	}
	v, err := eval(ctx, p.filter, event, nil, 0)
	if err != nil {
		return false, fmt.Errorf("trigger.filter: %w", err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("trigger.filter gave %T, want a bool", v)
	}
	return b, nil
}

// StepCount is the number of steps.
func (p *Program) StepCount() int { return len(p.steps) }

// StepID is step i's id.
func (p *Program) StepID(i int) string { return p.steps[i].id }

// Action is step i's action.
func (p *Program) Action(i int) string { return p.steps[i].action }

// ShouldRun evaluates step i's `if`; true when it has none.
func (p *Program) ShouldRun(ctx context.Context, i int, event, steps map[string]any) (bool, error) {
	st := p.steps[i]
	if st.cond == nil {
		return true, nil
	}
	v, err := eval(ctx, st.cond, event, steps, 0)
	if err != nil {
		return false, fmt.Errorf("steps[%d] (id %q) if: %w", i, st.id, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("steps[%d] (id %q) if gave %T, want a bool", i, st.id, v)
	}
	return b, nil
}

// Render returns step i's params with templates rendered and $expr values
// evaluated, within the rendering bounds (MaxRenderedBytes, MaxRangeIterations,
// RenderTimeout) and ctx. An error wrapping ErrBudget is final; one wrapping
// ctx.Err() means the render was stopped and may be tried again.
func (p *Program) Render(ctx context.Context, i int, event, steps map[string]any) (map[string]any, error) {
	if steps == nil {
		steps = map[string]any{}
	}
	v, err := p.steps[i].params.render(newRenderer(ctx), event, steps)
	if err != nil {
		return nil, fmt.Errorf("steps[%d] (id %q) %w", i, p.steps[i].id, err)
	}
	m, _ := v.(map[string]any)
	return m, nil
}
