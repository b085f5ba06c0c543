package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/models"
)

// keyset reads one page of q ordered by id (ascending, or newest first), fetching
// one row more than the page to know whether another page follows; the cursor is
// the last id returned.
func keyset[R any](q *gorm.DB, page models.Page, newestFirst bool, id func(R) string) ([]R, string, error) {
	page = page.Normalize()
	order := "id"
	if page.Cursor != "" {
		if newestFirst {
			q = q.Where("id < ?", page.Cursor)
		} else {
			q = q.Where("id > ?", page.Cursor)
		}
	}
	if newestFirst {
		order = "id DESC"
	}
	var rows []R
	if err := q.Order(order).Limit(page.Limit + 1).Find(&rows).Error; err != nil {
		return nil, "", err
	}
	next := ""
	if len(rows) > page.Limit {
		rows = rows[:page.Limit]
		next = id(rows[len(rows)-1])
	}
	return rows, next, nil
}

// CreateWorkspace inserts w.
func (s *Store) CreateWorkspace(ctx context.Context, w *models.Workspace) error {
	r := workspaceRow{ID: w.ID, Name: w.Name, CreatedAt: ts(w.CreatedAt)}
	return translate(s.db.WithContext(ctx).Create(&r).Error, "create workspace")
}

// GetWorkspace returns the workspace with id.
func (s *Store) GetWorkspace(ctx context.Context, id string) (*models.Workspace, error) {
	var r workspaceRow
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, translate(err, "workspace "+id)
	}
	w := toWorkspace(r)
	return &w, nil
}

// CreateAPIKey inserts k.
func (s *Store) CreateAPIKey(ctx context.Context, k *models.APIKey) error {
	r := apiKeyRow{ID: k.ID, WorkspaceID: k.WorkspaceID, Name: k.Name, Prefix: k.Prefix, Hash: k.Hash, CreatedAt: ts(k.CreatedAt)}
	return translate(s.db.WithContext(ctx).Create(&r).Error, "create api key")
}

// EnsureAPIKey inserts k unless a key with the same hash exists (HOOKFLOW_API_KEY at
// every start-up). A revoked key stays revoked.
func (s *Store) EnsureAPIKey(ctx context.Context, k *models.APIKey) error {
	r := apiKeyRow{ID: k.ID, WorkspaceID: k.WorkspaceID, Name: k.Name, Prefix: k.Prefix, Hash: k.Hash, CreatedAt: ts(k.CreatedAt)}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&r).Error
	return translate(err, "ensure api key")
}

// APIKeyByHash returns the non-revoked key with hash.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*models.APIKey, error) {
	var r apiKeyRow
	if err := s.db.WithContext(ctx).Where("hash = ? AND revoked_at IS NULL", hash).Take(&r).Error; err != nil {
		return nil, translate(err, "api key")
	}
	k := toAPIKey(r)
	return &k, nil
}

// ListAPIKeys lists a workspace's keys, revoked ones included, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context, workspaceID string) ([]models.APIKey, error) {
	var rows []apiKeyRow
	if err := s.db.WithContext(ctx).Where("workspace_id = ?", workspaceID).Order("id").Find(&rows).Error; err != nil {
		return nil, translate(err, "list api keys")
	}
	out := make([]models.APIKey, 0, len(rows))
	for _, r := range rows {
		out = append(out, toAPIKey(r))
	}
	return out, nil
}

// RevokeAPIKey marks a key revoked; it stops authenticating at once.
func (s *Store) RevokeAPIKey(ctx context.Context, workspaceID, id string, at time.Time) error {
	res := s.db.WithContext(ctx).Model(&apiKeyRow{}).
		Where("workspace_id = ? AND id = ? AND revoked_at IS NULL", workspaceID, id).
		Update("revoked_at", ts(at))
	if res.Error != nil {
		return translate(res.Error, "revoke api key")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("api key %s: %w", id, models.ErrNotFound)
	}
	return nil
}

// CreateEndpoint inserts e.
func (s *Store) CreateEndpoint(ctx context.Context, e *models.Endpoint) error {
	r, err := s.fromEndpoint(e)
	if err != nil {
		return err
	}
	return translate(s.db.WithContext(ctx).Create(&r).Error, "create endpoint")
}

// GetEndpoint returns the workspace's endpoint id.
func (s *Store) GetEndpoint(ctx context.Context, workspaceID, id string) (*models.Endpoint, error) {
	return getScoped(ctx, s, "endpoint", workspaceID, id, s.toEndpoint)
}

// ListEndpoints pages through a workspace's endpoints by id, oldest first.
func (s *Store) ListEndpoints(ctx context.Context, workspaceID string, page models.Page) ([]models.Endpoint, string, error) {
	return listScoped(ctx, s, "endpoints", workspaceID, page, false, func(r endpointRow) string { return r.ID }, s.toEndpoint)
}

// UpdateEndpoint writes e's mutable fields.
func (s *Store) UpdateEndpoint(ctx context.Context, e *models.Endpoint) error {
	r, err := s.fromEndpoint(e)
	if err != nil {
		return err
	}
	err = updateScoped(s.db.WithContext(ctx), &endpointRow{}, &r, e.WorkspaceID, e.ID,
		"url", "description", "event_types", "filter", "enabled", "disabled_reason", "secrets", "failing_since", "rate_limit_per_second", "updated_at")
	return translate(err, "endpoint "+e.ID)
}

// DeleteEndpoint removes an endpoint; its past deliveries stay for the record.
func (s *Store) DeleteEndpoint(ctx context.Context, workspaceID, id string) error {
	return deleteScoped(ctx, s, &endpointRow{}, "endpoint", workspaceID, id)
}

// EndpointsForEvent returns the workspace's enabled endpoints subscribed to eventType,
// whole (secrets included: their deliveries need them, see the first-attempt handoff).
// Subscriptions are matched in Go: a workspace has tens of endpoints, not millions,
// and it keeps the SQL the same on both databases.
func (s *Store) EndpointsForEvent(ctx context.Context, workspaceID, eventType string) ([]models.Endpoint, error) {
	var rows []endpointRow
	if err := s.db.WithContext(ctx).Where("workspace_id = ? AND enabled = ?", workspaceID, true).Order("id").Find(&rows).Error; err != nil {
		return nil, translate(err, "match endpoints")
	}
	var out []models.Endpoint
	for _, r := range rows {
		var types []string
		if err := json.Unmarshal([]byte(r.EventTypes), &types); err != nil {
			return nil, fmt.Errorf("endpoint %s event_types: %w", r.ID, err)
		}
		if !(&models.Endpoint{EventTypes: types}).Subscribes(eventType) {
			continue
		}
		// Only the endpoints subscribed to the type are opened whole, secrets and all:
		// their deliveries need them, and the first attempts get them from here
		// rather than loading each endpoint again. Decrypting every endpoint of the
		// workspace for every event was 16 % of the worker's CPU with 51 endpoints.
		e, err := s.toEndpoint(r)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// DisableEndpoint turns an endpoint off with a reason.
func (s *Store) DisableEndpoint(ctx context.Context, workspaceID, id, reason string, at time.Time) error {
	res := s.db.WithContext(ctx).Model(&endpointRow{}).Where("workspace_id = ? AND id = ?", workspaceID, id).
		Updates(map[string]any{"enabled": false, "disabled_reason": reason, "updated_at": ts(at)})
	if res.Error != nil {
		return translate(res.Error, "disable endpoint")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("endpoint %s: %w", id, models.ErrNotFound)
	}
	return nil
}

// SetEndpointHealth records a success (clears failing_since) or a failure (sets it,
// if not already set) and returns failing_since afterwards.
func (s *Store) SetEndpointHealth(ctx context.Context, workspaceID, id string, ok bool, at time.Time) (*time.Time, error) {
	q := s.db.WithContext(ctx).Model(&endpointRow{}).Where("workspace_id = ? AND id = ?", workspaceID, id)
	var err error
	if ok {
		// A success clears the clock; nobody needs the value after that, so it is not
		// read back (this runs on every delivered message).
		if err := q.Where("failing_since IS NOT NULL").Update("failing_since", nil).Error; err != nil {
			return nil, translate(err, "endpoint health")
		}
		return nil, nil
	} else {
		err = q.Where("failing_since IS NULL").Update("failing_since", ts(at)).Error
	}
	if err != nil {
		return nil, translate(err, "endpoint health")
	}
	var r endpointRow
	if err := s.db.WithContext(ctx).Select("failing_since").Where("workspace_id = ? AND id = ?", workspaceID, id).Take(&r).Error; err != nil {
		return nil, translate(err, "endpoint "+id)
	}
	return utcp(r.FailingSince), nil
}

// InsertEvent stores e unless the workspace already has an event with its dedup key
// (or its id). It returns the stored event and whether this call inserted it.
func (s *Store) InsertEvent(ctx context.Context, e *models.Event) (*models.Event, bool, error) {
	if e.DedupKey == "" {
		return nil, false, fmt.Errorf("insert event %s: empty dedup key", e.ID)
	}
	r, err := fromEvent(e)
	if err != nil {
		return nil, false, err
	}
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&r)
	if res.Error != nil {
		return nil, false, translate(res.Error, "insert event")
	}
	if res.RowsAffected == 1 {
		// Inserted: what is stored is e (times as the database keeps them).
		stored := *e
		stored.CreatedAt = utc(r.CreatedAt)
		return &stored, true, nil
	}
	stored, err := s.EventByDedupKey(ctx, e.WorkspaceID, e.DedupKey)
	if err != nil {
		return nil, false, err
	}
	return stored, false, nil
}

// GetEvent returns the workspace's event id.
func (s *Store) GetEvent(ctx context.Context, workspaceID, id string) (*models.Event, error) {
	return getScoped(ctx, s, "event", workspaceID, id, toEvent)
}

// EventByDedupKey returns the workspace's event with dedupKey.
func (s *Store) EventByDedupKey(ctx context.Context, workspaceID, dedupKey string) (*models.Event, error) {
	var r eventRow
	if err := s.db.WithContext(ctx).Where("workspace_id = ? AND dedup_key = ?", workspaceID, dedupKey).Take(&r).Error; err != nil {
		return nil, translate(err, "event by key")
	}
	e, err := toEvent(r)
	return &e, err
}

// ListEvents pages through a workspace's events, newest first.
func (s *Store) ListEvents(ctx context.Context, workspaceID string, page models.Page) ([]models.Event, string, error) {
	return listScoped(ctx, s, "events", workspaceID, page, true, func(r eventRow) string { return r.ID }, toEvent)
}

// EnsureDeliveries inserts the deliveries that do not exist yet for their (event,
// endpoint) pair and returns all of them as stored, in input order. They may be
// of several events (a batch's). Re-running it
// (a retried local activity) keeps the original ids.
func (s *Store) EnsureDeliveries(ctx context.Context, ds []models.Delivery) ([]models.Delivery, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	rows := make([]deliveryRow, len(ds))
	endpointIDs := make([]string, len(ds))
	for i := range ds {
		rows[i] = fromDelivery(&ds[i])
		endpointIDs[i] = ds[i].EndpointID
	}
	db := s.db.WithContext(ctx)
	res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows)
	if res.Error != nil {
		return nil, translate(res.Error, "insert deliveries")
	}
	if res.RowsAffected == int64(len(rows)) {
		// All new (the common case): what is stored is what was planned.
		out := make([]models.Delivery, len(rows))
		for i := range rows {
			out[i] = toDelivery(rows[i])
		}
		return out, nil
	}
	// A retried activity: some or all exist already; the originals win.
	eventIDs := make([]string, 0, 1)
	seen := map[string]bool{}
	for _, d := range ds {
		if !seen[d.EventID] {
			seen[d.EventID] = true
			eventIDs = append(eventIDs, d.EventID)
		}
	}
	var stored []deliveryRow
	if err := db.Where("event_id IN ? AND endpoint_id IN ?", eventIDs, endpointIDs).Find(&stored).Error; err != nil {
		return nil, translate(err, "read deliveries")
	}
	type pair struct{ event, endpoint string }
	byPair := make(map[pair]deliveryRow, len(stored))
	for _, r := range stored {
		byPair[pair{r.EventID, r.EndpointID}] = r
	}
	out := make([]models.Delivery, 0, len(ds))
	for _, d := range ds {
		r, ok := byPair[pair{d.EventID, d.EndpointID}]
		if !ok {
			return nil, fmt.Errorf("delivery of %s to %s vanished after insert", d.EventID, d.EndpointID)
		}
		out = append(out, toDelivery(r))
	}
	return out, nil
}

// GetDelivery returns the workspace's delivery with its attempts.
func (s *Store) GetDelivery(ctx context.Context, workspaceID, id string) (*models.Delivery, error) {
	var r deliveryRow
	if err := s.db.WithContext(ctx).Where("workspace_id = ? AND id = ?", workspaceID, id).Take(&r).Error; err != nil {
		return nil, translate(err, "delivery "+id)
	}
	d := toDelivery(r)
	var atts []attemptRow
	if err := s.db.WithContext(ctx).Where("delivery_id = ?", id).Order("number").Find(&atts).Error; err != nil {
		return nil, translate(err, "attempts of "+id)
	}
	d.Attempts = make([]models.Attempt, 0, len(atts))
	for _, a := range atts {
		d.Attempts = append(d.Attempts, toAttempt(a))
	}
	return &d, nil
}

// GetDeliveryAnyWorkspace returns a delivery by id alone, whichever workspace it
// belongs to, without its attempts. Only workers call it: they act on ids from
// workflow inputs, which carry no workspace (hookflow started the workflow for
// that delivery, so the id is trusted). Anything a tenant names goes through
// GetDelivery, scoped to the caller's workspace.
func (s *Store) GetDeliveryAnyWorkspace(ctx context.Context, id string) (*models.Delivery, error) {
	var r deliveryRow
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, translate(err, "delivery "+id)
	}
	d := toDelivery(r)
	return &d, nil
}

// ListDeliveries pages through a workspace's deliveries, newest first.
func (s *Store) ListDeliveries(ctx context.Context, workspaceID string, f models.DeliveryFilter, page models.Page) ([]models.Delivery, string, error) {
	q := s.db.WithContext(ctx).Where("workspace_id = ?", workspaceID)
	if f.EndpointID != "" {
		q = q.Where("endpoint_id = ?", f.EndpointID)
	}
	if f.EventID != "" {
		q = q.Where("event_id = ?", f.EventID)
	}
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.Since != nil {
		q = q.Where("created_at >= ?", ts(*f.Since))
	}
	rows, next, err := keyset(q, page, true, func(r deliveryRow) string { return r.ID })
	if err != nil {
		return nil, "", translate(err, "list deliveries")
	}
	out := make([]models.Delivery, 0, len(rows))
	for _, r := range rows {
		out = append(out, toDelivery(r))
	}
	return out, next, nil
}

// DeliveriesForEvent lists an event's deliveries in creation order.
func (s *Store) DeliveriesForEvent(ctx context.Context, workspaceID, eventID string) ([]models.Delivery, error) {
	var rows []deliveryRow
	if err := s.db.WithContext(ctx).Where("workspace_id = ? AND event_id = ?", workspaceID, eventID).Order("id").Find(&rows).Error; err != nil {
		return nil, translate(err, "deliveries of "+eventID)
	}
	out := make([]models.Delivery, 0, len(rows))
	for _, r := range rows {
		out = append(out, toDelivery(r))
	}
	return out, nil
}

// RecordAttempt stores one attempt (numbered after the last one) and the delivery's
// new state in one transaction, so the two never disagree.
func (s *Store) RecordAttempt(ctx context.Context, deliveryID string, a *models.Attempt, status models.DeliveryStatus, next *time.Time) error {
	if a.ID == "" {
		a.ID = ids.New(ids.Attempt)
	}
	lastErr := a.Error
	if lastErr == "" && a.StatusCode != 0 && status != models.DeliverySucceeded {
		lastErr = fmt.Sprintf("HTTP %d", a.StatusCode)
	}
	if s.dialect == Postgres {
		// One statement, one round trip: it runs on every attempt. The delivery's
		// attempt_count is the number of its last attempt (the SQLite path below
		// keeps them equal too), so the new attempt takes attempt_count + 1, and
		// the row lock the UPDATE takes orders concurrent recorders of a delivery.
		var n []int
		err := s.db.WithContext(ctx).Raw(`
WITH d AS (
  UPDATE deliveries
     SET attempt_count = attempt_count + 1, status = ?, last_error = ?, last_attempt_at = ?,
         next_attempt_at = ?, updated_at = ?
   WHERE id = ?
  RETURNING id, attempt_count)
INSERT INTO attempts (id, delivery_id, number, at, duration_ms, status_code, response_excerpt, error, outcome)
SELECT ?, d.id, d.attempt_count, ?, ?, ?, ?, ?, ? FROM d
RETURNING number`,
			string(status), lastErr, ts(a.At), tsp(next), ts(time.Now()), deliveryID,
			a.ID, ts(a.At), a.DurationMS, a.StatusCode, a.ResponseExcerpt, a.Error, string(a.Outcome)).Scan(&n).Error
		if err != nil {
			return translate(err, "record attempt")
		}
		if len(n) == 0 {
			return fmt.Errorf("delivery %s: %w", deliveryID, models.ErrNotFound)
		}
		a.Number = n[0]
		return nil
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n int
		if err := tx.Model(&attemptRow{}).Select("COALESCE(MAX(number), 0)").Where("delivery_id = ?", deliveryID).Scan(&n).Error; err != nil {
			return err
		}
		a.Number = n + 1
		res := tx.Model(&deliveryRow{}).Where("id = ?", deliveryID).Updates(map[string]any{
			"status":          string(status),
			"attempt_count":   a.Number,
			"last_error":      lastErr,
			"last_attempt_at": ts(a.At),
			"next_attempt_at": tsp(next),
			"updated_at":      ts(time.Now()),
		})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		row := attemptRow{ID: a.ID, DeliveryID: deliveryID, Number: a.Number, At: ts(a.At), DurationMS: a.DurationMS,
			StatusCode: a.StatusCode, ResponseExcerpt: a.ResponseExcerpt, Error: a.Error, Outcome: string(a.Outcome)}
		return tx.Create(&row).Error
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("delivery %s: %w", deliveryID, models.ErrNotFound)
	}
	return translate(err, "record attempt")
}

// SetDeliveryStatus sets a delivery's status and last error and clears its next
// attempt time.
func (s *Store) SetDeliveryStatus(ctx context.Context, deliveryID string, status models.DeliveryStatus, lastError string) error {
	res := s.db.WithContext(ctx).Model(&deliveryRow{}).Where("id = ?", deliveryID).Updates(map[string]any{
		"status": string(status), "last_error": lastError, "next_attempt_at": nil, "updated_at": ts(time.Now()),
	})
	if res.Error != nil {
		return translate(res.Error, "set delivery status")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delivery %s: %w", deliveryID, models.ErrNotFound)
	}
	return nil
}

// ReserveSendSlot paces deliveries to a rate-limited endpoint across every worker.
// The endpoint's next free slot is at or after now; if it is at most maxWait away it
// is taken (the next one moves on by interval) and reserved is true: the caller
// waits until now+wait, then sends. Otherwise nothing is taken and wait says how
// far off the free slot is, for the caller to come back later.
func (s *Store) ReserveSendSlot(ctx context.Context, endpointID string, interval, maxWait time.Duration, now time.Time) (wait time.Duration, reserved bool, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Write first: it takes the row lock on Postgres and the write lock on SQLite,
		// so concurrent reservations take turns instead of sharing a slot.
		res := tx.Exec(`UPDATE endpoints SET next_send_at = next_send_at WHERE id = ?`, endpointID)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		var next struct{ NextSendAt *time.Time }
		if err := tx.Model(&endpointRow{}).Select("next_send_at").Where("id = ?", endpointID).Take(&next).Error; err != nil {
			return err
		}
		slot := now
		if next.NextSendAt != nil && next.NextSendAt.After(now) {
			slot = next.NextSendAt.UTC()
		}
		wait = slot.Sub(now)
		if wait > maxWait {
			return nil
		}
		reserved = true
		return tx.Model(&endpointRow{}).Where("id = ?", endpointID).Update("next_send_at", ts(slot.Add(interval))).Error
	})
	if err != nil {
		return 0, false, translate(err, "reserve send slot of "+endpointID)
	}
	return wait, reserved, nil
}

// ReserveChainEvent takes one event from the budget of the chain that rootID
// started, unless limit are taken already; it reports whether it took one. One
// conditional upsert, so concurrent steps of one chain never overspend it.
func (s *Store) ReserveChainEvent(ctx context.Context, rootID string, limit int, now time.Time) (bool, error) {
	var used []int
	err := s.db.WithContext(ctx).Raw(`INSERT INTO chain_budgets (root_event_id, used, created_at) VALUES (?, 1, ?)
		ON CONFLICT (root_event_id) DO UPDATE SET used = chain_budgets.used + 1 WHERE chain_budgets.used < ?
		RETURNING used`, rootID, ts(now), limit).Scan(&used).Error
	if err != nil {
		return false, translate(err, "reserve chain event of "+rootID)
	}
	return len(used) == 1 && limit > 0, nil
}
