// Package inbound verifies that a webhook arriving at a source really comes from its
// sender, in each sender's own scheme: Standard Webhooks, GitHub, Stripe, Shopify,
// Slack, a configurable HMAC, HTTP basic auth, a shared token, or — only when chosen
// explicitly — none. Every comparison is constant-time, and errors say what is
// wrong without ever revealing the expected value.
package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookflow/hookflow/internal/signing"
)

// Schemes.
const (
	StandardWebhooks = "standard-webhooks"
	GitHub           = "github"
	Stripe           = "stripe"
	Shopify          = "shopify"
	Slack            = "slack"
	HMAC             = "hmac"
	Basic            = "basic"
	Token            = "token"
	None             = "none"
)

// DefaultTolerance is how far a signed timestamp may be from now.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify; each is wrapped with a reason.
var (
	ErrMissing   = errors.New("signature missing")
	ErrInvalid   = errors.New("signature invalid")
	ErrTimestamp = errors.New("timestamp outside tolerance")
)

// Config is a source's verification settings. Secrets holds the current secret and,
// during a rotation, the previous one: a request signed with any of them passes.
type Config struct {
	Scheme          string
	Secrets         []string
	Header          string        // hmac: signature header; token: header carrying the token
	Algorithm       string        // hmac: sha256 (default) or sha512
	Encoding        string        // hmac: hex (default) or base64
	Prefix          string        // hmac: e.g. "sha256=" before the signature
	TimestampHeader string        // hmac: optional; signs "<timestamp>.<body>" when set
	Tolerance       time.Duration // timestamp schemes; DefaultTolerance when zero
	Username        string        // basic
}

// Verifier checks one request.
type Verifier interface {
	Verify(h http.Header, body []byte, now time.Time) error
}

// New checks cfg and returns its verifier.
func New(cfg Config) (Verifier, error) {
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = DefaultTolerance
	}
	needSecret := cfg.Scheme != None
	if needSecret && (len(cfg.Secrets) == 0 || cfg.Secrets[0] == "") {
		return nil, fmt.Errorf("scheme %q needs a secret", cfg.Scheme)
	}
	switch cfg.Scheme {
	case StandardWebhooks:
		for _, s := range cfg.Secrets {
			if _, err := signing.DecodeSecret(s); err != nil {
				return nil, fmt.Errorf("standard-webhooks secret: %w", err)
			}
		}
		return standard{cfg}, nil
	case GitHub:
		return hmacVerifier{secrets: cfg.Secrets, header: "X-Hub-Signature-256", prefix: "sha256=", newHash: sha256.New, encode: hex.EncodeToString}, nil
	case Shopify:
		return hmacVerifier{secrets: cfg.Secrets, header: "X-Shopify-Hmac-Sha256", newHash: sha256.New, encode: base64.StdEncoding.EncodeToString}, nil
	case Stripe:
		return stripe{cfg}, nil
	case Slack:
		return slack{cfg}, nil
	case HMAC:
		if cfg.Header == "" {
			return nil, errors.New("hmac needs the signature header name")
		}
		v := hmacVerifier{secrets: cfg.Secrets, header: cfg.Header, prefix: cfg.Prefix, tsHeader: cfg.TimestampHeader, tolerance: cfg.Tolerance}
		switch strings.ToLower(cfg.Algorithm) {
		case "", "sha256":
			v.newHash = sha256.New
		case "sha512":
			v.newHash = sha512.New
		default:
			return nil, fmt.Errorf("hmac algorithm %q: want sha256 or sha512", cfg.Algorithm)
		}
		switch strings.ToLower(cfg.Encoding) {
		case "", "hex":
			v.encode = hex.EncodeToString
		case "base64":
			v.encode = base64.StdEncoding.EncodeToString
		default:
			return nil, fmt.Errorf("hmac encoding %q: want hex or base64", cfg.Encoding)
		}
		return v, nil
	case Basic:
		if cfg.Username == "" {
			return nil, errors.New("basic needs a username")
		}
		return basic{cfg}, nil
	case Token:
		if cfg.Header == "" {
			return nil, errors.New("token needs the header name")
		}
		return token{cfg}, nil
	case None:
		return none{}, nil
	}
	return nil, fmt.Errorf("unknown verification scheme %q", cfg.Scheme)
}

func mac(newHash func() hash.Hash, secret string, parts ...[]byte) []byte {
	m := hmac.New(newHash, []byte(secret))
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// equal compares in constant time (length leaks, which reveals nothing secret).
func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func checkTimestamp(raw string, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp is not Unix seconds", ErrTimestamp)
	}
	d := now.Sub(time.Unix(ts, 0))
	if d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed %s from now, tolerance %s", ErrTimestamp, d.Round(time.Second), tolerance)
	}
	return nil
}

type standard struct{ cfg Config }

func (v standard) Verify(h http.Header, body []byte, now time.Time) error {
	if h.Get("webhook-signature") == "" || h.Get("webhook-id") == "" || h.Get("webhook-timestamp") == "" {
		return fmt.Errorf("%w: webhook-id, webhook-timestamp and webhook-signature are required", ErrMissing)
	}
	var last error
	for _, s := range v.cfg.Secrets {
		err := signing.Verify(s, h, body, now, v.cfg.Tolerance)
		if err == nil {
			return nil
		}
		if errors.Is(err, signing.ErrTimestampTooOld) || errors.Is(err, signing.ErrTimestampTooNew) || errors.Is(err, signing.ErrInvalidTimestamp) {
			return fmt.Errorf("%w: %v", ErrTimestamp, err)
		}
		last = err
	}
	return fmt.Errorf("%w: %v", ErrInvalid, last)
}

type hmacVerifier struct {
	secrets   []string
	header    string
	prefix    string
	tsHeader  string
	tolerance time.Duration
	newHash   func() hash.Hash
	encode    func([]byte) string
}

func (v hmacVerifier) Verify(h http.Header, body []byte, now time.Time) error {
	got := strings.TrimSpace(h.Get(v.header))
	if got == "" {
		return fmt.Errorf("%w: header %s is empty", ErrMissing, v.header)
	}
	if v.prefix != "" {
		if !strings.HasPrefix(got, v.prefix) {
			return fmt.Errorf("%w: %s must start with %q", ErrInvalid, v.header, v.prefix)
		}
		got = strings.TrimPrefix(got, v.prefix)
	}
	var parts [][]byte
	if v.tsHeader != "" {
		ts := h.Get(v.tsHeader)
		if ts == "" {
			return fmt.Errorf("%w: header %s is empty", ErrMissing, v.tsHeader)
		}
		if err := checkTimestamp(ts, now, v.tolerance); err != nil {
			return err
		}
		parts = append(parts, []byte(ts+"."))
	}
	parts = append(parts, body)
	for _, s := range v.secrets {
		if equal(got, v.encode(mac(v.newHash, s, parts...))) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s does not match the body", ErrInvalid, v.header)
}

// stripe: Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>...] over "<ts>.<body>".
type stripe struct{ cfg Config }

func (v stripe) Verify(h http.Header, body []byte, now time.Time) error {
	raw := h.Get("Stripe-Signature")
	if raw == "" {
		return fmt.Errorf("%w: Stripe-Signature header is empty", ErrMissing)
	}
	var ts string
	var sigs []string
	for _, item := range strings.Split(raw, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(item), "=")
		switch k {
		case "t":
			ts = val
		case "v1":
			sigs = append(sigs, val)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return fmt.Errorf("%w: Stripe-Signature needs t= and v1=", ErrMissing)
	}
	if err := checkTimestamp(ts, now, v.cfg.Tolerance); err != nil {
		return err
	}
	for _, s := range v.cfg.Secrets {
		want := hex.EncodeToString(mac(sha256.New, s, []byte(ts+"."), body))
		for _, sig := range sigs {
			if equal(sig, want) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: no v1 signature matches", ErrInvalid)
}

// slack: X-Slack-Signature: v0=<hex> over "v0:<ts>:<body>", X-Slack-Request-Timestamp.
type slack struct{ cfg Config }

func (v slack) Verify(h http.Header, body []byte, now time.Time) error {
	sig, ts := h.Get("X-Slack-Signature"), h.Get("X-Slack-Request-Timestamp")
	if sig == "" || ts == "" {
		return fmt.Errorf("%w: X-Slack-Signature and X-Slack-Request-Timestamp are required", ErrMissing)
	}
	if err := checkTimestamp(ts, now, v.cfg.Tolerance); err != nil {
		return err
	}
	for _, s := range v.cfg.Secrets {
		if equal(sig, "v0="+hex.EncodeToString(mac(sha256.New, s, []byte("v0:"+ts+":"), body))) {
			return nil
		}
	}
	return fmt.Errorf("%w: X-Slack-Signature does not match", ErrInvalid)
}

type basic struct{ cfg Config }

func (v basic) Verify(h http.Header, _ []byte, _ time.Time) error {
	r := http.Request{Header: h}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return fmt.Errorf("%w: Authorization: Basic is required", ErrMissing)
	}
	userOK := equal(user, v.cfg.Username)
	for _, s := range v.cfg.Secrets {
		if equal(pass, s) && userOK {
			return nil
		}
	}
	return fmt.Errorf("%w: wrong user name or password", ErrInvalid)
}

type token struct{ cfg Config }

func (v token) Verify(h http.Header, _ []byte, _ time.Time) error {
	got := strings.TrimSpace(h.Get(v.cfg.Header))
	if got == "" {
		return fmt.Errorf("%w: header %s is empty", ErrMissing, v.cfg.Header)
	}
	got = strings.TrimPrefix(got, "Bearer ")
	for _, s := range v.cfg.Secrets {
		if equal(got, s) {
			return nil
		}
	}
	return fmt.Errorf("%w: header %s holds the wrong token", ErrInvalid, v.cfg.Header)
}

type none struct{}

func (none) Verify(http.Header, []byte, time.Time) error { return nil }
