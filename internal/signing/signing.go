// Package signing implements Standard Webhooks signatures
// (https://www.standardwebhooks.com): the webhook-id, webhook-timestamp and
// webhook-signature headers that let a receiver check that a delivery came from
// us, unchanged and recently. Sign and Headers are used for outbound deliveries;
// Verify is the receiver's side, used by tests and by inbound sources that speak
// the same scheme.
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

// SecretPrefix starts every signing secret, so a secret pasted in the wrong place
// is recognisable and the spec's libraries accept it as is.
const SecretPrefix = "whsec_"

// Header names defined by Standard Webhooks.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretBytes is the key size NewSecret generates: the HMAC-SHA256 block of
// entropy the spec recommends (between 24 and 64 bytes).
const secretBytes = 32

// Errors returned by Verify; callers tell them apart with errors.Is, e.g. to log
// clock skew differently from a forged signature.
var (
	// ErrMissingHeaders means one of the three webhook-* headers is absent.
	ErrMissingHeaders = errors.New("missing webhook-id, webhook-timestamp or webhook-signature header")
	// ErrInvalidTimestamp means webhook-timestamp is not a Unix time in seconds.
	ErrInvalidTimestamp = errors.New("webhook-timestamp is not a Unix time in seconds")
	// ErrTimestampTooOld means the message was signed longer ago than the tolerance.
	ErrTimestampTooOld = errors.New("webhook-timestamp is too old")
	// ErrTimestampTooNew means the message claims to be signed in the future.
	ErrTimestampTooNew = errors.New("webhook-timestamp is too far in the future")
	// ErrNoMatchingSignature means no v1 signature was made with the secret.
	ErrNoMatchingSignature = errors.New("no signature matches")
)

// NewSecret returns a fresh secret: "whsec_" + standard base64 of 32 random bytes.
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// DecodeSecret returns the HMAC key of a secret: the decoded base64 after
// "whsec_" (the prefix is optional, as in the spec's libraries). Any non-empty
// key is accepted so that secrets made elsewhere, such as the spec's test vector,
// work; NewSecret makes 32-byte keys.
func DecodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		// The error names an offset, never the secret, so it is safe to log.
		return nil, fmt.Errorf("secret is not whsec_ + base64: %w", err)
	}
	if len(key) == 0 {
		return nil, errors.New("secret is empty")
	}
	return key, nil
}

// signature is base64(HMAC-SHA256(key, msgID + "." + timestamp + "." + body)).
func signature(key []byte, msgID, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msgID))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign returns the webhook-signature header value: "v1,<signature>" for each
// secret, space-separated in the order given. Every active secret signs so that
// during a rotation a receiver holding either the old or the new one can verify.
func Sign(secrets []string, msgID string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("sign: no signing secret")
	}
	timestamp := strconv.FormatInt(ts.Unix(), 10)
	sigs := make([]string, 0, len(secrets))
	for i, s := range secrets {
		key, err := DecodeSecret(s)
		if err != nil {
			// Name the position, not the value: secrets must not reach logs.
			return "", fmt.Errorf("sign: secret %d: %w", i+1, err)
		}
		sigs = append(sigs, "v1,"+signature(key, msgID, timestamp, body))
	}
	return strings.Join(sigs, " "), nil
}

// Headers returns the three Standard Webhooks headers for one delivery attempt.
// msgID must stay the same across retries so receivers can deduplicate; ts is the
// time of this attempt.
func Headers(secrets []string, msgID string, ts time.Time, body []byte) (http.Header, error) {
	sig, err := Sign(secrets, msgID, ts, body)
	if err != nil {
		return nil, err
	}
	h := make(http.Header, 3)
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h, nil
}

// Verify checks a signed request as a receiver would: the timestamp is within
// tolerance of now in either direction (which bounds replays), and one of the v1
// signatures in webhook-signature was made with secret over this exact body.
// Signatures are compared in constant time; other versions are ignored so that
// senders can add new schemes alongside v1.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	msgID, timestamp := h.Get(HeaderID), h.Get(HeaderTimestamp)
	// A proxy may split a long header into several lines; all of them count.
	sigs := strings.Join(h.Values(HeaderSignature), " ")
	if msgID == "" || timestamp == "" || strings.TrimSpace(sigs) == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	// Only the canonical decimal form is accepted: "+17" or "017" would be signed
	// as written by a sender yet mean the same instant, and nobody sends them.
	if err != nil || strconv.FormatInt(ts, 10) != timestamp {
		return fmt.Errorf("%w: %q", ErrInvalidTimestamp, timestamp)
	}
	at := time.Unix(ts, 0)
	if d := now.Sub(at); d > tolerance {
		return fmt.Errorf("%w: signed %s ago, tolerance %s", ErrTimestampTooOld, d.Truncate(time.Second), tolerance)
	}
	if d := at.Sub(now); d > tolerance {
		return fmt.Errorf("%w: signed %s ahead, tolerance %s", ErrTimestampTooNew, d.Truncate(time.Second), tolerance)
	}
	key, err := DecodeSecret(secret)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	want := []byte(signature(key, msgID, timestamp, body))
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
