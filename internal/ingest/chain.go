package ingest

import (
	"fmt"

	"github.com/hookflow/hookflow/models"
)

// Parent is the event a new event descends from: an emitting step's event, or the
// chain header of hookflow's own delivery ringing back in on /hooks.
type Parent struct {
	EventID string
	Depth   int
	// RootID is the chain's first event; empty when the parent is that event.
	RootID string
}

// Child returns the depth and root of an event caused by p. Past
// models.MaxChainDepth it returns a *DepthError, so an automation or endpoint that
// triggers itself stops instead of looping for ever.
func Child(p Parent) (depth int, rootID string, err error) {
	depth, rootID = p.Depth+1, p.RootID
	if rootID == "" {
		rootID = p.EventID
	}
	if depth > models.MaxChainDepth {
		return 0, "", &DepthError{Depth: depth, Limit: models.MaxChainDepth}
	}
	return depth, rootID, nil
}

// DepthError refuses an event deeper than a chain may go. Each door words the
// answer for its own users.
type DepthError struct {
	// Depth is the depth the event would have had.
	Depth int
	Limit int
}

func (e *DepthError) Error() string {
	return fmt.Sprintf("chain depth %d is over the limit of %d", e.Depth, e.Limit)
}

// BudgetError refuses an event when its root event has caused as many events as
// one chain may (HOOKFLOW_MAX_CHAIN_EVENTS).
type BudgetError struct {
	RootID string
	Limit  int
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("event %s has caused %d events, the limit of one chain", e.RootID, e.Limit)
}
