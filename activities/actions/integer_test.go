package actions

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestIntegerIsStrict: points written as text must be a plain base-10 integer;
// what a lenient scan would have half-read ("0x10" as 16, "12abc" as 12, "1e3" as
// 1) is refused for good, naming the param.
func TestIntegerIsStrict(t *testing.T) {
	tests := []struct {
		name    string
		in      any
		want    int64
		wantErr bool
	}{
		{"hex string", "0x10", 0, true},
		{"trailing garbage", "12abc", 0, true},
		{"exponent string", "1e3", 0, true},
		{"empty string", "", 0, true},
		{"spaces", " 12", 0, true},
		{"underscore", "1_000", 0, true},
		{"fraction string", "1.5", 0, true},
		{"plain string", "50", 50, false},
		{"signed string", "-5", -5, false},
		{"plus sign", "+7", 7, false},
		{"JSON whole number", float64(1000), 1000, false},
		{"JSON fraction", 2.5, 0, true},
		{"float past int64", 1e19, 0, true},
		{"CEL int", int64(42), 42, false},
		{"json.Number", json.Number("12"), 12, false},
		{"json.Number exponent", json.Number("1e3"), 0, true},
		{"bool", true, 0, true},
		{"missing", nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := integer(map[string]any{"points": tt.in}, "points")
			if tt.wantErr {
				var fe *finalError
				if err == nil || !errors.As(err, &fe) || !strings.Contains(err.Error(), "params.points") {
					t.Fatalf("integer(%#v) = %d, %v; want a final error naming params.points", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("integer(%#v) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}
