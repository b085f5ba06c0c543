package main

import (
	"reflect"
	"testing"
)

func TestPersistencePerEvent(t *testing.T) {
	tests := []struct {
		name          string
		before, after dbSizes
		events        int
		closed        bool
		want          *persistence
	}{
		{"pages", dbSizes{history: 1 << 20, visibility: 1 << 19}, dbSizes{history: 1<<20 + 1000*8192, visibility: 1<<19 + 125*8192}, 1000, true,
			&persistence{Events: 1000, HistoryBytes: 8192000, VisibilityBytes: 1024000,
				HistoryPerEvent: 8192, VisibilityPerEvent: 1024, TotalPerEvent: 9216, Closed: true}},
		{"open workflows say so", dbSizes{}, dbSizes{history: 300, visibility: 0}, 3, false,
			&persistence{Events: 3, HistoryBytes: 300, HistoryPerEvent: 100, TotalPerEvent: 100}},
		{"no events: nothing to divide by", dbSizes{}, dbSizes{history: 8192}, 0, true, nil},
	}
	for _, tt := range tests {
		if got := persistencePerEvent(tt.before, tt.after, tt.events, tt.closed); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
