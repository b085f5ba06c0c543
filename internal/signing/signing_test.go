package signing

import (
	"encoding/base64"
	"errors"
	"net/http"
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

const tolerance = 5 * time.Minute

func newSecret(t *testing.T) string {
	t.Helper()
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignKnownAnswer(t *testing.T) {
	got, err := Sign([]string{specSecret}, specID, time.Unix(specTS, 0), []byte(specBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != specSig {
		t.Errorf("Sign = %q, want %q", got, specSig)
	}
}

func TestSignRotation(t *testing.T) {
	other := newSecret(t)
	ts := time.Unix(specTS, 0)
	got, err := Sign([]string{specSecret, other}, specID, ts, []byte(specBody))
	if err != nil {
		t.Fatal(err)
	}
	sigs := strings.Split(got, " ")
	if len(sigs) != 2 {
		t.Fatalf("Sign with two secrets = %q, want two signatures", got)
	}
	if sigs[0] != specSig {
		t.Errorf("first signature = %q, want %q (same order as the secrets)", sigs[0], specSig)
	}
	alone, err := Sign([]string{other}, specID, ts, []byte(specBody))
	if err != nil {
		t.Fatal(err)
	}
	if sigs[1] != alone {
		t.Errorf("second signature = %q, want %q", sigs[1], alone)
	}
}

func TestSignErrors(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		wantMsg string
	}{
		{"no secrets", nil, "no signing secret"},
		{"bad base64", []string{specSecret, "whsec_not base64!"}, "secret 2"},
		{"empty key", []string{"whsec_"}, "secret 1: secret is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Sign(tt.secrets, specID, time.Unix(specTS, 0), []byte(specBody))
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Sign = %q, %v; want an error containing %q", got, err, tt.wantMsg)
			}
			if strings.Contains(err.Error(), "not base64!") {
				t.Errorf("error %q leaks the secret", err)
			}
			if _, err := Headers(tt.secrets, specID, time.Unix(specTS, 0), []byte(specBody)); err == nil {
				t.Error("Headers succeeded where Sign failed")
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	h, err := Headers([]string{specSecret}, specID, time.Unix(specTS, 0), []byte(specBody))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"webhook-id":        specID,
		"webhook-timestamp": "1614265330",
		"webhook-signature": specSig,
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if len(h) != len(want) {
		t.Errorf("headers = %v, want exactly %d", h, len(want))
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(specTS, 0)
	other := newSecret(t)
	tests := []struct {
		name    string
		secret  string   // the receiver's secret
		signers []string // the sender's active secrets
		body    string   // the body the receiver got
		at      time.Time
		want    error
	}{
		{"valid", specSecret, []string{specSecret}, specBody, now, nil},
		{"rotation: new secret verifies", other, []string{other, specSecret}, specBody, now, nil},
		{"rotation: old secret verifies", specSecret, []string{other, specSecret}, specBody, now, nil},
		{"tampered body", specSecret, []string{specSecret}, `{"test": 2432232315}`, now, ErrNoMatchingSignature},
		{"trailing byte", specSecret, []string{specSecret}, specBody + "\n", now, ErrNoMatchingSignature},
		{"wrong secret", other, []string{specSecret}, specBody, now, ErrNoMatchingSignature},
		{"at the old edge", specSecret, []string{specSecret}, specBody, now.Add(-tolerance), nil},
		{"at the new edge", specSecret, []string{specSecret}, specBody, now.Add(tolerance), nil},
		{"stale", specSecret, []string{specSecret}, specBody, now.Add(-tolerance - time.Second), ErrTimestampTooOld},
		{"future", specSecret, []string{specSecret}, specBody, now.Add(tolerance + time.Second), ErrTimestampTooNew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Headers(tt.signers, specID, tt.at, []byte(specBody))
			if err != nil {
				t.Fatal(err)
			}
			err = Verify(tt.secret, h, []byte(tt.body), now, tolerance)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyHeaders(t *testing.T) {
	now := time.Unix(specTS, 0)
	forged := "v1," + base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name   string
		id     string
		ts     string
		sigs   []string
		secret string
		want   error
	}{
		{"spec vector", specID, "1614265330", []string{specSig}, specSecret, nil},
		{"unknown versions ignored", specID, "1614265330", []string{"v2,abc v1a,xyz " + specSig}, specSecret, nil},
		{"extra spaces", specID, "1614265330", []string{"  " + forged + "   " + specSig + " "}, specSecret, nil},
		{"signature on a second header line", specID, "1614265330", []string{forged, specSig}, specSecret, nil},
		{"only unknown versions", specID, "1614265330", []string{"v2," + strings.TrimPrefix(specSig, "v1,")}, specSecret, ErrNoMatchingSignature},
		{"no version", specID, "1614265330", []string{strings.TrimPrefix(specSig, "v1,")}, specSecret, ErrNoMatchingSignature},
		{"forged", specID, "1614265330", []string{forged}, specSecret, ErrNoMatchingSignature},
		{"other message id", "msg_other", "1614265330", []string{specSig}, specSecret, ErrNoMatchingSignature},
		{"missing id", "", "1614265330", []string{specSig}, specSecret, ErrMissingHeaders},
		{"missing timestamp", specID, "", []string{specSig}, specSecret, ErrMissingHeaders},
		{"missing signature", specID, "1614265330", nil, specSecret, ErrMissingHeaders},
		{"blank signature", specID, "1614265330", []string{"  "}, specSecret, ErrMissingHeaders},
		{"timestamp in milliseconds", specID, "1614265330000", []string{specSig}, specSecret, ErrTimestampTooNew},
		{"timestamp not a number", specID, "yesterday", []string{specSig}, specSecret, ErrInvalidTimestamp},
		{"timestamp with sign", specID, "+1614265330", []string{specSig}, specSecret, ErrInvalidTimestamp},
		{"timestamp with leading zero", specID, "01614265330", []string{specSig}, specSecret, ErrInvalidTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.id != "" {
				h.Set(HeaderID, tt.id)
			}
			if tt.ts != "" {
				h.Set(HeaderTimestamp, tt.ts)
			}
			for _, s := range tt.sigs {
				h.Add(HeaderSignature, s)
			}
			err := Verify(tt.secret, h, []byte(specBody), now, tolerance)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyBadSecret(t *testing.T) {
	h, err := Headers([]string{specSecret}, specID, time.Unix(specTS, 0), []byte(specBody))
	if err != nil {
		t.Fatal(err)
	}
	err = Verify("whsec_%%%", h, []byte(specBody), time.Unix(specTS, 0), tolerance)
	if err == nil || errors.Is(err, ErrNoMatchingSignature) {
		t.Errorf("Verify with an undecodable secret = %v, want a secret error", err)
	}
}

func TestDecodeSecret(t *testing.T) {
	tests := []struct {
		name    string
		secret  string
		wantLen int // 0: want an error
	}{
		{"spec secret", specSecret, 24},
		{"without prefix", strings.TrimPrefix(specSecret, SecretPrefix), 24},
		{"one byte", "whsec_AA==", 1},
		{"bad base64", "whsec_!!!", 0},
		{"unpadded", "whsec_AA", 0},
		{"prefix only", SecretPrefix, 0},
		{"empty", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := DecodeSecret(tt.secret)
			if tt.wantLen == 0 {
				if err == nil {
					t.Errorf("DecodeSecret(%q) = %x, want an error", tt.secret, key)
				}
				return
			}
			if err != nil || len(key) != tt.wantLen {
				t.Errorf("DecodeSecret(%q) = %d bytes, %v; want %d bytes", tt.secret, len(key), err, tt.wantLen)
			}
		})
	}
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 16 {
		s := newSecret(t)
		if !strings.HasPrefix(s, SecretPrefix) {
			t.Errorf("NewSecret = %q, want prefix %q", s, SecretPrefix)
		}
		key, err := DecodeSecret(s)
		if err != nil || len(key) != 32 {
			t.Errorf("NewSecret = %q: %d-byte key, %v; want 32 bytes", s, len(key), err)
		}
		if seen[s] {
			t.Errorf("NewSecret repeated %q", s)
		}
		seen[s] = true
	}
}
