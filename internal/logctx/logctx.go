// Package logctx puts request and workflow identifiers on every log line that has
// them: attributes stashed in a context (request id, workspace, event id) and, inside
// a Temporal activity, the workflow id, run id and activity type. Loggers built with
// Handler add them to each record logged with a *Context method.
package logctx

import (
	"context"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/activity"

	"github.com/hookflow/hookflow/internal/redact"
)

type key struct{}

// With returns ctx carrying attrs (added to those it carries already).
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(key{}).([]slog.Attr)
	all := make([]slog.Attr, 0, len(prev)+len(attrs))
	all = append(append(all, prev...), attrs...)
	return context.WithValue(ctx, key{}, all)
}

// Handler wraps another slog.Handler and adds the context's identifiers.
type Handler struct{ slog.Handler }

// Handle implements slog.Handler. Every message and attribute is redacted
// (package redact): a URL's query, userinfo and webhook path never reach a
// log line.
func (h Handler) Handle(ctx context.Context, r slog.Record) error {
	r = redacted(r)
	if ctx != nil {
		if attrs, ok := ctx.Value(key{}).([]slog.Attr); ok {
			r.AddAttrs(attrs...)
		}
		if activity.IsActivity(ctx) {
			info := activity.GetInfo(ctx)
			r.AddAttrs(
				slog.String("workflow_id", info.WorkflowExecution.ID),
				slog.String("run_id", info.WorkflowExecution.RunID),
				slog.String("activity", info.ActivityType.Name),
			)
		}
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = redactAttr(a)
	}
	return Handler{h.Handler.WithAttrs(out)}
}

// redacted is r with its message and attributes redacted.
func redacted(r slog.Record) slog.Record {
	nr := slog.NewRecord(r.Time, r.Level, redact.Text(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(redactAttr(a))
		return true
	})
	return nr
}

// redactAttr redacts a string, an error or a group's members.
func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, redact.Text(v.String()))
	case slog.KindGroup:
		members := v.Group()
		out := make([]any, len(members))
		for i, m := range members {
			out[i] = redactAttr(m)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok && err != nil {
			return slog.String(a.Key, redact.Text(err.Error()))
		}
		if st, ok := v.Any().(fmt.Stringer); ok {
			return slog.String(a.Key, redact.Text(st.String()))
		}
	}
	return a
}

// WithGroup implements slog.Handler.
func (h Handler) WithGroup(name string) slog.Handler { return Handler{h.Handler.WithGroup(name)} }
