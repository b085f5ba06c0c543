package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestHookflowSystems(t *testing.T) {
	tests := []struct {
		name      string
		environ   []string
		unbatched bool
		want      []systemSettings
	}{
		{"defaults", []string{"PATH=/bin"}, true, []systemSettings{
			{Name: sysHookflow, BatchMax: "64", BatchWindow: "0"},
			{Name: sysUnbatched, BatchMax: "1", BatchWindow: "0", Env: []string{"HOOKFLOW_BATCH_MAX=1"}},
		}},
		// What the caller exports reaches both servers; the unbatched one's
		// HOOKFLOW_BATCH_MAX=1 comes last, so it wins as in os/exec.
		{"inherited", []string{"HOOKFLOW_BATCH_MAX=16", "HOOKFLOW_BATCH_WINDOW=5ms"}, true, []systemSettings{
			{Name: sysHookflow, BatchMax: "16", BatchWindow: "5ms", Env: []string{"HOOKFLOW_BATCH_MAX=16", "HOOKFLOW_BATCH_WINDOW=5ms"}},
			{Name: sysUnbatched, BatchMax: "1", BatchWindow: "5ms", Env: []string{"HOOKFLOW_BATCH_MAX=1", "HOOKFLOW_BATCH_WINDOW=5ms"}},
		}},
		{"--unbatched=false", nil, false, []systemSettings{{Name: sysHookflow, BatchMax: "64", BatchWindow: "0"}}},
	}
	for _, tt := range tests {
		environ := slices.Clone(tt.environ)
		if got := hookflowSystems(environ, tt.unbatched); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
		if !reflect.DeepEqual(environ, tt.environ) {
			t.Errorf("%s: the environment changed to %q", tt.name, environ)
		}
	}
}

func TestUnbatchedFlag(t *testing.T) {
	for args, want := range map[string]bool{"": true, "--unbatched=false": false} {
		c, err := parseConfig(strings.Fields(args), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.Unbatched != want {
			t.Errorf("%q: unbatched %v, want %v", args, c.Unbatched, want)
		}
	}
}

// TestReaderMentions: the name is found wherever it falls, across the
// scanner's chunks too, and not found when only a prefix is there.
func TestReaderMentions(t *testing.T) {
	const name = envBatchMax
	chunk := 1 << 20
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{"at the start", []byte(name + "\x00rest"), true},
		{"across chunks", append(bytes.Repeat([]byte{'x'}, chunk-5), name...), true},
		{"at the very end", append(bytes.Repeat([]byte{'x'}, 3*chunk), name...), true},
		{"prefix only", append(bytes.Repeat([]byte{'x'}, chunk), "HOOKFLOW_BATCH_WINDOW"...), false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		// One byte at a time as well: a reader may return less than asked.
		for _, r := range []io.Reader{bytes.NewReader(tt.data), iotest.HalfReader(bytes.NewReader(tt.data))} {
			if got, err := readerMentions(r, []byte(name)); err != nil || got != tt.want {
				t.Errorf("%s: got %v, %v; want %v", tt.name, got, err, tt.want)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "hookflow")
	if err := os.WriteFile(path, []byte("...get(\""+name+"\", \"64\")..."), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := binaryMentions(path, name); err != nil || !got {
		t.Errorf("binaryMentions = %v, %v; want true", got, err)
	}
}

func TestSettingsText(t *testing.T) {
	systems := hookflowSystems(nil, true)
	got := settingsText(systems)
	for _, want := range []string{"“hookflow” batch max 64, window 0 (server defaults)", "“hookflow (unbatched)” batch max 1, window 0 (`HOOKFLOW_BATCH_MAX=1`)", "restarted"} {
		if !strings.Contains(got, want) {
			t.Errorf("settings %q lack %q", got, want)
		}
	}
	if strings.Contains(got, "does not read") {
		t.Errorf("settings %q say the server ignores the variables", got)
	}
	for i := range systems {
		systems[i].Ignored = true
	}
	if got := settingsText(systems); !strings.Contains(got, "This server build does not read HOOKFLOW_BATCH_MAX, so every system ran one workflow per event.") {
		t.Errorf("settings %q do not say the server ignored the variables", got)
	}
	if got := settingsText(nil); got != "" {
		t.Errorf("no systems (an older report): %q, want nothing", got)
	}
}
