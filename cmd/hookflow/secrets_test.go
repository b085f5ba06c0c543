package main

import (
	"bytes"
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/secretbox"
	"github.com/hookflow/hookflow/internal/signing"
	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
)

// pgDump runs Postgres's own pg_dump on dsn: the dump an attacker with a backup sees.
func pgDump(t *testing.T, dsn string) string {
	t.Helper()
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
		if len(found) == 0 {
			t.Fatal("pg_dump not found: install postgresql-client (.ci/run does)")
		}
		bin = found[len(found)-1]
	}
	out, err := exec.Command(bin, "--data-only", "--no-owner", "-d", dsn).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	return string(out)
}

var sealedKeyID = regexp.MustCompile(`hfenc:v1:([0-9a-f]{8}):`)

// TestSecretsAtRestAndKeyRotation: the database dump shows no endpoint, source or
// automation secret in plain text; rotate-encryption-key re-seals them all with a
// new key, after which the platform signs and verifies with the same secrets as before.
func TestSecretsAtRestAndKeyRotation(t *testing.T) {
	s := newStack(t)
	rcv := testenv.NewReceiver(t, 200)
	ep := s.createEndpoint(rcv.URL+"/hook", "review.created")
	const sourceSecret = "srcsecret-8f742231b10e8888abcd99"
	src := s.createSource(`{"name":"stripe","verification":{"scheme":"stripe","secret":"` + sourceSecret + `"},"event_type":{"path":"type"}}`)
	auto := s.createAutomation(`{"name":"forward","trigger":{"event_type":"review.created"},
 "steps":[{"id":"post","action":"webhook.post","params":{"url":"` + rcv.URL + `/auto","body":{"ok":true}}}]}`)
	if !strings.HasPrefix(ep.Secret, "whsec_") || auto.SigningSecret == "" {
		t.Fatalf("endpoint secret %q, automation secret %q", ep.Secret, auto.SigningSecret)
	}

	dump := pgDump(t, s.cfg.DatabaseURL)
	for _, secret := range []string{"whsec_", ep.Secret, sourceSecret, auto.SigningSecret, strings.TrimPrefix(ep.Secret, "whsec_")} {
		if strings.Contains(dump, secret) {
			t.Fatalf("pg_dump shows the secret %q in plain text", secret)
		}
	}
	oldID := s.cfg.Keys.PrimaryID()
	if ids := sealedKeyID.FindAllStringSubmatch(dump, -1); len(ids) < 4 {
		t.Fatalf("pg_dump shows %d sealed values, want at least 4 (endpoint, source, automation and its version)", len(ids))
	}

	// Rotate, as an operator would, with the CLI against the same database.
	env := envMap(map[string]string{"DATABASE_URL": s.cfg.DatabaseURL, "HOOKFLOW_ENCRYPTION_KEY": testEncryptionKey, "HOOKFLOW_LOG_LEVEL": "error"})
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"rotate-encryption-key"}, &out, &errOut, env); code != 0 {
		t.Fatalf("rotate-encryption-key exited %d: %s", code, errOut.String())
	}
	m := regexp.MustCompile(`re-encrypted (\d+) secrets with key ([0-9a-f]{8})`).FindStringSubmatch(out.String())
	if m == nil || m[1] != "4" {
		t.Fatalf("rotate-encryption-key said %q, want 4 secrets re-encrypted", out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	newKeys, err := secretbox.Parse(lines[len(lines)-1])
	if err != nil || newKeys.PrimaryID() != m[2] || m[2] == oldID {
		t.Fatalf("printed key: %v; ids %s / %s (old %s)", err, newKeys.PrimaryID(), m[2], oldID)
	}
	for _, id := range sealedKeyID.FindAllStringSubmatch(pgDump(t, s.cfg.DatabaseURL), -1) {
		if id[1] != m[2] {
			t.Errorf("a value is still sealed with key %s after rotation", id[1])
		}
	}
	// Running it again with the old key fails and changes nothing.
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"rotate-encryption-key"}, &out, &errOut, env); code != 1 || !strings.Contains(errOut.String(), "nothing changed") {
		t.Errorf("rotation with the retired key exited %d: %s", code, errOut.String())
	}

	// The processes move to the new key; the secrets are the ones users were given.
	s.stopWorker()
	s.cfg.Keys = newKeys
	s.store.UseKeyring(newKeys)
	s.startWorker()
	ev := s.sendEvent(map[string]any{"type": "review.created", "data": map[string]any{"rating": 5}})
	s.waitRuns(ev.ID, 1, 20*time.Second)
	// The endpoint's delivery and the webhook step's request.
	for _, d := range s.waitDeliveries(ev.ID, 2, 20*time.Second) {
		if d.Status != models.DeliverySucceeded {
			t.Errorf("after rotation: %+v", d)
		}
	}
	var endpointOK, automationOK bool
	for _, r := range rcv.Requests() {
		switch r.Path {
		case "/hook":
			endpointOK = signing.Verify(ep.Secret, r.Header, r.Body, time.Now(), 5*time.Minute) == nil
		case "/auto":
			automationOK = signing.Verify(auto.SigningSecret, r.Header, r.Body, time.Now(), 5*time.Minute) == nil
		}
	}
	if !endpointOK || !automationOK {
		t.Errorf("after rotation: endpoint delivery verifies %v, automation request verifies %v", endpointOK, automationOK)
	}
	body := `{"id":"evt_stripe_rot","type":"invoice.paid"}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	code, e, _ := s.ring("POST", src.ID, "application/json", body,
		http.Header{"Stripe-Signature": {"t=" + ts + ",v1=" + hmacHex(sourceSecret, ts+"."+body)}})
	if code != http.StatusAccepted {
		t.Errorf("source verification after rotation: %d %+v", code, e)
	}
}
