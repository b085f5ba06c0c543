package main

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"
)

// TestAutomationsDocExamples: every automation docs/AUTOMATIONS.md creates with
// curl saves (201) on a real server, as written.
func TestAutomationsDocExamples(t *testing.T) {
	md, err := os.ReadFile("../../docs/AUTOMATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	bodies := regexp.MustCompile(`(?s)curl -s -X POST \$API/v1/automations [^\n]*?-d '(.*?)'`).FindAllStringSubmatch(string(md), -1)
	if len(bodies) < 7 {
		t.Fatalf("found %d automations in docs/AUTOMATIONS.md, want the 7 it teaches", len(bodies))
	}
	s := newStack(t)
	for _, b := range bodies {
		if !json.Valid([]byte(b[1])) {
			t.Errorf("not JSON: %s", b[1])
			continue
		}
		var e apiError
		if code := s.do("POST", "/v1/automations", b[1], &e); code != 201 {
			t.Errorf("status %d (%+v) saving %s", code, e, b[1])
		}
	}
}
