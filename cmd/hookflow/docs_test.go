package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestAutomationsDocExamples: every automation docs/AUTOMATIONS.md and
// docs/WORKFLOWS.md create with curl saves (201) on a real server, as written.
func TestAutomationsDocExamples(t *testing.T) {
	var bodies [][]string
	for file, want := range map[string]int{"../../docs/AUTOMATIONS.md": 7, "../../docs/WORKFLOWS.md": 2} {
		md, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		found := regexp.MustCompile(`(?s)curl -s -X POST \$API/v1/automations [^\n]*?-d '(.*?)'`).FindAllStringSubmatch(string(md), -1)
		if len(found) < want {
			t.Fatalf("found %d automations in %s, want the %d it teaches", len(found), file, want)
		}
		bodies = append(bodies, found...)
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

// TestWorkflowsDocCommands: the go commands docs/WORKFLOWS.md gives name
// packages that exist.
func TestWorkflowsDocCommands(t *testing.T) {
	md, err := os.ReadFile("../../docs/WORKFLOWS.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds := regexp.MustCompile(`(?m)^go (run|test) (\./\S+)$`).FindAllStringSubmatch(string(md), -1)
	if len(cmds) < 2 {
		t.Fatalf("found %d go commands in docs/WORKFLOWS.md", len(cmds))
	}
	for _, c := range cmds {
		cmd := exec.Command("go", "list", strings.TrimSuffix(c[2], "/"))
		cmd.Dir = "../.." // the commands run from the repository's root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("go %s %s: %v\n%s", c[1], c[2], err, out)
		}
	}
}

// TestSDKDependencies: the package developers import for their workers
// brings no GORM, no Gin and nothing internal to hookflow.
func TestSDKDependencies(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./sdk/...")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./sdk/...: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "gorm.io") || strings.Contains(dep, "gin-gonic") ||
			strings.HasPrefix(dep, "github.com/hookflow/hookflow/") && !strings.HasPrefix(dep, "github.com/hookflow/hookflow/sdk/") {
			t.Errorf("sdk depends on %s", dep)
		}
	}
	if !strings.Contains(string(out), "go.temporal.io/sdk/workflow") {
		t.Errorf("go list printed no Temporal SDK: %s", out)
	}
}
