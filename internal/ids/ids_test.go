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
