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
