package workflows

import (
	"errors"

	"go.temporal.io/sdk/workflow"
)

// The flow-control entity workflows (CountWorkflow, DebounceWorkflow,
// ConcurrencyWorkflow, ThrottleWorkflow). WORK IN PROGRESS: being written.

var errFlowNotBuilt = errors.New("flow control is not built yet")

// CountWorkflow counts the events of one automation and key.
func CountWorkflow(ctx workflow.Context, in FlowInput) error { return errFlowNotBuilt }

// DebounceWorkflow starts one run once a key has been quiet.
func DebounceWorkflow(ctx workflow.Context, in FlowInput) error { return errFlowNotBuilt }

// ConcurrencyWorkflow runs at most Limit runs of a key at once.
func ConcurrencyWorkflow(ctx workflow.Context, in FlowInput) error { return errFlowNotBuilt }

// ThrottleWorkflow starts at most Limit runs of a key per Period.
func ThrottleWorkflow(ctx workflow.Context, in FlowInput) error { return errFlowNotBuilt }
