package workflows

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"

	"github.com/hookflow/hookflow/models"
)

// SignalWait tells the run running as workflowID that an event took one of its
// waits. A workflow that is not running (it ended) is models.ErrNotFound.
func (s *Starter) SignalWait(ctx context.Context, workflowID string, sig WaitSignal) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	return notRunning(workflowID, s.client.SignalWorkflow(ctx, workflowID, "", SignalWaitMatched, sig))
}

// CancelRun asks Temporal to cancel the run running as workflowID: the workflow
// records itself cancelled (FinishRun) wherever it is. A workflow that is not
// running is models.ErrNotFound.
func (s *Starter) CancelRun(ctx context.Context, workflowID string) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	return notRunning(workflowID, s.client.CancelWorkflow(ctx, workflowID, ""))
}

// notRunning maps Temporal's "no such running workflow" to models.ErrNotFound
// and every other failure to models.ErrUnavailable.
func notRunning(workflowID string, err error) error {
	if err == nil {
		return nil
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("workflow %s: %w", workflowID, models.ErrNotFound)
	}
	return fmt.Errorf("workflow %s: %w: %w", workflowID, models.ErrUnavailable, err)
}
