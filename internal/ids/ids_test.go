package ids

import (
	"strings"
	"testing"
	"time"
)

func TestNewSortsAndIsUnique(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 10000; i++ {
		id := New(Event)
		if !strings.HasPrefix(id, "evt_") || len(id) != len("evt_")+26 {
			t.Fatalf("id %q has the wrong shape", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		if id <= prev {
			t.Fatalf("%q does not sort after %q", id, prev)
		}
		seen[id], prev = true, id
	}
	time.Sleep(2 * time.Millisecond)
	if later := New(Event); later <= prev {
		t.Errorf("id made later %q sorts before %q", later, prev)
	}
}

func TestValid(t *testing.T) {
	id := New(Endpoint)
	for _, tt := range []struct {
		prefix, id string
		want       bool
	}{
		{Endpoint, id, true},
		{Event, id, false},
		{Endpoint, strings.ToUpper(id[:3]) + id[3:], false},
		{Endpoint, "ep_" + strings.ToUpper(id[3:]), false},
		{Endpoint, id + "0", false},
		{Endpoint, id[:len(id)-1], false},
		{Endpoint, "ep_' OR '1'='1", false},
		{Endpoint, "ep_", false},
		{Endpoint, "", false},
		{Endpoint, "ep_8zzzzzzzzzzzzzzzzzzzzzzzzz", false}, // past the largest ULID
	} {
		if got := Valid(tt.prefix, tt.id); got != tt.want {
			t.Errorf("Valid(%q, %q) = %v, want %v", tt.prefix, tt.id, got, tt.want)
		}
	}
}

func TestFloor(t *testing.T) {
	before := New(Event)
	time.Sleep(2 * time.Millisecond)
	at := time.Now()
	time.Sleep(2 * time.Millisecond)
	after := New(Event)
	f := Floor(Event, at)
	if !(before < f && f <= after) || !strings.HasPrefix(f, "evt_") {
		t.Errorf("Floor = %q; want between %q and %q", f, before, after)
	}
}
