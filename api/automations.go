package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/automation"
	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/matching"
	"github.com/hookflow/hookflow/internal/signing"
	"github.com/hookflow/hookflow/models"
)

// automationView is an automation as the API shows it. Its signing secret is
// shown once, in the create answer, and then only through GET
// /v1/automations/{id}/secret, as endpoints' secrets are: in every GET and list it
// would reach every log, screen and client cache that shows an automation.
type automationView struct {
	models.Automation
	// SigningSecret shadows the embedded field (encoding/json takes the shallower
	// of two fields with one name), so the secret shows only when set here.
	SigningSecret string `json:"signing_secret,omitempty"`
	// Warnings, in the answers to a create or an update, point out what saved
	// but should change (a literal secret; a credential that does not exist).
	Warnings []string `json:"warnings,omitempty"`
}

// viewAutomation is a without its secret.
func viewAutomation(a models.Automation) automationView {
	return automationView{Automation: a}
}

type automationRequest struct {
	Name    *string         `json:"name"`
	Enabled *bool           `json:"enabled"`
	Trigger *models.Trigger `json:"trigger"`
	Steps   *[]models.Step  `json:"steps"`
	// Flow control and cancel_on: absent keeps what is saved (PATCH), null
	// removes it; PUT replaces the automation, so absent removes it too.
	CancelOn    json.RawMessage `json:"cancel_on"`
	Concurrency json.RawMessage `json:"concurrency"`
	Throttle    json.RawMessage `json:"throttle"`
	RateLimit   json.RawMessage `json:"rate_limit"`
	Debounce    json.RawMessage `json:"debounce"`
}

// applyFlow sets the request's cancel_on and flow control on a (replace: as
// PUT does, absent fields removed).
func applyFlow(a *models.Automation, req automationRequest, replace bool) error {
	fields := []struct {
		name string
		raw  json.RawMessage
		dst  any
	}{
		{"cancel_on", req.CancelOn, &a.CancelOn},
		{"concurrency", req.Concurrency, &a.Concurrency},
		{"throttle", req.Throttle, &a.Throttle},
		{"rate_limit", req.RateLimit, &a.RateLimit},
		{"debounce", req.Debounce, &a.Debounce},
	}
	for _, f := range fields {
		raw := f.raw
		if len(raw) == 0 {
			if !replace {
				continue
			}
			raw = json.RawMessage("null")
		}
		// Decoding null into a pointer or slice sets it to nil: removed.
		reset(f.dst)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(f.dst); err != nil {
			return models.Invalid(f.name, "%v", err)
		}
	}
	return nil
}

// reset zeroes what p points to, so a decode starts from nothing.
func reset(p any) {
	switch x := p.(type) {
	case *[]models.EventMatch:
		*x = nil
	case **models.Concurrency:
		*x = nil
	case **models.PeriodLimit:
		*x = nil
	case **models.DebounceSpec:
		*x = nil
	}
}

// compileAutomation checks a definition as it would run; its error names the step,
// the field and the position.
func (s *Server) compileAutomation(a *models.Automation) (*automation.Program, error) {
	prog, err := automation.Compile(a, s.cfg.KnownAction)
	if err != nil {
		var ae *automation.Error
		if errors.As(err, &ae) {
			return nil, &models.ValidationError{Message: ae.Error()}
		}
		return nil, models.Invalid("", "%v", err)
	}
	return prog, nil
}

func (s *Server) createAutomation(c *gin.Context) {
	var req automationRequest
	if !s.bindJSON(c, &req, 256<<10) {
		return
	}
	now := s.cfg.Now()
	secret, err := signing.NewSecret()
	if err != nil {
		s.fail(c, err)
		return
	}
	a := &models.Automation{ID: ids.New(ids.Automation), WorkspaceID: workspace(c), Enabled: true, Version: 1,
		SigningSecret: secret, CreatedAt: now, UpdatedAt: now}
	applyAutomation(a, req)
	if err := applyFlow(a, req, true); err != nil {
		s.fail(c, err)
		return
	}
	if req.Trigger == nil || req.Steps == nil || req.Name == nil {
		s.fail(c, models.Invalid("", "name, trigger and steps are required"))
		return
	}
	prog, err := s.compileAutomation(a)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !s.withinQuota(c, s.automationQuota()) {
		return
	}
	if err := s.autos.CreateAutomation(c.Request.Context(), a); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, automationView{Automation: *a, SigningSecret: a.SigningSecret,
		Warnings: s.credentialWarnings(c.Request.Context(), a, prog)})
}

func applyAutomation(a *models.Automation, req automationRequest) {
	if req.Name != nil {
		a.Name = *req.Name
	}
	if req.Enabled != nil {
		a.Enabled = *req.Enabled
	}
	if req.Trigger != nil {
		a.Trigger = *req.Trigger
	}
	if req.Steps != nil {
		a.Steps = *req.Steps
	}
}

func (s *Server) loadAutomation(c *gin.Context) (*models.Automation, bool) {
	return loadOne(s, c, "automation", s.autos.GetAutomation)
}

func (s *Server) getAutomation(c *gin.Context) {
	if a, ok := s.loadAutomation(c); ok {
		c.JSON(http.StatusOK, viewAutomation(*a))
	}
}

// getAutomationSecret shows the secret that signs the automation's webhook.post
// steps (those without their own params.secret).
func (s *Server) getAutomationSecret(c *gin.Context) {
	if a, ok := s.loadAutomation(c); ok {
		c.JSON(http.StatusOK, gin.H{"secret": a.SigningSecret})
	}
}

func (s *Server) listAutomations(c *gin.Context) {
	listViews(s, c, ids.Automation, s.autos.ListAutomations, viewAutomation)
}

// updateAutomation serves PUT (every field required) and PATCH (only those given).
// Either bumps the version; runs already started keep the version they began with.
func (s *Server) updateAutomation(c *gin.Context) {
	var req automationRequest
	if !s.bindJSON(c, &req, 256<<10) {
		return
	}
	if c.Request.Method == http.MethodPut && (req.Name == nil || req.Trigger == nil || req.Steps == nil) {
		s.fail(c, models.Invalid("", "PUT replaces the automation: name, trigger and steps are required (use PATCH to change some fields)"))
		return
	}
	var prog *automation.Program
	a, ok := changeOne(s, c, s.loadAutomation, func(a *models.Automation) error {
		applyAutomation(a, req)
		if err := applyFlow(a, req, c.Request.Method == http.MethodPut); err != nil {
			return err
		}
		var err error
		if prog, err = s.compileAutomation(a); err != nil {
			return err
		}
		a.Version++
		a.UpdatedAt = s.cfg.Now()
		return nil
	}, s.autos.UpdateAutomation)
	if ok {
		v := viewAutomation(*a)
		v.Warnings = s.credentialWarnings(c.Request.Context(), a, prog)
		c.JSON(http.StatusOK, v)
	}
}

func (s *Server) deleteAutomation(c *gin.Context) {
	deleteOne(s, c, "automation", s.autos.DeleteAutomation)
}

type testRequest struct {
	Event struct {
		Type string `json:"type"`
		// SourceID is the source the sample event comes from; empty: the API.
		SourceID string          `json:"source_id"`
		Data     json.RawMessage `json:"data"`
	} `json:"event"`
}

type testStep struct {
	ID      string         `json:"id"`
	Action  string         `json:"action"`
	Params  map[string]any `json:"params"`
	Skipped bool           `json:"skipped"`
	Note    string         `json:"note,omitempty"`
	// WaitsFor is what a wait_for_event step would wait for with this event.
	WaitsFor *testWait `json:"waits_for,omitempty"`
}

// testWait is a wait (a wait_for_event step or a cancel_on entry) as the dry
// run shows it: the awaited type, and the value its match path has on the
// sample event (what the later event must carry), or its condition.
type testWait struct {
	EventType string `json:"event_type"`
	Match     string `json:"match,omitempty"`
	Value     any    `json:"value,omitempty"`
	If        string `json:"if,omitempty"`
	Timeout   string `json:"timeout,omitempty"`
	Note      string `json:"note,omitempty"`
}

// testFlow is the flow control that would apply to the sample event: each
// control with the key the event has for it.
type testFlow struct {
	CancelOn    []testWait     `json:"cancel_on,omitempty"`
	Count       map[string]any `json:"count,omitempty"`
	Concurrency map[string]any `json:"concurrency,omitempty"`
	Throttle    map[string]any `json:"throttle,omitempty"`
	RateLimit   map[string]any `json:"rate_limit,omitempty"`
	Debounce    map[string]any `json:"debounce,omitempty"`
}

func waitView(m automation.Match, eventMap map[string]any) testWait {
	w := testWait{EventType: m.EventType, Match: m.Path, If: m.Cond}
	if m.Path != "" {
		v, ok := automation.PathValue(eventMap, m.Path)
		if !ok {
			w.Note = fmt.Sprintf("the sample event has no %s: no later event can match", m.Path)
		} else {
			_ = json.Unmarshal([]byte(v), &w.Value)
		}
	}
	return w
}

// flowView is the flow control a would apply to the sample event.
func flowView(ctx context.Context, a *models.Automation, prog *automation.Program, eventMap map[string]any) *testFlow {
	f := &testFlow{}
	for _, m := range prog.CancelOn() {
		f.CancelOn = append(f.CancelOn, waitView(m, eventMap))
	}
	view := func(field string, settings map[string]any) map[string]any {
		key, err := prog.Flow().Key(ctx, field, eventMap)
		if err != nil {
			settings["note"] = fmt.Sprintf("the key does not evaluate on the sample event (no run would start): %v", err)
		} else {
			settings["key"] = key
		}
		return settings
	}
	if c := a.Trigger.Count; c != nil {
		f.Count = view("trigger.count", map[string]any{"threshold": c.Threshold, "within": c.Within,
			"note": fmt.Sprintf("a run starts at the %d. event with this key within %s, with that event", c.Threshold, c.Within)})
	}
	if c := a.Concurrency; c != nil {
		f.Concurrency = view("concurrency", map[string]any{"limit": c.Limit})
	}
	if t := a.Throttle; t != nil {
		f.Throttle = view("throttle", map[string]any{"limit": t.Limit, "period": t.Period})
	}
	if r := a.RateLimit; r != nil {
		f.RateLimit = view("rate_limit", map[string]any{"limit": r.Limit, "period": r.Period})
	}
	if d := a.Debounce; d != nil {
		f.Debounce = view("debounce", map[string]any{"period": d.Period})
	}
	if f.CancelOn == nil && f.Count == nil && f.Concurrency == nil && f.Throttle == nil && f.RateLimit == nil && f.Debounce == nil {
		return nil
	}
	return f
}

// testAutomation shows what a sample event would do — whether it matches and each
// step's rendered params — without running anything. Steps see no outputs of
// earlier steps (nothing ran), so references to them render empty.
func (s *Server) testAutomation(c *gin.Context) {
	var req testRequest
	if !s.bindJSON(c, &req, s.cfg.MaxEventBytes) {
		return
	}
	a, ok := s.loadAutomation(c)
	if !ok {
		return
	}
	if err := models.ValidateEventType("event.type", req.Event.Type); err != nil {
		s.fail(c, err)
		return
	}
	data := req.Event.Data
	if len(data) == 0 {
		data = json.RawMessage(`{}`)
	}
	ev := models.Event{ID: "evt_test", WorkspaceID: a.WorkspaceID, Type: req.Event.Type, SourceID: req.Event.SourceID, Data: data, CreatedAt: s.cfg.Now()}
	eventMap, err := models.EventMap(&ev)
	if err != nil {
		s.fail(c, models.Invalid("event.data", "%v", err))
		return
	}
	prog, err := s.compileAutomation(a)
	if err != nil {
		s.fail(c, err)
		return
	}
	// Credentials render as placeholders: a dry run never shows a value.
	ctx := automation.WithSecrets(c.Request.Context(), dryRunSecrets{s: s, workspaceID: a.WorkspaceID})
	// The rule runs use: a filter that does not evaluate is no match.
	matched, _ := matching.Matches(ctx, a.Trigger, prog, &ev, eventMap)
	steps := make([]testStep, 0, prog.StepCount())
	outputs := map[string]any{}
	for i := 0; i < prog.StepCount(); i++ {
		st := testStep{ID: prog.StepID(i), Action: prog.Action(i)}
		run, err := prog.ShouldRun(ctx, i, eventMap, outputs)
		if err != nil {
			st.Note = fmt.Sprintf("if could not be decided without earlier outputs: %v", err)
		} else {
			st.Skipped = !run
		}
		if st.Params, err = prog.Render(ctx, i, eventMap, outputs); err != nil {
			st.Note = fmt.Sprintf("params: %v", err)
		}
		if w := prog.Wait(i); w != nil {
			wv := waitView(w.Match, eventMap)
			wv.Timeout = w.Timeout.String()
			st.WaitsFor = &wv
		}
		steps = append(steps, st)
	}
	out := gin.H{"matched": matched, "automation_id": a.ID, "version": a.Version, "steps": steps}
	if f := flowView(ctx, a, prog, eventMap); f != nil {
		out["flow_control"] = f
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) listAutomationRuns(c *gin.Context) {
	if _, ok := s.loadAutomation(c); !ok {
		return
	}
	listPage(s, c, ids.Run, func(ctx context.Context, ws string, page models.Page) ([]models.AutomationRun, string, error) {
		return s.autos.ListRuns(ctx, ws, c.Param("id"), page)
	})
}

func (s *Server) loadRun(c *gin.Context) (*models.AutomationRun, bool) {
	return loadOne(s, c, "run", s.autos.GetRun)
}

func (s *Server) getRun(c *gin.Context) {
	if r, ok := s.loadRun(c); ok {
		c.JSON(http.StatusOK, r)
	}
}

// retryRun resumes a failed run at its failed step; steps that succeeded keep their
// outputs and effects.
func (s *Server) retryRun(c *gin.Context) {
	r, ok := s.loadRun(c)
	if !ok {
		return
	}
	if r.Status != models.RunFailed {
		s.fail(c, fmt.Errorf("run %s is %s; only failed runs can be retried: %w", r.ID, r.Status, models.ErrConflict))
		return
	}
	ctx := c.Request.Context()
	if err := s.autos.ResetRun(ctx, r.ID); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.engine.RetryRun(ctx, *r); err != nil {
		if rerr := s.autos.SetRunStatus(ctx, r.ID, models.RunFailed, r.Error, r.FinishedAt); rerr != nil {
			s.logger.ErrorContext(ctx, "restore run status after failed retry", "run_id", r.ID, "error", rerr)
		}
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"id": r.ID, "status": models.RunRunning})
}
