package signing

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks spec's published test vector.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = 1614265330
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignKnownAnswer(t *testing.T) {
	got, err := Sign([]string{specSecret}, specID, time.Unix(specTS, 0), []byte(specBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != specSig {
		t.Errorf("Sign = %q, want %q", got, specSig)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(specTS, 0)
	other, _ := NewSecret()
	headers := func(secrets []string, body string, at time.Time) map[string][]string {
		h, err := Headers(secrets, specID, at, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	tests := []struct {
		name    string
		secret  string
		signers []string
		body    string
		at      time.Time
		want    error
	}{
		{"valid", specSecret, []string{specSecret}, specBody, now, nil},
		{"rotation: new secret verifies", other, []string{other, specSecret}, specBody, now, nil},
		{"rotation: old secret verifies", specSecret, []string{other, specSecret}, specBody, now, nil},
		{"changed body", specSecret, []string{specSecret}, specBody + " ", now, ErrNoMatchingSignature},
		{"wrong secret", other, []string{specSecret}, specBody, now, ErrNoMatchingSignature},
		{"stale", specSecret, []string{specSecret}, specBody, now.Add(-6 * time.Minute), ErrTimestampTooOld},
		{"future", specSecret, []string{specSecret}, specBody, now.Add(6 * time.Minute), ErrTimestampTooNew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := headers(tt.signers, specBody, tt.at)
			err := Verify(tt.secret, h, []byte(tt.body), now, 5*time.Minute)
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
	h := headers([]string{specSecret}, specBody, now)
	h["Webhook-Signature"] = []string{"v2,abc " + specSig}
	if err := Verify(specSecret, h, []byte(specBody), now, 5*time.Minute); err != nil {
		t.Errorf("unknown versions should be skipped: %v", err)
	}
	delete(h, "Webhook-Id")
	if err := Verify(specSecret, h, []byte(specBody), now, 5*time.Minute); !errors.Is(err, ErrMissingHeaders) {
		t.Errorf("missing header: %v", err)
	}
}

func TestNewSecret(t *testing.T) {
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	key, err := DecodeSecret(s)
	if !strings.HasPrefix(s, SecretPrefix) || err != nil || len(key) != 32 {
		t.Errorf("NewSecret = %q (%d-byte key, %v)", s, len(key), err)
	}
	if _, err := DecodeSecret("whsec_!!!"); err == nil {
		t.Error("bad base64 accepted")
	}
}
