package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func hexMAC(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// Published known answers.
func TestKnownAnswers(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		h    http.Header
		body string
		now  time.Time
	}{
		{"standard webhooks spec vector", Config{Scheme: StandardWebhooks, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
			hdr("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp", "1614265330",
				"webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
			`{"test": 2432232314}`, time.Unix(1614265330, 0)},
		{"github docs example", Config{Scheme: GitHub, Secrets: []string{"It's a Secret to Everybody"}},
			hdr("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
			"Hello, World!", time.Now()},
		{"slack docs example", Config{Scheme: Slack, Secrets: []string{"8f742231b10e8888abcd99yyyzzz85a5"}},
			hdr("X-Slack-Request-Timestamp", "1531420618", "X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"),
			"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
			time.Unix(1531420618, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Verify(tt.h, []byte(tt.body), tt.now); err != nil {
				t.Errorf("valid request refused: %v", err)
			}
			if err := v.Verify(tt.h, []byte(tt.body+" "), tt.now); !errors.Is(err, ErrInvalid) {
				t.Errorf("changed body: %v, want ErrInvalid", err)
			}
			wrong := tt.cfg
			wrong.Secrets = []string{"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
			wv, _ := New(wrong)
			if err := wv.Verify(tt.h, []byte(tt.body), tt.now); !errors.Is(err, ErrInvalid) {
				t.Errorf("wrong secret: %v, want ErrInvalid", err)
			}
		})
	}
}

// Each scheme accepts a request built per its docs and refuses a changed body, a
// wrong secret and (where signed) a stale timestamp.
func TestSchemes(t *testing.T) {
	const secret, body = "s3cr3t", `{"id":"x","amount":100}`
	now := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	stale := strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)
	shop := func(b string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(b))
		return base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	sha512b64 := func(msg string) string {
		m := hmac.New(sha512.New, []byte(secret))
		m.Write([]byte(msg))
		return base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	tests := []struct {
		name     string
		cfg      Config
		sign     func(ts, body string) http.Header
		hasStamp bool
	}{
		{"stripe", Config{Scheme: Stripe}, func(ts, b string) http.Header {
			return hdr("Stripe-Signature", "t="+ts+",v1=deadbeef,v1="+hexMAC(secret, ts+"."+b)) // several v1 during a roll
		}, true},
		{"shopify", Config{Scheme: Shopify}, func(_, b string) http.Header { return hdr("X-Shopify-Hmac-Sha256", shop(b)) }, false},
		{"slack", Config{Scheme: Slack}, func(ts, b string) http.Header {
			return hdr("X-Slack-Request-Timestamp", ts, "X-Slack-Signature", "v0="+hexMAC(secret, "v0:"+ts+":"+b))
		}, true},
		{"github", Config{Scheme: GitHub}, func(_, b string) http.Header { return hdr("X-Hub-Signature-256", "sha256="+hexMAC(secret, b)) }, false},
		{"hmac sha512 base64 with timestamp", Config{Scheme: HMAC, Header: "X-Sig", Algorithm: "sha512", Encoding: "base64", Prefix: "v1=", TimestampHeader: "X-Ts"},
			func(ts, b string) http.Header { return hdr("X-Ts", ts, "X-Sig", "v1="+sha512b64(ts+"."+b)) }, true},
		{"hmac sha256 hex", Config{Scheme: HMAC, Header: "X-Sig"}, func(_, b string) http.Header { return hdr("X-Sig", hexMAC(secret, b)) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Secrets = []string{"new-secret", secret} // rotation: the old one still passes
			v, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Verify(tt.sign(ts, body), []byte(body), now); err != nil {
				t.Errorf("valid: %v", err)
			}
			if err := v.Verify(tt.sign(ts, body), []byte(body+"x"), now); !errors.Is(err, ErrInvalid) {
				t.Errorf("changed body: %v", err)
			}
			cfg.Secrets = []string{"other"}
			wv, _ := New(cfg)
			if err := wv.Verify(tt.sign(ts, body), []byte(body), now); !errors.Is(err, ErrInvalid) {
				t.Errorf("wrong secret: %v", err)
			}
			if tt.hasStamp {
				if err := v.Verify(tt.sign(stale, body), []byte(body), now); !errors.Is(err, ErrTimestamp) {
					t.Errorf("stale timestamp: %v, want ErrTimestamp", err)
				}
			}
			if err := v.Verify(http.Header{}, []byte(body), now); !errors.Is(err, ErrMissing) {
				t.Errorf("no signature: %v, want ErrMissing", err)
			}
		})
	}
}

func TestStandardWebhooksStale(t *testing.T) {
	v, err := New(Config{Scheme: StandardWebhooks, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}})
	if err != nil {
		t.Fatal(err)
	}
	h := hdr("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp", "1614265330",
		"webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	if err := v.Verify(h, []byte(`{"test": 2432232314}`), time.Unix(1614265330, 0).Add(6*time.Minute)); !errors.Is(err, ErrTimestamp) {
		t.Errorf("stale: %v, want ErrTimestamp", err)
	}
	if err := v.Verify(hdr("webhook-id", "m"), nil, time.Now()); !errors.Is(err, ErrMissing) {
		t.Errorf("missing: %v, want ErrMissing", err)
	}
}

func TestBasicTokenNone(t *testing.T) {
	b, _ := New(Config{Scheme: Basic, Username: "shop", Secrets: []string{"pw"}})
	r, _ := http.NewRequest("POST", "/", nil)
	r.SetBasicAuth("shop", "pw")
	if err := b.Verify(r.Header, nil, time.Now()); err != nil {
		t.Errorf("basic: %v", err)
	}
	r.SetBasicAuth("shop", "nope")
	if err := b.Verify(r.Header, nil, time.Now()); !errors.Is(err, ErrInvalid) {
		t.Errorf("basic wrong password: %v", err)
	}
	tok, _ := New(Config{Scheme: Token, Header: "X-Token", Secrets: []string{"abc"}})
	if err := tok.Verify(hdr("X-Token", "abc"), nil, time.Now()); err != nil {
		t.Errorf("token: %v", err)
	}
	if err := tok.Verify(hdr("X-Token", "abd"), nil, time.Now()); !errors.Is(err, ErrInvalid) {
		t.Errorf("wrong token: %v", err)
	}
	n, _ := New(Config{Scheme: None})
	if err := n.Verify(http.Header{}, nil, time.Now()); err != nil {
		t.Errorf("none: %v", err)
	}
	for _, bad := range []Config{{Scheme: "magic", Secrets: []string{"x"}}, {Scheme: GitHub}, {Scheme: HMAC, Secrets: []string{"x"}},
		{Scheme: HMAC, Header: "X", Algorithm: "md5", Secrets: []string{"x"}}, {Scheme: StandardWebhooks, Secrets: []string{"whsec_!!"}}} {
		if _, err := New(bad); err == nil {
			t.Errorf("config %+v accepted", bad)
		}
	}
}
