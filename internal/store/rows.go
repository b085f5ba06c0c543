package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookflow/hookflow/models"
)

// Row types mirror the tables; they stay private so the rest of hookflow sees only
// models types.

type workspaceRow struct {
	ID        string `gorm:"primaryKey"`
	Name      string
	CreatedAt time.Time
}

func (workspaceRow) TableName() string { return "workspaces" }

type apiKeyRow struct {
	ID          string `gorm:"primaryKey"`
	WorkspaceID string
	Name        string
	Prefix      string
	Hash        string
	CreatedAt   time.Time
	RevokedAt   *time.Time
}

func (apiKeyRow) TableName() string { return "api_keys" }

type endpointRow struct {
	ID                 string `gorm:"primaryKey"`
	WorkspaceID        string
	URL                string `gorm:"column:url"`
	Description        string
	EventTypes         string
	Filter             string
	Enabled            bool
	DisabledReason     string
	Secrets            string
	FailingSince       *time.Time
	RateLimitPerSecond int
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

func (endpointRow) TableName() string { return "endpoints" }

type eventRow struct {
	ID             string `gorm:"primaryKey"`
	WorkspaceID    string
	Type           string
	ExternalID     string
	IdempotencyKey string
	DedupKey       string
	SourceID       string
	Data           string
	Headers        string
	Depth          int
	RootEventID    string
	BatchID        string
	CreatedAt      time.Time
}

func (eventRow) TableName() string { return "events" }

type deliveryRow struct {
	ID            string `gorm:"primaryKey"`
	WorkspaceID   string
	EventID       string
	EventType     string
	EndpointID    string
	MessageID     string
	Status        string
	AttemptCount  int
	LastError     string
	LastAttemptAt *time.Time
	NextAttemptAt *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func (deliveryRow) TableName() string { return "deliveries" }

type attemptRow struct {
	ID              string `gorm:"primaryKey"`
	DeliveryID      string
	Number          int
	At              time.Time
	DurationMS      int64 `gorm:"column:duration_ms"`
	StatusCode      int
	ResponseExcerpt string
	Error           string
	Outcome         string
}

func (attemptRow) TableName() string { return "attempts" }

// ts normalises a time for storage: UTC, microseconds (Postgres' precision), so what
// comes back equals what went in.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func tsp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

func utc(t time.Time) time.Time { return t.UTC() }

func utcp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

func toWorkspace(r workspaceRow) models.Workspace {
	return models.Workspace{ID: r.ID, Name: r.Name, CreatedAt: utc(r.CreatedAt)}
}

func toAPIKey(r apiKeyRow) models.APIKey {
	return models.APIKey{ID: r.ID, WorkspaceID: r.WorkspaceID, Name: r.Name, Prefix: r.Prefix, Hash: r.Hash,
		CreatedAt: utc(r.CreatedAt), RevokedAt: utcp(r.RevokedAt)}
}

func (s *Store) fromEndpoint(e *models.Endpoint) (endpointRow, error) {
	types, err := json.Marshal(e.EventTypes)
	if err != nil {
		return endpointRow{}, err
	}
	secrets := e.Secrets
	if secrets == nil {
		secrets = []models.Secret{}
	}
	sec, err := json.Marshal(secrets)
	if err != nil {
		return endpointRow{}, err
	}
	sealed, err := s.seal(sec, "endpoints.secrets", e.ID)
	if err != nil {
		return endpointRow{}, err
	}
	return endpointRow{
		ID: e.ID, WorkspaceID: e.WorkspaceID, URL: e.URL, Description: e.Description, EventTypes: string(types),
		Filter: e.Filter, Enabled: e.Enabled, DisabledReason: e.DisabledReason, Secrets: sealed,
		FailingSince: tsp(e.FailingSince), RateLimitPerSecond: e.RateLimitPerSecond, CreatedAt: ts(e.CreatedAt), UpdatedAt: ts(e.UpdatedAt),
	}, nil
}

func (s *Store) toEndpoint(r endpointRow) (models.Endpoint, error) {
	e := models.Endpoint{
		ID: r.ID, WorkspaceID: r.WorkspaceID, URL: r.URL, Description: r.Description, Filter: r.Filter,
		Enabled: r.Enabled, DisabledReason: r.DisabledReason, FailingSince: utcp(r.FailingSince), RateLimitPerSecond: r.RateLimitPerSecond,
		CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt),
	}
	if err := json.Unmarshal([]byte(r.EventTypes), &e.EventTypes); err != nil {
		return e, fmt.Errorf("endpoint %s event_types: %w", r.ID, err)
	}
	sec, err := s.open(r.Secrets, "endpoints.secrets", r.ID)
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(sec, &e.Secrets); err != nil {
		return e, fmt.Errorf("endpoint %s secrets: %w", r.ID, err)
	}
	for i := range e.Secrets {
		e.Secrets[i].CreatedAt = e.Secrets[i].CreatedAt.UTC()
		e.Secrets[i].ExpiresAt = utcp(e.Secrets[i].ExpiresAt)
	}
	return e, nil
}

func fromEvent(e *models.Event) (eventRow, error) {
	headers := "{}"
	if len(e.Headers) > 0 {
		b, err := json.Marshal(e.Headers)
		if err != nil {
			return eventRow{}, err
		}
		headers = string(b)
	}
	data := string(e.Data)
	if data == "" {
		data = "{}"
	}
	return eventRow{
		ID: e.ID, WorkspaceID: e.WorkspaceID, Type: e.Type, ExternalID: e.ExternalID, IdempotencyKey: e.IdempotencyKey,
		DedupKey: e.DedupKey, SourceID: e.SourceID, Data: data, Headers: headers, Depth: e.Depth, RootEventID: e.RootID, BatchID: e.BatchID, CreatedAt: ts(e.CreatedAt),
	}, nil
}

func toEvent(r eventRow) (models.Event, error) {
	e := models.Event{
		ID: r.ID, WorkspaceID: r.WorkspaceID, Type: r.Type, ExternalID: r.ExternalID, IdempotencyKey: r.IdempotencyKey,
		DedupKey: r.DedupKey, SourceID: r.SourceID, Data: json.RawMessage(r.Data), Depth: r.Depth, RootID: r.RootEventID, BatchID: r.BatchID, CreatedAt: utc(r.CreatedAt),
	}
	if r.Headers != "" && r.Headers != "{}" {
		if err := json.Unmarshal([]byte(r.Headers), &e.Headers); err != nil {
			return e, fmt.Errorf("event %s headers: %w", r.ID, err)
		}
	}
	return e, nil
}

func fromDelivery(d *models.Delivery) deliveryRow {
	return deliveryRow{
		ID: d.ID, WorkspaceID: d.WorkspaceID, EventID: d.EventID, EventType: d.EventType, EndpointID: d.EndpointID,
		MessageID: d.MessageID, Status: string(d.Status), AttemptCount: d.AttemptCount, LastError: d.LastError,
		LastAttemptAt: tsp(d.LastAttemptAt), NextAttemptAt: tsp(d.NextAttemptAt), CreatedAt: ts(d.CreatedAt), UpdatedAt: ts(d.UpdatedAt),
	}
}

func toDelivery(r deliveryRow) models.Delivery {
	return models.Delivery{
		ID: r.ID, WorkspaceID: r.WorkspaceID, EventID: r.EventID, EventType: r.EventType, EndpointID: r.EndpointID,
		MessageID: r.MessageID, Status: models.DeliveryStatus(r.Status), AttemptCount: r.AttemptCount, LastError: r.LastError,
		LastAttemptAt: utcp(r.LastAttemptAt), NextAttemptAt: utcp(r.NextAttemptAt), CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt),
	}
}

func toAttempt(r attemptRow) models.Attempt {
	return models.Attempt{
		ID: r.ID, DeliveryID: r.DeliveryID, Number: r.Number, At: utc(r.At), DurationMS: r.DurationMS,
		StatusCode: r.StatusCode, ResponseExcerpt: r.ResponseExcerpt, Error: r.Error, Outcome: models.AttemptOutcome(r.Outcome),
	}
}
