package workflows

import (
	"encoding/json"
	"time"

	"github.com/hookflow/hookflow/models"
)

// Event is an accepted event as EventWorkflowInput carries it. It is the workflows'
// own type, not models.Event, because its JSON is a Temporal payload: saved
// histories and runs in flight hold it, so it must decode the same way after the
// API's type changes. Its fields and tags are those models.Event had when the
// histories in testdata were recorded (TestEventPayloadMatchesHistories holds
// them to it); a field is added here deliberately, never renamed.
type Event struct {
	ID             string            `json:"id"`
	WorkspaceID    string            `json:"workspace_id"`
	Type           string            `json:"type"`
	ExternalID     string            `json:"external_id,omitempty"`
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
	SourceID       string            `json:"source_id,omitempty"`
	Data           json.RawMessage   `json:"data"`
	Headers        map[string]string `json:"headers,omitempty"`
	Depth          int               `json:"depth"`
	RootID         string            `json:"root_id,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
}

// EventFrom is ev as a workflow payload. The dedup key is not part of it: it
// travels beside it in EventWorkflowInput.DedupKey.
func EventFrom(ev models.Event) Event {
	return Event{
		ID: ev.ID, WorkspaceID: ev.WorkspaceID, Type: ev.Type,
		ExternalID: ev.ExternalID, IdempotencyKey: ev.IdempotencyKey, SourceID: ev.SourceID,
		Data: ev.Data, Headers: ev.Headers, Depth: ev.Depth, RootID: ev.RootID, CreatedAt: ev.CreatedAt,
	}
}

// model is e as the activities take it, with its dedup key.
func (e Event) model(dedupKey string) models.Event {
	return models.Event{
		ID: e.ID, WorkspaceID: e.WorkspaceID, Type: e.Type,
		ExternalID: e.ExternalID, IdempotencyKey: e.IdempotencyKey, DedupKey: dedupKey, SourceID: e.SourceID,
		Data: e.Data, Headers: e.Headers, Depth: e.Depth, RootID: e.RootID, CreatedAt: e.CreatedAt,
	}
}
