package automation

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"text/template/parse"
)

// CredentialName is what a credential may be called: what {{ secret "…" }} and
// {"$secret": "…"} name.
var CredentialName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Secrets resolves credentials by name while a step's params render: inside
// the activity that runs the step, so a value never reaches a workflow's
// history. The dry run's resolver shows a placeholder instead.
type Secrets interface {
	Secret(ctx context.Context, name string) (string, error)
}

type secretsKey struct{}

// WithSecrets makes s resolve the credentials of the params rendered with ctx.
func WithSecrets(ctx context.Context, s Secrets) context.Context {
	return context.WithValue(ctx, secretsKey{}, s)
}

func secretsFrom(ctx context.Context) Secrets {
	s, _ := ctx.Value(secretsKey{}).(Secrets)
	return s
}

// secret resolves one credential for the render.
func (r *renderer) secret(name string) (string, error) {
	s := secretsFrom(r.ctx)
	if s == nil {
		return "", fmt.Errorf("credential %q: credentials are not available here", name)
	}
	v, err := s.Secret(r.ctx, name)
	if err != nil {
		return "", err
	}
	if err := r.add(len(v)); err != nil {
		return "", err
	}
	return v, nil
}

// secretNode is {"$secret": "name"}: the credential's value, as a string.
type secretNode struct {
	field, name string
}

func (n secretNode) render(r *renderer, _, _ map[string]any) (any, error) {
	v, err := r.secret(n.name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.field, err)
	}
	return v, nil
}

// Secrets lists the credentials the automation's params name, sorted.
func (p *Program) Secrets() []string {
	seen := map[string]bool{}
	for _, st := range p.steps {
		for _, n := range st.secrets {
			seen[n] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// templateSecrets checks the secret calls of a template, which must name a
// credential with a string literal, and returns the names.
func templateSecrets(root parse.Node) ([]string, string) {
	var names []string
	bad := ""
	walk(root, func(n parse.Node) {
		cmd, ok := n.(*parse.CommandNode)
		if !ok || len(cmd.Args) == 0 || bad != "" {
			return
		}
		id, ok := cmd.Args[0].(*parse.IdentifierNode)
		if !ok || id.Ident != "secret" {
			return
		}
		if len(cmd.Args) != 2 {
			bad = `secret takes one credential name: {{ secret "crm_token" }}`
			return
		}
		s, ok := cmd.Args[1].(*parse.StringNode)
		if !ok || !CredentialName.MatchString(s.Text) {
			bad = `secret takes a credential name as a quoted string of lower-case letters, digits and _ (such as "crm_token")`
			return
		}
		names = append(names, s.Text)
	})
	return names, bad
}
