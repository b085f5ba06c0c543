package runs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/hookflow/hookflow/models"
)

// stepSecrets resolves a step's credentials from the store, inside the
// activity, and remembers the values it handed out so that nothing the step
// returns or records (its output, its error) carries them: they are replaced
// with [secret <name>] before the result leaves the activity.
type stepSecrets struct {
	get         func(ctx context.Context, workspaceID, name string) (string, error)
	workspaceID string
	mu          sync.Mutex
	used        map[string]string // value → name
}

// Secret implements automation.Secrets.
func (s *stepSecrets) Secret(ctx context.Context, name string) (string, error) {
	v, err := s.get(ctx, s.workspaceID, name)
	if errors.Is(err, models.ErrNotFound) {
		return "", fmt.Errorf("credential %q does not exist: create it with POST /v1/credentials", name)
	}
	if err != nil {
		return "", fmt.Errorf("credential %q: %w", name, err)
	}
	s.mu.Lock()
	if s.used == nil {
		s.used = map[string]string{}
	}
	if v != "" {
		s.used[v] = name
	}
	s.mu.Unlock()
	return v, nil
}

// scrub replaces every credential value handed out in text, longest first.
func (s *stepSecrets) scrub(text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.used) == 0 {
		return text
	}
	values := make([]string, 0, len(s.used))
	for v := range s.used {
		values = append(values, v)
	}
	sort.Slice(values, func(i, j int) bool { return len(values[i]) > len(values[j]) })
	for _, v := range values {
		text = strings.ReplaceAll(text, v, "[secret "+s.used[v]+"]")
	}
	return text
}

// scrubValue scrubs every string of a decoded JSON value.
func (s *stepSecrets) scrubValue(v any) any {
	switch x := v.(type) {
	case string:
		return s.scrub(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[s.scrub(k)] = s.scrubValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = s.scrubValue(e)
		}
		return out
	}
	return v
}

// scrubErr is err with its message scrubbed; errors.Is and As still see
// what it wraps (a final error stays final, a Retry-After keeps its delay).
func (s *stepSecrets) scrubErr(err error) error {
	if err == nil {
		return nil
	}
	msg := s.scrub(err.Error())
	if msg == err.Error() {
		return err
	}
	return &scrubbedError{msg: msg, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// usedAny reports whether any credential was resolved.
func (s *stepSecrets) usedAny() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.used) > 0
}
