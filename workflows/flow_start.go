package workflows

import (
	"context"
	"errors"
)

// SignalFlow hands an event to a flow-control entity. PLACEHOLDER until the
// entity workflows land (branch flow).
func (s *Starter) SignalFlow(ctx context.Context, kind string, in FlowInput, sig FlowSignal) error {
	return errors.New("flow control is not built yet")
}
