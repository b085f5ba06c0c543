package models

import (
	"testing"
	"time"
)

func TestRotateSecrets(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	past := now.Add(-time.Minute)
	later := now.Add(48 * time.Hour)
	in := []Secret{{Value: "expired", ExpiresAt: &past}, {Value: "long", ExpiresAt: &later}, {Value: "current"}}
	got, expires := RotateSecrets(in, "fresh", now, 24*time.Hour)
	if !expires.Equal(now.Add(24 * time.Hour)) {
		t.Errorf("expires %v", expires)
	}
	if len(got) != 3 || got[0].Value != "long" || got[1].Value != "current" || got[2].Value != "fresh" {
		t.Fatalf("secrets %+v", got)
	}
	if !got[0].ExpiresAt.Equal(expires) || !got[1].ExpiresAt.Equal(expires) || got[2].ExpiresAt != nil {
		t.Errorf("expiries %v %v %v", got[0].ExpiresAt, got[1].ExpiresAt, got[2].ExpiresAt)
	}
	if act := ActiveSecrets(got, now); len(act) != 3 || act[0] != "fresh" {
		t.Errorf("active now %v", act)
	}
	if act := ActiveSecrets(got, expires); len(act) != 1 || act[0] != "fresh" {
		t.Errorf("active after the overlap %v", act)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"2s": 2 * time.Second, "10m": 10 * time.Minute, "2d": 48 * time.Hour, "1d12h": 36 * time.Hour, "7d": 168 * time.Hour,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "2 days", "-1s", "d", "1.5d", "xd"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}
