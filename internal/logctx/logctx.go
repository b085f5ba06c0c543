// Package logctx puts request and workflow identifiers on every log line that has
// them: attributes stashed in a context (request id, workspace, event id) and, inside
// a Temporal activity, the workflow id, run id and activity type. Loggers built with
// Handler add them to each record logged with a *Context method.
package logctx

import (
	"context"
	"log/slog"

	"go.temporal.io/sdk/activity"
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

// Handle implements slog.Handler.
func (h Handler) Handle(ctx context.Context, r slog.Record) error {
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
	return Handler{h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h Handler) WithGroup(name string) slog.Handler { return Handler{h.Handler.WithGroup(name)} }
