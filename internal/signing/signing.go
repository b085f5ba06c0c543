// Package signing implements Standard Webhooks signatures
// (https://www.standardwebhooks.com): the webhook-id, webhook-timestamp and
// webhook-signature headers that let a receiver check a delivery came from us,
// unchanged and recently.
package signing

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// Errors of Verify.
var (
	ErrMissingHeaders      = errors.New("missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrInvalidTimestamp    = errors.New("webhook-timestamp is not a Unix time in seconds")
	ErrTimestampTooOld     = errors.New("webhook-timestamp is too old")
	ErrTimestampTooNew     = errors.New("webhook-timestamp is too far in the future")
	ErrNoMatchingSignature = errors.New("no signature matches")
)

// NewSecret returns "whsec_" + base64 of 32 random bytes.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// DecodeSecret returns the HMAC key of a secret: the base64 after "whsec_".
func DecodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return nil, fmt.Errorf("secret is not whsec_ + base64: %w", err)
	}
	if len(key) == 0 {
		return nil, errors.New("secret is empty")
	}
	return key, nil
}

func sign(key []byte, msgID string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msgID))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign returns the webhook-signature value: "v1,<sig>" per secret, space-separated,
// so during a rotation receivers holding either secret can verify.
func Sign(secrets []string, msgID string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("no signing secret")
	}
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := DecodeSecret(s)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, "v1,"+sign(key, msgID, ts.Unix(), body))
	}
	return strings.Join(sigs, " "), nil
}

// Headers returns the three Standard Webhooks headers for one attempt.
func Headers(secrets []string, msgID string, ts time.Time, body []byte) (http.Header, error) {
	sig, err := Sign(secrets, msgID, ts, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("webhook-id", msgID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	return h, nil
}

// Verify checks a signed request as a receiver would: the timestamp within
// tolerance of now, and one of the v1 signatures made with secret (compared in
// constant time). Unknown signature versions are ignored.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	msgID, tsRaw, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if msgID == "" || tsRaw == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil {
		return ErrInvalidTimestamp
	}
	at := time.Unix(ts, 0)
	if now.Sub(at) > tolerance {
		return ErrTimestampTooOld
	}
	if at.Sub(now) > tolerance {
		return ErrTimestampTooNew
	}
	key, err := DecodeSecret(secret)
	if err != nil {
		return err
	}
	want := []byte(sign(key, msgID, ts, body))
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		if hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}
