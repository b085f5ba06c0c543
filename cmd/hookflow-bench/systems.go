package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strings"
)

// The hookflow systems a run measures: the same server binary, started with
// its batching defaults and then again with batching off.
const (
	sysHookflow  = "hookflow"
	sysUnbatched = "hookflow (unbatched)"
)

// The server's batching variables and their defaults (docs/BATCHING.md). The
// bench cannot ask a binary for its defaults, so a report states these when
// the variables are unset.
const (
	envBatchMax           = "HOOKFLOW_BATCH_MAX"
	envBatchWindow        = "HOOKFLOW_BATCH_WINDOW"
	defaultBatchMax       = "64"
	defaultBatchWindow    = "0"
	unbatchedBatchMaxFlag = envBatchMax + "=1"
)

// systemSettings is how one hookflow system's server was started.
type systemSettings struct {
	Name        string `json:"name"`
	BatchMax    string `json:"batch_max"`    // as the server got it, or its default
	BatchWindow string `json:"batch_window"` // likewise
	// Env is the batching variables the server was started with, inherited or
	// set by the bench; none: the server's defaults.
	Env []string `json:"env,omitempty"`
	// Ignored: the server binary does not read HOOKFLOW_BATCH_MAX (a build
	// before batching), so this system ran unbatched whatever the settings say.
	Ignored bool `json:"server_ignores_batch_env,omitempty"`
}

// hookflowSystems are the systems to measure given the bench's environment,
// which the server inherits: "hookflow" as it comes, "hookflow (unbatched)"
// with HOOKFLOW_BATCH_MAX=1 on top when unbatched is set.
func hookflowSystems(environ []string, unbatched bool) []systemSettings {
	out := []systemSettings{batchSettings(sysHookflow, environ)}
	if unbatched {
		out = append(out, batchSettings(sysUnbatched, append(environ[:len(environ):len(environ)], unbatchedBatchMaxFlag)))
	}
	return out
}

func batchSettings(name string, env []string) systemSettings {
	s := systemSettings{Name: name, BatchMax: defaultBatchMax, BatchWindow: defaultBatchWindow}
	for _, kv := range []struct {
		key string
		dst *string
	}{{envBatchMax, &s.BatchMax}, {envBatchWindow, &s.BatchWindow}} {
		if v, ok := lookupEnv(env, kv.key); ok {
			*kv.dst = v
			s.Env = append(s.Env, kv.key+"="+v)
		}
	}
	return s
}

// lookupEnv is key's value in env, the last one winning as in os/exec.
func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// binaryMentions reports whether the file holds s: hookflow reads each
// variable by its literal name, so a server build without the string cannot
// read the variable.
func binaryMentions(path, s string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer func() { _ = f.Close() }()
	return readerMentions(bufio.NewReaderSize(f, 1<<20), []byte(s))
}

// readerMentions scans r in chunks, keeping the last len(s)-1 bytes of each
// so a match across two chunks is found.
func readerMentions(r io.Reader, s []byte) (bool, error) {
	buf := make([]byte, 0, 1<<20+len(s))
	chunk := make([]byte, 1<<20)
	for {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if bytes.Contains(buf, s) {
			return true, nil
		}
		if keep := len(s) - 1; len(buf) > keep {
			buf = append(buf[:0], buf[len(buf)-keep:]...)
		}
		switch {
		case err == io.EOF:
			return false, nil
		case err != nil:
			return false, err
		}
	}
}

// settingsText is the systems as the report's settings section says them.
func settingsText(systems []systemSettings) string {
	var parts []string
	ignored := false
	for _, s := range systems {
		how := "server defaults"
		if len(s.Env) > 0 {
			how = "`" + strings.Join(s.Env, " ") + "`"
		}
		parts = append(parts, "“"+s.Name+"” batch max "+s.BatchMax+", window "+s.BatchWindow+" ("+how+")")
		ignored = ignored || s.Ignored
	}
	if len(parts) == 0 {
		return ""
	}
	text := "hookflow systems: " + strings.Join(parts, "; ") + "."
	if len(systems) > 1 {
		text += " The unbatched system is the same server restarted on the same Temporal and app database after the first system's scenarios."
	}
	if ignored {
		text += " This server build does not read " + envBatchMax + ", so every system ran one workflow per event."
	}
	return text
}
