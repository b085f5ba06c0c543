package automation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/google/cel-go/cel"
)

// node is one compiled piece of params: a literal, a template, a $expr, or a
// container of nodes.
type node interface {
	render(ctx context.Context, event, steps map[string]any) (any, error)
}

type literal struct{ v any }

func (l literal) render(context.Context, map[string]any, map[string]any) (any, error) {
	return l.v, nil
}

type tmplNode struct {
	field string
	t     *template.Template
}

// noValue is what text/template prints for a missing map key; a missing value
// renders as "" instead.
const noValue = "<no value>"

func (n tmplNode) render(_ context.Context, event, steps map[string]any) (any, error) {
	var b bytes.Buffer
	if err := n.t.Execute(&b, map[string]any{"event": event, "steps": steps}); err != nil {
		return nil, fmt.Errorf("%s: %w", n.field, err)
	}
	return strings.ReplaceAll(b.String(), noValue, ""), nil
}

type exprNode struct {
	field string
	prg   cel.Program
}

func (n exprNode) render(ctx context.Context, event, steps map[string]any) (any, error) {
	v, err := eval(ctx, n.prg, event, steps)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.field, err)
	}
	return v, nil
}

type objectNode struct {
	keys  []string
	nodes map[string]node
}

func (o objectNode) render(ctx context.Context, event, steps map[string]any) (any, error) {
	out := make(map[string]any, len(o.keys))
	for _, k := range o.keys {
		v, err := o.nodes[k].render(ctx, event, steps)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

type listNode []node

func (l listNode) render(ctx context.Context, event, steps map[string]any) (any, error) {
	out := make([]any, len(l))
	for i, n := range l {
		v, err := n.render(ctx, event, steps)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

var funcs = template.FuncMap{
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
		return string(b), err
	},
	"join": func(sep string, v []any) string {
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, sep)
	},
}

func (c *compiler) node(v any, field string, earlier map[string]int, loc func(string) *Error) (node, error) {
	switch x := v.(type) {
	case string:
		if !strings.Contains(x, "{{") {
			return literal{x}, nil
		}
		return c.template(x, field, earlier, loc(field))
	case map[string]any:
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
	var refErr error
	walk(t.Tree.Root, func(n parse.Node) {
		if refErr != nil {
			return
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
	return tmplNode{field: field, t: t}, nil
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
