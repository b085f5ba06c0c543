package workflows

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/hookflow/hookflow/models"
)

// SignalFlow hands sig to the flow-control entity of kind (FlowCount…) for
// in's automation and key, starting the entity with in when none is running
// (SignalWithStart). A running entity keeps the settings it started with; a
// closed one may be started again (ALLOW_DUPLICATE), as each burst, window or
// queue of a key is an entity run of its own.
func (s *Starter) SignalFlow(ctx context.Context, kind string, in FlowInput, sig FlowSignal) error {
	name, err := flowWorkflowName(kind)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	id := FlowWorkflowID(kind, in.AutomationID, in.Key)
	sa := []temporal.SearchAttributeUpdate{SAWorkspace.ValueSet(in.WorkspaceID), SAAutomation.ValueSet(in.AutomationID)}
	if in.Key != "" {
		sa = append(sa, SAKey.ValueSet(in.Key))
	}
	_, err = s.client.SignalWithStartWorkflow(ctx, id, SignalFlowEvent, sig, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             s.taskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(sa...),
		StaticSummary:         flowSummary(kind, in),
	}, name, in)
	if err != nil {
		return fmt.Errorf("signal workflow %s: %w: %w", id, models.ErrUnavailable, err)
	}
	return nil
}

// flowWorkflowName is the entity workflow type of a flow-control kind.
func flowWorkflowName(kind string) (string, error) {
	switch kind {
	case FlowCount:
		return CountWorkflowName, nil
	case FlowDebounce:
		return DebounceWorkflowName, nil
	case FlowConcurrency:
		return ConcurrencyWorkflowName, nil
	case FlowThrottle:
		return ThrottleWorkflowName, nil
	}
	return "", fmt.Errorf("unknown flow control %q", kind)
}

// flowSummary is the one line the Web UI shows for an entity: what it paces.
func flowSummary(kind string, in FlowInput) string {
	var what string
	switch kind {
	case FlowCount:
		what = fmt.Sprintf("count: a run per %d events within %s", in.Threshold, in.Period)
	case FlowDebounce:
		what = fmt.Sprintf("debounce: a run once quiet for %s", in.Period)
	case FlowConcurrency:
		what = fmt.Sprintf("concurrency: at most %d run(s) at once", in.Limit)
	case FlowThrottle:
		what = fmt.Sprintf("throttle: at most %d run(s) per %s", in.Limit, in.Period)
	}
	if in.Key != "" {
		what += fmt.Sprintf(", key %q", in.Key)
	}
	return what + " of automation " + in.AutomationID
}
