package automation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/google/cel-go/cel"
)

// Bounds of rendering one step's params. Tenants write templates, so rendering
// must stop, by construction, long before it could slow another tenant's events:
// there is no recursion (define, template and block are refused when saved), every
// range iteration and every write is counted, and the context (a deadline, a
// shutdown) is checked as it goes.
const (
	// MaxRenderedBytes caps a step's rendered params, as the event size limit caps
	// events.
	MaxRenderedBytes = 256 << 10
	// MaxRangeIterations caps the range iterations of one step's templates.
	MaxRangeIterations = 10_000
	// RenderTimeout is a wall-clock backstop for one step's params.
	RenderTimeout = time.Second
	// maxFormatWidth caps printf widths and precisions: "%0999999d" would make a
	// megabyte from one character.
	maxFormatWidth = 1000
	// tickFunc is the function compiled into the top of every range body, which
	// counts the iteration and checks the context.
	tickFunc = "hookflowTick"
)

// ErrBudget is what a render that broke its bounds wraps: retrying cannot help.
var ErrBudget = errors.New("over the rendering limits")

// budgetError is a broken bound, found with errors.Is(err, ErrBudget).
type budgetError struct{ msg string }

func (e *budgetError) Error() string        { return ErrBudget.Error() + ": " + e.msg }
func (e *budgetError) Is(target error) bool { return target == ErrBudget }

func overBudget(format string, args ...any) error {
	return &budgetError{msg: fmt.Sprintf(format, args...)}
}

// renderer carries one step render's budget across its nodes.
type renderer struct {
	ctx        context.Context
	deadline   time.Time
	iterations int
	bytes      int
}

func newRenderer(ctx context.Context) *renderer {
	return &renderer{ctx: ctx, deadline: time.Now().Add(RenderTimeout)}
}

// check ends the render when the context ended or the time is up.
func (r *renderer) check() error {
	if err := r.ctx.Err(); err != nil {
		return fmt.Errorf("rendering stopped: %w", err)
	}
	if time.Now().After(r.deadline) {
		return overBudget("took longer than %s", RenderTimeout)
	}
	return nil
}

// tick is called at the top of every range iteration.
func (r *renderer) tick() (string, error) {
	r.iterations++
	if r.iterations > MaxRangeIterations {
		return "", overBudget("more than %d range iterations", MaxRangeIterations)
	}
	if r.iterations%64 == 0 {
		return "", r.check()
	}
	return "", nil
}

// add counts rendered bytes against the budget.
func (r *renderer) add(n int) error {
	r.bytes += n
	if r.bytes > MaxRenderedBytes {
		return overBudget("rendered params are over %d bytes", MaxRenderedBytes)
	}
	return r.check()
}

// remaining is the time left for a CEL evaluation within the render.
func (r *renderer) remaining() time.Duration {
	return max(time.Until(r.deadline), time.Millisecond)
}

// boundedWriter is where a template writes: each write is counted and checked, so
// output past the budget (or after the context ended) stops the template.
type boundedWriter struct {
	r   *renderer
	buf bytes.Buffer
}

func (w *boundedWriter) Write(p []byte) (int, error) {
	if err := w.r.add(len(p)); err != nil {
		return 0, err
	}
	return w.buf.Write(p)
}

// node is one compiled piece of params: a literal, a template, a $expr, or a
// container of nodes.
type node interface {
	render(r *renderer, event, steps map[string]any) (any, error)
}

type literal struct{ v any }

func (l literal) render(*renderer, map[string]any, map[string]any) (any, error) {
	return l.v, nil
}

type tmplNode struct {
	field string
	t     *template.Template
}

// noValue is what text/template prints for a missing map key; a missing value
// renders as "" instead.
const noValue = "<no value>"

func (n tmplNode) render(r *renderer, event, steps map[string]any) (any, error) {
	// A clone per render binds the tick to this render's budget; the parse tree
	// is shared, not copied.
	t, err := n.t.Clone()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.field, err)
	}
	t.Funcs(template.FuncMap{tickFunc: r.tick, "secret": r.secret})
	w := &boundedWriter{r: r}
	if err := t.Execute(w, map[string]any{"event": event, "steps": steps}); err != nil {
		return nil, fmt.Errorf("%s: %w", n.field, unwrapExec(err))
	}
	return strings.ReplaceAll(w.buf.String(), noValue, ""), nil
}

// unwrapExec reports a broken bound as itself, without text/template's account
// of where it was called from (the tick is no place a user wrote).
func unwrapExec(err error) error {
	var be *budgetError
	if errors.As(err, &be) {
		return be
	}
	return err
}

type exprNode struct {
	field string
	prg   cel.Program
}

func (n exprNode) render(r *renderer, event, steps map[string]any) (any, error) {
	v, err := eval(r.ctx, n.prg, event, steps, r.remaining())
	if err != nil {
		if r.ctx.Err() == nil && strings.Contains(err.Error(), "took longer than") {
			err = overBudget("%v", err)
		}
		return nil, fmt.Errorf("%s: %w", n.field, err)
	}
	if err := r.add(sizeOf(v, MaxRenderedBytes+1)); err != nil {
		return nil, fmt.Errorf("%s: %w", n.field, err)
	}
	return v, nil
}

// sizeOf approximates the JSON size of v, stopping once it passes limit.
func sizeOf(v any, limit int) int {
	switch x := v.(type) {
	case string:
		return len(x) + 2
	case []byte:
		return len(x)
	case []any:
		n := 2
		for _, e := range x {
			if n += sizeOf(e, limit-n) + 1; n > limit {
				return n
			}
		}
		return n
	case map[string]any:
		n := 2
		for k, e := range x {
			if n += len(k) + 4 + sizeOf(e, limit-n); n > limit {
				return n
			}
		}
		return n
	}
	return 8
}

type objectNode struct {
	keys  []string
	nodes map[string]node
}

func (o objectNode) render(r *renderer, event, steps map[string]any) (any, error) {
	out := make(map[string]any, len(o.keys))
	for _, k := range o.keys {
		v, err := o.nodes[k].render(r, event, steps)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

type listNode []node

func (l listNode) render(r *renderer, event, steps map[string]any) (any, error) {
	out := make([]any, len(l))
	for i, n := range l {
		v, err := n.render(r, event, steps)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

var funcs = template.FuncMap{
	// Replaced per render (tmplNode.render); these only let templates parse.
	tickFunc: func() (string, error) { return "", nil },
	"secret": func(string) (string, error) { return "", errors.New("credentials are not available here") },
	"printf": printf,
	"default": func(def, v any) any {
		if v == nil || v == "" {
			return def
		}
		return v
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"trim":  strings.TrimSpace,
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		return capped("json", string(b))
	},
	"join": func(sep string, v []any) (string, error) {
		parts := make([]string, len(v))
		size := 0
		for i, x := range v {
			parts[i] = fmt.Sprint(x)
			if size += len(parts[i]) + len(sep); size > MaxRenderedBytes {
				return "", overBudget("join would make over %d bytes", MaxRenderedBytes)
			}
		}
		return strings.Join(parts, sep), nil
	},
	// The builtins that concatenate their arguments, bounded: assigning
	// `{{ $a = print $a $a }}` thirty times doubles a string thirty times
	// without writing a byte.
	"print":    func(args ...any) (string, error) { return capped("print", fmt.Sprint(args...)) },
	"println":  func(args ...any) (string, error) { return capped("println", fmt.Sprintln(args...)) },
	"html":     func(args ...any) (string, error) { return capped("html", template.HTMLEscaper(args...)) },
	"js":       func(args ...any) (string, error) { return capped("js", template.JSEscaper(args...)) },
	"urlquery": func(args ...any) (string, error) { return capped("urlquery", template.URLQueryEscaper(args...)) },
}

// capped refuses a function's result over MaxRenderedBytes; inputs are capped the
// same way, so nothing larger than twice the cap is ever made.
func capped(fn, s string) (string, error) {
	if len(s) > MaxRenderedBytes {
		return "", overBudget("%s made %d bytes, over %d", fn, len(s), MaxRenderedBytes)
	}
	return s, nil
}

func (c *compiler) node(v any, field string, earlier map[string]int, loc func(string) *Error) (node, error) {
	switch x := v.(type) {
	case string:
		if !strings.Contains(x, "{{") {
			return literal{x}, nil
		}
		return c.template(x, field, earlier, loc(field))
	case map[string]any:
		if e, ok := x["$secret"]; ok && len(x) == 1 {
			name, ok := e.(string)
			if !ok || !CredentialName.MatchString(name) {
				at := loc(field)
				at.Message = `$secret must name a credential: lower-case letters, digits and _ (such as {"$secret": "crm_token"})`
				return nil, at
			}
			c.secrets = append(c.secrets, name)
			return secretNode{field: field, name: name}, nil
		}
		if e, ok := x["$expr"]; ok && len(x) == 1 {
			s, ok := e.(string)
			if !ok {
				at := loc(field)
				at.Message = "$expr must be a string holding a CEL expression"
				return nil, at
			}
			prg, err := c.cel(s, false, earlier, loc(field))
			if err != nil {
				return nil, err
			}
			return exprNode{field: field, prg: prg}, nil
		}
		o := objectNode{nodes: map[string]node{}}
		for k := range x {
			o.keys = append(o.keys, k)
		}
		sort.Strings(o.keys)
		for _, k := range o.keys {
			n, err := c.node(x[k], field+"."+k, earlier, loc)
			if err != nil {
				return nil, err
			}
			o.nodes[k] = n
		}
		return o, nil
	case []any:
		l := make(listNode, len(x))
		for i, item := range x {
			n, err := c.node(item, fmt.Sprintf("%s[%d]", field, i), earlier, loc)
			if err != nil {
				return nil, err
			}
			l[i] = n
		}
		return l, nil
	default:
		return literal{x}, nil
	}
}

// templateErrPos finds "name:line:col:" or "name:line:" in text/template's errors.
var templateErrPos = regexp.MustCompile(`^template: [^:]*:(\d+)(?::(\d+))?: (.*)$`)

func (c *compiler) template(text, field string, earlier map[string]int, at *Error) (node, error) {
	t, err := template.New(field).Option("missingkey=zero").Funcs(funcs).Parse(text)
	if err != nil {
		e := *at
		e.Line, e.Column, e.Message = 1, 1, err.Error()
		if m := templateErrPos.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			if m[2] != "" {
				e.Column, _ = strconv.Atoi(m[2])
			}
			e.Message = m[3]
		}
		return nil, &e
	}
	if m := unboundedAction.FindStringIndex(text); m != nil || len(t.Templates()) > 1 {
		e := *at
		e.Line, e.Column = 1, 1
		if m != nil {
			e.Line, e.Column = lineCol(text, m[0])
		}
		e.Message = "define, block and template are not allowed: a param is one template, without sub-templates"
		return nil, &e
	}
	var refErr error
	walk(t.Tree.Root, func(n parse.Node) {
		if refErr != nil {
			return
		}
		if rn, ok := n.(*parse.RangeNode); ok {
			if isNumber(rn.Pipe) {
				line, col := lineCol(text, int(rn.Position()))
				e := *at
				e.Line, e.Column, e.Message = line, col, "range over a number is not allowed: range over a list or map of the event or of a step"
				refErr = &e
				return
			}
			// Count every iteration: a range over a long list from the event,
			// or nested ranges, is stopped by the budget, not by patience.
			rn.List.Nodes = append([]parse.Node{tickNode.Copy()}, rn.List.Nodes...)
		}
		var ident []string
		switch f := n.(type) {
		case *parse.FieldNode:
			ident = f.Ident
		case *parse.ChainNode:
			if d, ok := f.Node.(*parse.DotNode); ok && d != nil {
				ident = f.Field
			}
		}
		if len(ident) >= 2 && ident[0] == "steps" {
			if _, ok := earlier[ident[1]]; !ok {
				line, col := lineCol(text, int(n.Position()))
				e := *at
				e.Line, e.Column, e.Message = line, col, fmt.Sprintf("step %q is not an earlier step", ident[1])
				refErr = &e
			}
		}
	})
	if refErr != nil {
		return nil, refErr
	}
	names, bad := templateSecrets(t.Tree.Root)
	if bad != "" {
		e := *at
		e.Line, e.Column, e.Message = 1, 1, bad
		return nil, &e
	}
	c.secrets = append(c.secrets, names...)
	return tmplNode{field: field, t: t}, nil
}

// unboundedAction finds the actions that define or call sub-templates, which can
// recurse: a 1.5 KB chain of defines that each call the next twice pinned a CPU.
var unboundedAction = regexp.MustCompile(`\{\{-?\s*(define|block|template)\b`)

// tickNode is the action inserted at the top of every range body.
var tickNode = func() parse.Node {
	t := template.Must(template.New("tick").Funcs(funcs).Parse("{{" + tickFunc + "}}"))
	return t.Tree.Root.Nodes[0]
}()

// isNumber reports whether a range's pipeline is a number literal, such as
// `range $i := 9223372036854775807`.
func isNumber(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	_, ok := p.Cmds[0].Args[0].(*parse.NumberNode)
	return ok
}

// printf is text/template's printf with widths and precisions bounded, and
// without `*` (a width taken from the data).
func printf(format string, args ...any) (string, error) {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		for i++; i < len(format) && strings.IndexByte("+-# 0", format[i]) >= 0; i++ {
		}
		for part := 0; part < 2 && i < len(format); part++ {
			if format[i] == '[' { // an explicit argument index, [n]
				for i < len(format) && format[i] != ']' {
					i++
				}
				i++
			}
			if i < len(format) && format[i] == '*' {
				return "", fmt.Errorf("printf: a width or precision from the data (*) is not allowed")
			}
			n := 0
			for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
				if n = n*10 + int(format[i]-'0'); n > maxFormatWidth {
					return "", overBudget("printf width or precision over %d", maxFormatWidth)
				}
			}
			if part == 0 && i < len(format) && format[i] == '.' {
				i++
				continue
			}
			break
		}
	}
	return capped("printf", fmt.Sprintf(format, args...))
}

func lineCol(text string, offset int) (int, int) {
	if offset > len(text) {
		offset = len(text)
	}
	before := text[:offset]
	line := strings.Count(before, "\n") + 1
	col := offset - strings.LastIndex(before, "\n")
	return line, col
}

// walk visits every node of a template tree.
func walk(n parse.Node, fn func(parse.Node)) {
	if n == nil {
		return
	}
	fn(n)
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return
		}
		for _, c := range x.Nodes {
			walk(c, fn)
		}
	case *parse.ActionNode:
		walk(x.Pipe, fn)
	case *parse.PipeNode:
		if x == nil {
			return
		}
		for _, c := range x.Cmds {
			walk(c, fn)
		}
	case *parse.CommandNode:
		for _, a := range x.Args {
			walk(a, fn)
		}
	case *parse.ChainNode:
		walk(x.Node, fn)
	case *parse.IfNode:
		walkBranch(&x.BranchNode, fn)
	case *parse.RangeNode:
		walkBranch(&x.BranchNode, fn)
	case *parse.WithNode:
		walkBranch(&x.BranchNode, fn)
	case *parse.TemplateNode:
		walk(x.Pipe, fn)
	}
}

func walkBranch(b *parse.BranchNode, fn func(parse.Node)) {
	walk(b.Pipe, fn)
	if b.List != nil {
		walk(b.List, fn)
	}
	if b.ElseList != nil {
		walk(b.ElseList, fn)
	}
}
