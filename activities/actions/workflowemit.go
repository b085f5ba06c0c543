package actions

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/sdk/hookflow"
)

// WorkflowEmitter is the hookflow.EmitEvent activity hookflow's workers run
// for developers' workflows (sdk/hookflow.EmitEvent): an event emitted after
// the event that started the workflow, in its workspace, continuing its
// chain. The parent event is read from the store, so its workspace, depth
// and root are hookflow's, not the caller's word; a worker in the namespace
// must name a real event of the workspace to emit into it.
type WorkflowEmitter struct {
	Emitter *Emitter
	Events  interface {
		GetEvent(ctx context.Context, workspaceID, id string) (*models.Event, error)
	}
}

// errEmitRefused is the error type of an emit retrying cannot fix.
const errEmitRefused = "EmitRefused"

// EmitEvent emits in.Type with in.Data, deduplicated by in.Key.
func (w WorkflowEmitter) EmitEvent(ctx context.Context, in hookflow.EmitEventInput) (hookflow.EmitEventResult, error) {
	refuse := func(format string, args ...any) error {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), errEmitRefused, nil)
	}
	if in.Key == "" {
		return hookflow.EmitEventResult{}, refuse("emit: key is required (hookflow.EmitEvent derives it from the workflow and a name)")
	}
	parent, err := w.Events.GetEvent(ctx, in.WorkspaceID, in.ParentID)
	if errors.Is(err, models.ErrNotFound) {
		return hookflow.EmitEventResult{}, refuse("emit: event %s is not an event of workspace %s", in.ParentID, in.WorkspaceID)
	}
	if err != nil {
		return hookflow.EmitEventResult{}, err
	}
	sc := StepContext{WorkspaceID: parent.WorkspaceID, EventID: parent.ID, Depth: parent.Depth, RootID: parent.Root(),
		Key: "workflow:" + in.Key}
	data := in.Data
	if data == nil {
		data = map[string]any{}
	}
	id, err := w.Emitter.Emit(ctx, sc, "", in.Type, data)
	if IsFinal(err) {
		return hookflow.EmitEventResult{}, refuse("emit %s: %v", in.Type, err)
	}
	if err != nil {
		return hookflow.EmitEventResult{}, err
	}
	return hookflow.EmitEventResult{EventID: id}, nil
}
