package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/hookflow/hookflow/models"
)

type automationRow struct {
	ID               string `gorm:"primaryKey"`
	WorkspaceID      string
	Name             string
	Enabled          bool
	TriggerEventType string
	TriggerSourceID  string
	TriggerJSON      string `gorm:"column:trigger_json"`
	StepsJSON        string `gorm:"column:steps_json"`
	FlowJSON         string `gorm:"column:flow_json"`
	SigningSecret    string
	Version          int
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

func (automationRow) TableName() string { return "automations" }

type automationVersionRow struct {
	AutomationID string `gorm:"primaryKey"`
	Version      int    `gorm:"primaryKey"`
	Definition   string
	CreatedAt    time.Time
}

func (automationVersionRow) TableName() string { return "automation_versions" }

type runRow struct {
	ID                string `gorm:"primaryKey"`
	WorkspaceID       string
	AutomationID      string
	AutomationVersion int
	EventID           string
	WorkflowID        string
	Status            string
	Error             string
	Reason            string
	WaitingFor        string
	FlowKey           string
	TriggerCount      int
	CreatedAt         time.Time
	UpdatedAt         time.Time
	FinishedAt        *time.Time
}

func (runRow) TableName() string { return "automation_runs" }

type runStepRow struct {
	RunID      string `gorm:"primaryKey"`
	Idx        int    `gorm:"primaryKey"`
	StepID     string
	Action     string
	Status     string
	Output     string
	Error      string
	Attempts   int
	WaitingFor string
	UntilAt    *time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

func (runStepRow) TableName() string { return "run_steps" }

// automationFlow is what of an automation is kept in flow_json: how its runs
// react to later events and are paced.
type automationFlow struct {
	CancelOn    []models.EventMatch  `json:"cancel_on,omitempty"`
	Concurrency *models.Concurrency  `json:"concurrency,omitempty"`
	Throttle    *models.PeriodLimit  `json:"throttle,omitempty"`
	RateLimit   *models.PeriodLimit  `json:"rate_limit,omitempty"`
	Debounce    *models.DebounceSpec `json:"debounce,omitempty"`
}

func (s *Store) fromAutomation(a *models.Automation) (automationRow, error) {
	trig, err := json.Marshal(a.Trigger)
	if err != nil {
		return automationRow{}, err
	}
	flow := ""
	if f := (automationFlow{a.CancelOn, a.Concurrency, a.Throttle, a.RateLimit, a.Debounce}); f.CancelOn != nil || f.Concurrency != nil ||
		f.Throttle != nil || f.RateLimit != nil || f.Debounce != nil {
		b, err := json.Marshal(f)
		if err != nil {
			return automationRow{}, err
		}
		flow = string(b)
	}
	steps := a.Steps
	if steps == nil {
		steps = []models.Step{}
	}
	st, err := json.Marshal(steps)
	if err != nil {
		return automationRow{}, err
	}
	secret, err := s.sealString(a.SigningSecret, "automations.signing_secret", a.ID)
	if err != nil {
		return automationRow{}, err
	}
	return automationRow{ID: a.ID, WorkspaceID: a.WorkspaceID, Name: a.Name, Enabled: a.Enabled,
		TriggerEventType: a.Trigger.EventType, TriggerSourceID: a.Trigger.SourceID,
		TriggerJSON: string(trig), StepsJSON: string(st), FlowJSON: flow, SigningSecret: secret, Version: a.Version,
		CreatedAt: ts(a.CreatedAt), UpdatedAt: ts(a.UpdatedAt)}, nil
}

func (s *Store) toAutomation(r automationRow) (models.Automation, error) {
	a := models.Automation{ID: r.ID, WorkspaceID: r.WorkspaceID, Name: r.Name, Enabled: r.Enabled, Version: r.Version,
		CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt)}
	secret, err := s.open(r.SigningSecret, "automations.signing_secret", r.ID)
	if err != nil {
		return a, err
	}
	a.SigningSecret = string(secret)
	if err := json.Unmarshal([]byte(r.TriggerJSON), &a.Trigger); err != nil {
		return a, fmt.Errorf("automation %s trigger: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(r.StepsJSON), &a.Steps); err != nil {
		return a, fmt.Errorf("automation %s steps: %w", r.ID, err)
	}
	if r.FlowJSON != "" {
		var f automationFlow
		if err := json.Unmarshal([]byte(r.FlowJSON), &f); err != nil {
			return a, fmt.Errorf("automation %s flow: %w", r.ID, err)
		}
		a.CancelOn, a.Concurrency, a.Throttle, a.RateLimit, a.Debounce = f.CancelOn, f.Concurrency, f.Throttle, f.RateLimit, f.Debounce
	}
	return a, nil
}

// saveVersion records a as its version; the signing secret in the definition is
// sealed like the one in the automation row.
func (s *Store) saveVersion(tx *gorm.DB, a *models.Automation) error {
	cp := *a
	var err error
	if cp.SigningSecret, err = s.sealString(a.SigningSecret, "automation_versions.signing_secret", versionAAD(a.ID, a.Version)); err != nil {
		return err
	}
	def, err := json.Marshal(&cp)
	if err != nil {
		return err
	}
	return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&automationVersionRow{
		AutomationID: a.ID, Version: a.Version, Definition: string(def), CreatedAt: ts(a.UpdatedAt)}).Error
}

// CreateAutomation inserts a and records its first version.
func (s *Store) CreateAutomation(ctx context.Context, a *models.Automation) error {
	r, err := s.fromAutomation(a)
	if err != nil {
		return err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&r).Error; err != nil {
			return err
		}
		return s.saveVersion(tx, a)
	})
	return translate(err, "create automation")
}

// GetAutomation returns the workspace's automation id as it is now.
func (s *Store) GetAutomation(ctx context.Context, workspaceID, id string) (*models.Automation, error) {
	return getScoped(ctx, s, "automation", workspaceID, id, s.toAutomation)
}

// GetAutomationVersion returns the automation as it was at version, so a run keeps
// the definition it started with even after an update.
func (s *Store) GetAutomationVersion(ctx context.Context, workspaceID, id string, version int) (*models.Automation, error) {
	var r automationVersionRow
	if err := s.db.WithContext(ctx).Where("automation_id = ? AND version = ?", id, version).Take(&r).Error; err != nil {
		return nil, translate(err, fmt.Sprintf("automation %s version %d", id, version))
	}
	var a models.Automation
	if err := json.Unmarshal([]byte(r.Definition), &a); err != nil {
		return nil, fmt.Errorf("automation %s version %d: %w", id, version, err)
	}
	if a.WorkspaceID != workspaceID {
		return nil, fmt.Errorf("automation %s: %w", id, models.ErrNotFound)
	}
	secret, err := s.open(a.SigningSecret, "automation_versions.signing_secret", versionAAD(id, version))
	if err != nil {
		return nil, err
	}
	a.SigningSecret = string(secret)
	return &a, nil
}

// ListAutomations pages through a workspace's automations by id.
func (s *Store) ListAutomations(ctx context.Context, workspaceID string, page models.Page) ([]models.Automation, string, error) {
	return listScoped(ctx, s, "automations", workspaceID, page, false, func(r automationRow) string { return r.ID }, s.toAutomation)
}

// UpdateAutomation writes a (its Version already bumped) and records the version.
func (s *Store) UpdateAutomation(ctx context.Context, a *models.Automation) error {
	r, err := s.fromAutomation(a)
	if err != nil {
		return err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		err := updateScoped(tx, &automationRow{}, &r, a.WorkspaceID, a.ID,
			"name", "enabled", "trigger_event_type", "trigger_source_id", "trigger_json", "steps_json", "flow_json", "version", "updated_at")
		if err != nil {
			return err
		}
		return s.saveVersion(tx, a)
	})
	return translate(err, "automation "+a.ID)
}

// DeleteAutomation removes an automation; its runs stay for the record.
func (s *Store) DeleteAutomation(ctx context.Context, workspaceID, id string) error {
	return deleteScoped(ctx, s, &automationRow{}, "automation", workspaceID, id)
}

// AutomationsForEvent returns the enabled automations an event of eventType from
// sourceID triggers (before their CEL filters).
func (s *Store) AutomationsForEvent(ctx context.Context, workspaceID, eventType, sourceID string) ([]models.Automation, error) {
	var rows []automationRow
	err := s.db.WithContext(ctx).
		Where("workspace_id = ? AND enabled = ? AND trigger_event_type IN ?", workspaceID, true, []string{eventType, "*"}).
		Where("trigger_source_id = '' OR trigger_source_id = ?", sourceID).
		Order("id").Find(&rows).Error
	if err != nil {
		return nil, translate(err, "match automations")
	}
	return convertAll(rows, s.toAutomation)
}

func toRun(r runRow, steps []runStepRow) models.AutomationRun {
	run := models.AutomationRun{ID: r.ID, WorkspaceID: r.WorkspaceID, AutomationID: r.AutomationID, AutomationVersion: r.AutomationVersion,
		EventID: r.EventID, WorkflowID: r.WorkflowID, Status: models.RunStatus(r.Status), Error: r.Error,
		Reason: r.Reason, WaitingFor: r.WaitingFor, Key: r.FlowKey, Count: r.TriggerCount,
		CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt), FinishedAt: utcp(r.FinishedAt), Steps: []models.RunStep{}}
	for _, st := range steps {
		rs := models.RunStep{ID: st.StepID, Action: st.Action, Status: models.RunStatus(st.Status), Error: st.Error,
			Attempts: st.Attempts, WaitingFor: st.WaitingFor, Until: utcp(st.UntilAt), StartedAt: utcp(st.StartedAt), FinishedAt: utcp(st.FinishedAt)}
		if st.Output != "" {
			rs.Output = json.RawMessage(st.Output)
		}
		run.Steps = append(run.Steps, rs)
	}
	return run
}

// withSteps loads the steps of rows, in one query.
func (s *Store) withSteps(ctx context.Context, rows []runRow) ([]models.AutomationRun, error) {
	if len(rows) == 0 {
		return []models.AutomationRun{}, nil
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	var steps []runStepRow
	if err := s.db.WithContext(ctx).Where("run_id IN ?", ids).Order("run_id, idx").Find(&steps).Error; err != nil {
		return nil, translate(err, "run steps")
	}
	byRun := map[string][]runStepRow{}
	for _, st := range steps {
		byRun[st.RunID] = append(byRun[st.RunID], st)
	}
	out := make([]models.AutomationRun, 0, len(rows))
	for _, r := range rows {
		out = append(out, toRun(r, byRun[r.ID]))
	}
	return out, nil
}

func (s *Store) runWhere(ctx context.Context, query string, args ...any) (*models.AutomationRun, error) {
	var r runRow
	if err := s.db.WithContext(ctx).Where(query, args...).Take(&r).Error; err != nil {
		return nil, translate(err, "run")
	}
	runs, err := s.withSteps(ctx, []runRow{r})
	if err != nil {
		return nil, err
	}
	return &runs[0], nil
}

// EnsureRun inserts r with its steps unless the automation already has a run for the
// event, and returns the stored run.
func (s *Store) EnsureRun(ctx context.Context, r *models.AutomationRun) (*models.AutomationRun, error) {
	return s.EnsureRunLimited(ctx, r, nil)
}

// EnsureRunLimited is EnsureRun for an automation with a rate limit: in the
// transaction that records a new run it takes a token from limit's bucket,
// and records the run skipped (limit.Reason) when there is none. A run already
// recorded for the event is returned as it is, with no token taken, so
// planning an event again spends nothing twice. A nil limit takes no token.
func (s *Store) EnsureRunLimited(ctx context.Context, r *models.AutomationRun, limit *models.RunLimit) (*models.AutomationRun, error) {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if limit != nil {
			var n int64
			if err := tx.Model(&runRow{}).Where("automation_id = ? AND event_id = ?", r.AutomationID, r.EventID).Count(&n).Error; err != nil || n > 0 {
				return err
			}
			ok, err := takeToken(tx, r.AutomationID, limit)
			if err != nil {
				return err
			}
			if !ok {
				skipped := *r
				skipped.Status, skipped.Reason, skipped.FinishedAt = models.RunSkipped, limit.Reason, &limit.Now
				skipped.Steps = nil
				for _, st := range r.Steps {
					st.Status = models.RunSkipped
					skipped.Steps = append(skipped.Steps, st)
				}
				r = &skipped
			}
		}
		return insertRun(tx, r)
	})
	if err != nil {
		return nil, translate(err, "ensure run")
	}
	return s.runWhere(ctx, "automation_id = ? AND event_id = ?", r.AutomationID, r.EventID)
}

// insertRun inserts r and its steps unless its automation and event have a run.
func insertRun(tx *gorm.DB, r *models.AutomationRun) error {
	row := runRow{ID: r.ID, WorkspaceID: r.WorkspaceID, AutomationID: r.AutomationID, AutomationVersion: r.AutomationVersion,
		EventID: r.EventID, WorkflowID: r.WorkflowID, Status: string(r.Status), Error: r.Error,
		Reason: r.Reason, WaitingFor: r.WaitingFor, FlowKey: r.Key, TriggerCount: r.Count,
		CreatedAt: ts(r.CreatedAt), UpdatedAt: ts(r.UpdatedAt), FinishedAt: tsp(r.FinishedAt)}
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil || res.RowsAffected == 0 {
		return res.Error
	}
	if len(r.Steps) == 0 {
		return nil
	}
	steps := make([]runStepRow, len(r.Steps))
	for i, st := range r.Steps {
		steps[i] = runStepRow{RunID: r.ID, Idx: i, StepID: st.ID, Action: st.Action, Status: string(st.Status),
			Output: string(st.Output), Error: st.Error, StartedAt: tsp(st.StartedAt), FinishedAt: tsp(st.FinishedAt)}
	}
	return tx.Create(&steps).Error // one statement for all the steps
}

// takeToken takes one token from the automation's bucket for limit.Key, if it
// holds one: a bucket of limit.Limit tokens that refills at Limit per Period.
func takeToken(tx *gorm.DB, automationID string, limit *models.RunLimit) (bool, error) {
	// Write first: it takes the row lock on Postgres and the write lock on
	// SQLite, so concurrent plans take turns at the bucket.
	full := float64(limit.Limit)
	if err := tx.Exec(`INSERT INTO rate_buckets (automation_id, bucket_key, tokens, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (automation_id, bucket_key) DO UPDATE SET tokens = rate_buckets.tokens`,
		automationID, limit.Key, full, ts(limit.Now)).Error; err != nil {
		return false, err
	}
	var b struct {
		Tokens    float64
		UpdatedAt time.Time
	}
	if err := tx.Table("rate_buckets").Select("tokens, updated_at").
		Where("automation_id = ? AND bucket_key = ?", automationID, limit.Key).Take(&b).Error; err != nil {
		return false, err
	}
	tokens := b.Tokens
	if elapsed := limit.Now.Sub(b.UpdatedAt); elapsed > 0 && limit.Period > 0 {
		tokens = min(full, tokens+full*float64(elapsed)/float64(limit.Period))
	}
	took := tokens >= 1
	if took {
		tokens--
	}
	updated := b.UpdatedAt
	if limit.Now.After(updated) {
		updated = limit.Now
	}
	return took, tx.Exec(`UPDATE rate_buckets SET tokens = ?, updated_at = ? WHERE automation_id = ? AND bucket_key = ?`,
		tokens, ts(updated), automationID, limit.Key).Error
}

// GetRun returns the workspace's run id with its steps.
func (s *Store) GetRun(ctx context.Context, workspaceID, id string) (*models.AutomationRun, error) {
	return s.runWhere(ctx, "workspace_id = ? AND id = ?", workspaceID, id)
}

// GetRunAnyWorkspace returns a run by id alone, whichever workspace it belongs to.
// Only workers call it: they act on ids from workflow inputs, which carry no
// workspace (hookflow started the run's workflow, so the id is trusted). Anything
// a tenant names goes through GetRun, scoped to the caller's workspace.
func (s *Store) GetRunAnyWorkspace(ctx context.Context, id string) (*models.AutomationRun, error) {
	return s.runWhere(ctx, "id = ?", id)
}

// ListRuns pages through an automation's runs, newest first.
func (s *Store) ListRuns(ctx context.Context, workspaceID, automationID string, page models.Page) ([]models.AutomationRun, string, error) {
	q := s.db.WithContext(ctx).Where("workspace_id = ? AND automation_id = ?", workspaceID, automationID)
	rows, next, err := keyset(q, page, true, func(r runRow) string { return r.ID })
	if err != nil {
		return nil, "", translate(err, "list runs")
	}
	runs, err := s.withSteps(ctx, rows)
	return runs, next, err
}

// RunsForEvent lists the runs an event started.
func (s *Store) RunsForEvent(ctx context.Context, workspaceID, eventID string) ([]models.AutomationRun, error) {
	var rows []runRow
	if err := s.db.WithContext(ctx).Where("workspace_id = ? AND event_id = ?", workspaceID, eventID).Order("id").Find(&rows).Error; err != nil {
		return nil, translate(err, "runs of "+eventID)
	}
	return s.withSteps(ctx, rows)
}

// SetRunStatus records where a run stands.
func (s *Store) SetRunStatus(ctx context.Context, runID string, status models.RunStatus, errMsg string, finishedAt *time.Time) error {
	cols := map[string]any{"status": string(status), "error": errMsg, "finished_at": tsp(finishedAt), "updated_at": ts(time.Now())}
	if status == models.RunSucceeded || status == models.RunFailed {
		cols["reason"] = "" // a cancellation noted too late to stop it
	}
	res := s.db.WithContext(ctx).Model(&runRow{}).Where("id = ?", runID).Updates(cols)
	if res.Error != nil {
		return translate(res.Error, "set run status")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("run %s: %w", runID, models.ErrNotFound)
	}
	return nil
}

// SetRunStep records how step idx of a run went.
func (s *Store) SetRunStep(ctx context.Context, runID string, idx int, st models.RunStep) error {
	res := s.db.WithContext(ctx).Model(&runStepRow{}).Where("run_id = ? AND idx = ?", runID, idx).Updates(map[string]any{
		"status": string(st.Status), "output": string(st.Output), "error": st.Error, "attempts": st.Attempts,
		"waiting_for": st.WaitingFor, "until_at": tsp(st.Until),
		"started_at": tsp(st.StartedAt), "finished_at": tsp(st.FinishedAt),
	})
	if res.Error != nil {
		return translate(res.Error, "set run step")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("run %s step %d: %w", runID, idx, models.ErrNotFound)
	}
	return nil
}

// ResetRun prepares a failed run to run again from its first unfinished step,
// whose schedule starts over.
func (s *Store) ResetRun(ctx context.Context, runID string) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&runRow{}).Where("id = ?", runID).Updates(map[string]any{
			"status": string(models.RunRunning), "error": "", "finished_at": nil, "updated_at": ts(time.Now())})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		return tx.Model(&runStepRow{}).Where("run_id = ? AND status NOT IN ?", runID, []string{string(models.RunSucceeded), string(models.RunSkipped)}).
			Updates(map[string]any{"status": string(models.RunPending), "error": "", "finished_at": nil, "attempts": 0}).Error
	})
	return translate(err, "reset run "+runID)
}

func versionAAD(id string, version int) string { return fmt.Sprintf("%s@%d", id, version) }
