package automation

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"

	"github.com/hookflow/hookflow/internal/rules"
	"github.com/hookflow/hookflow/models"
)

// WaitAction is the step that waits for a later event (params: event_type,
// match or if, timeout).
const WaitAction = "wait_for_event"

// Bounds of waits, counts and flow control, checked when an automation is saved.
const (
	MaxCancelOn    = 10
	MaxWaitTimeout = 90 * 24 * time.Hour
	MaxWindow      = 90 * 24 * time.Hour
	MaxThreshold   = 10_000
	MaxFlowLimit   = 1_000
	MaxPeriod      = 30 * 24 * time.Hour
	MinPeriod      = 100 * time.Millisecond
	// MaxKeyBytes bounds a key's value, as evaluated on an event.
	MaxKeyBytes = 256
	maxPathLen  = 256
)

var pathPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+){0,15}$`)

// Match is a compiled EventMatch: a later event of EventType matches when its
// value at Path equals the run's event's (PathValue), or when Cond holds.
type Match struct {
	EventType string
	Path      string
	Cond      string
	cond      cel.Program
}

// Wait is a compiled wait_for_event step.
type Wait struct {
	Match
	Timeout time.Duration
}

// Flow is an automation's compiled keys and periods of flow control.
type Flow struct {
	keys map[string]cel.Program
	// Within, Period: the count trigger's window and the periods of the
	// throttle, rate limit and debounce, parsed.
	Within, Throttle, RateLimit, Debounce time.Duration
}

// CancelOn is the automation's compiled cancel_on entries.
func (p *Program) CancelOn() []Match { return p.cancelOn }

// Wait is step i's wait when it is a wait_for_event step, else nil.
func (p *Program) Wait(i int) *Wait { return p.steps[i].wait }

// Flow is the automation's flow control, compiled.
func (p *Program) Flow() *Flow { return &p.flow }

// Key evaluates the key of the flow control named field ("trigger.count",
// "concurrency", "throttle", "rate_limit", "debounce") on event: "" when that
// control has no key (one key for all). A number or bool key is its JSON text.
func (f *Flow) Key(ctx context.Context, field string, event map[string]any) (string, error) {
	prg := f.keys[field]
	if prg == nil {
		return "", nil
	}
	v, err := eval(ctx, prg, event, nil, 0)
	if err != nil {
		return "", fmt.Errorf("%s.key: %w", field, err)
	}
	var key string
	switch x := v.(type) {
	case string:
		key = x
	case nil:
		return "", fmt.Errorf("%s.key is null on this event", field)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return "", fmt.Errorf("%s.key gave %T", field, v)
		}
		key = string(b)
	}
	if len(key) > MaxKeyBytes {
		return "", fmt.Errorf("%s.key is %d bytes, over %d", field, len(key), MaxKeyBytes)
	}
	return key, nil
}

// PathValue is the value of event at a dot path (such as "data.order_id") as
// canonical JSON, which waits compare; false when the event has nothing there.
func PathValue(event map[string]any, path string) (string, bool) {
	var cur any = event
	for _, seg := range strings.Split(path, ".") {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[seg]
			if !ok {
				return "", false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return "", false
			}
			cur = x[i]
		default:
			return "", false
		}
	}
	if cur == nil {
		return "", false
	}
	b, err := json.Marshal(cur) // maps marshal with sorted keys: canonical
	if err != nil {
		return "", false
	}
	return string(b), true
}

// MatchCond evaluates a wait's or cancel_on's condition (CEL over event, async
// and steps). Conditions are compiled once per process.
func MatchCond(ctx context.Context, expr string, event, async, steps map[string]any) (bool, error) {
	prg, err := conds.get(expr)
	if err != nil {
		return false, err
	}
	if steps == nil {
		steps = map[string]any{}
	}
	out, err := rules.Eval(ctx, prg, map[string]any{"event": event, "async": async, "steps": steps}, 0)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("if gave %T, want a bool", out.Value())
	}
	return b, nil
}

// condCache holds compiled conditions by their text.
type condCache struct {
	mu sync.Mutex
	m  map[string]cel.Program
}

var conds = condCache{m: map[string]cel.Program{}}

func (c *condCache) get(expr string) (cel.Program, error) {
	c.mu.Lock()
	prg, ok := c.m[expr]
	c.mu.Unlock()
	if ok {
		return prg, nil
	}
	env, err := newMatchEnv()
	if err != nil {
		return nil, err
	}
	cc := &compiler{env: env}
	prg, err = cc.cel(expr, true, nil, &Error{Index: -1, Field: "if"})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) > 4096 {
		clear(c.m)
	}
	c.m[expr] = prg
	c.mu.Unlock()
	return prg, nil
}

func newMatchEnv() (*cel.Env, error) {
	return rules.NewCELEnv(
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("async", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("steps", cel.MapType(cel.StringType, cel.DynType)),
	)
}

// compileMatch checks an EventMatch at field; steps are the earlier step ids a
// condition may use (nil: none, for cancel_on).
func compileMatch(m models.EventMatch, field string, earlier map[string]int, at func(string) *Error) (Match, error) {
	fail := func(sub, format string, args ...any) error {
		e := at(field + sub)
		e.Message = fmt.Sprintf(format, args...)
		return e
	}
	if err := models.ValidateEventType(field+".event_type", m.EventType); err != nil {
		return Match{}, fail(".event_type", "%s", err.(*models.ValidationError).Message)
	}
	out := Match{EventType: m.EventType, Path: m.Match, Cond: m.If}
	switch {
	case m.Match == "" && m.If == "":
		return Match{}, fail("", "give match (a dot path such as \"data.order_id\") or if (a CEL condition over event and async)")
	case m.Match != "" && m.If != "":
		return Match{}, fail("", "give match or if, not both")
	case m.Match != "":
		if len(m.Match) > maxPathLen || !pathPattern.MatchString(m.Match) {
			return Match{}, fail(".match", "%q is not a dot path such as \"data.order_id\"", m.Match)
		}
	default:
		env, err := newMatchEnv()
		if err != nil {
			return Match{}, err
		}
		cc := &compiler{env: env}
		prg, err := cc.cel(m.If, true, earlier, at(field+".if"))
		if err != nil {
			return Match{}, err
		}
		out.cond = prg
	}
	return out, nil
}

// compileWait checks a wait_for_event step's params, which are literal (not
// templated): {"event_type", "match" | "if", "timeout"}.
func compileWait(raw json.RawMessage, earlier map[string]int, at func(string) *Error) (*Wait, error) {
	var p struct {
		EventType string `json:"event_type"`
		Match     string `json:"match"`
		If        string `json:"if"`
		Timeout   string `json:"timeout"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		e := at("params")
		e.Message = fmt.Sprintf("a wait_for_event step takes event_type, match or if, and timeout: %v", err)
		return nil, e
	}
	m, err := compileMatch(models.EventMatch{EventType: p.EventType, Match: p.Match, If: p.If}, "params", earlier, at)
	if err != nil {
		return nil, err
	}
	d, err := boundedDuration(p.Timeout, time.Second, MaxWaitTimeout)
	if err != nil {
		e := at("params.timeout")
		e.Message = err.Error()
		return nil, e
	}
	return &Wait{Match: m, Timeout: d}, nil
}

func boundedDuration(s string, lo, hi time.Duration) (time.Duration, error) {
	d, err := models.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < lo || d > hi {
		return 0, fmt.Errorf("%q is not between %s and %s", s, lo, hi)
	}
	return d, nil
}

// compileFlow checks the automation's cancel_on, count trigger and flow
// control, and compiles their keys into p.
func (c *compiler) compileFlow(a *models.Automation, p *Program) error {
	if len(a.CancelOn) > MaxCancelOn {
		return topError("cancel_on", "give at most %d entries", MaxCancelOn)
	}
	for i, m := range a.CancelOn {
		cm, err := compileMatch(m, fmt.Sprintf("cancel_on[%d]", i), nil, func(f string) *Error { return &Error{Index: -1, Field: f} })
		if err != nil {
			return err
		}
		p.cancelOn = append(p.cancelOn, cm)
	}
	p.flow.keys = map[string]cel.Program{}
	f := flowCompiler{c: c, p: p}
	if err := f.count(a.Trigger.Count); err != nil {
		return err
	}
	if err := f.controls(a); err != nil {
		return err
	}
	if len(f.entity) > 1 {
		return topError(f.entity[1], "cannot be combined with %s: give one of trigger.count, concurrency, throttle and debounce", f.entity[0])
	}
	if r := a.RateLimit; r != nil {
		if len(f.entity) == 1 && (f.entity[0] == "trigger.count" || f.entity[0] == "debounce") {
			return topError("rate_limit", "cannot be combined with %s, which starts one run for many events", f.entity[0])
		}
		var err error
		if p.flow.RateLimit, err = f.limited("rate_limit", r.Key, r.Limit, r.Period); err != nil {
			return err
		}
	}
	return nil
}

func topError(field, format string, args ...any) error {
	return &Error{Index: -1, Field: field, Message: fmt.Sprintf(format, args...)}
}

// flowCompiler compiles one automation's flow control; entity lists the
// controls given that are per-key entities (at most one is allowed).
type flowCompiler struct {
	c      *compiler
	p      *Program
	entity []string
}

func (f *flowCompiler) key(field, expr string) error {
	if expr == "" {
		return nil
	}
	prg, err := f.c.cel(expr, false, nil, &Error{Index: -1, Field: field + ".key"})
	if err != nil {
		return err
	}
	f.p.flow.keys[field] = prg
	return nil
}

// limited checks a control's key, limit and (when period is not "-") period.
func (f *flowCompiler) limited(field, key string, limit int, period string) (time.Duration, error) {
	if limit < 1 || limit > MaxFlowLimit {
		return 0, topError(field+".limit", "give a limit from 1 to %d", MaxFlowLimit)
	}
	var d time.Duration
	if period != "-" {
		var err error
		if d, err = boundedDuration(period, MinPeriod, MaxPeriod); err != nil {
			return 0, topError(field+".period", "%v", err)
		}
	}
	return d, f.key(field, key)
}

func (f *flowCompiler) count(ct *models.CountTrigger) error {
	if ct == nil {
		return nil
	}
	f.entity = append(f.entity, "trigger.count")
	if ct.Key == "" {
		return topError("trigger.count.key", "is required: a CEL expression over event, such as \"event.data.review_id\"")
	}
	if err := f.key("trigger.count", ct.Key); err != nil {
		return err
	}
	if ct.Threshold < 1 || ct.Threshold > MaxThreshold {
		return topError("trigger.count.threshold", "give a threshold from 1 to %d", MaxThreshold)
	}
	d, err := boundedDuration(ct.Within, time.Second, MaxWindow)
	if err != nil {
		return topError("trigger.count.within", "%v", err)
	}
	f.p.flow.Within = d
	return nil
}

// controls checks concurrency, throttle and debounce.
func (f *flowCompiler) controls(a *models.Automation) error {
	var err error
	if cc := a.Concurrency; cc != nil {
		f.entity = append(f.entity, "concurrency")
		if _, err = f.limited("concurrency", cc.Key, cc.Limit, "-"); err != nil {
			return err
		}
	}
	if t := a.Throttle; t != nil {
		f.entity = append(f.entity, "throttle")
		if f.p.flow.Throttle, err = f.limited("throttle", t.Key, t.Limit, t.Period); err != nil {
			return err
		}
	}
	if d := a.Debounce; d != nil {
		f.entity = append(f.entity, "debounce")
		if f.p.flow.Debounce, err = boundedDuration(d.Period, MinPeriod, MaxPeriod); err != nil {
			return topError("debounce.period", "%v", err)
		}
		if err := f.key("debounce", d.Key); err != nil {
			return err
		}
	}
	return nil
}
