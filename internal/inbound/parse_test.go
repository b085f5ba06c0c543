package inbound

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseBody(t *testing.T) {
	tests := []struct {
		name, method, ct, body string
		query                  string
		want                   string // a key=value the result must hold (dot path)
		wantErr                error
	}{
		{"json", "POST", "application/json", `{"type":"review.created","data":{"rating":5}}`, "", "data.rating=5", nil},
		{"form", "POST", "application/x-www-form-urlencoded", "customer=john&value=20.00&item=book", "", "value=20.00", nil},
		{"get query", "GET", "", "", "customer=john&value=20.00&item=book", "customer=john", nil},
		{"multipart", "POST", "multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"rating\"\r\n\r\n4\r\n--XX--\r\n", "", "rating=4", nil},
		{"xml", "POST", "application/xml", `<review id="9"><rating>5</rating><customer><name>Ann</name></customer></review>`, "", "review.customer.name=Ann", nil},
		{"xml attribute", "POST", "text/xml", `<review id="9"><rating>5</rating></review>`, "", "review.@id=9", nil},
		{"unsupported", "POST", "text/plain", "hi", "", "", ErrUnsupportedType},
		{"bad json", "POST", "application/json", `{"a":`, "", "", ErrMalformed},
		{"json array", "POST", "application/json", `[1]`, "", "", ErrMalformed},
		{"deep json", "POST", "application/json", strings.Repeat("[", 10000), "", "", ErrMalformed},
		{"bad xml", "POST", "application/xml", `<a><b></a>`, "", "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			got, err := ParseBody(tt.method, tt.ct, q, []byte(tt.body))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			k, v, _ := strings.Cut(tt.want, "=")
			if got, ok := Lookup(got, k); !ok || got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		})
	}
}

func FuzzParseBody(f *testing.F) {
	for _, s := range []struct{ ct, body string }{
		{"application/json", `{"a":{"b":[1,2,{"c":"d"}]}}`},
		{"application/x-www-form-urlencoded", "a=1&a=2&b=%zz"},
		{"multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XX--\r\n"},
		{"application/xml", `<a x="1"><b>2</b><b>3</b></a>`},
		{"text/xml", `<a><![CDATA[x]]></a>`},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		m, err := ParseBody("POST", ct, nil, body)
		if err == nil && m == nil {
			t.Fatal("nil data without an error")
		}
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupportedType) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

func FuzzSignatureHeaders(f *testing.F) {
	f.Add("t=1800000000,v1=abc,v1=def", "v0=abc", "sha256=abc", "v1,abc v1,def", "1800000000")
	f.Fuzz(func(t *testing.T, stripeSig, slackSig, ghSig, swSig, ts string) {
		for _, cfg := range []Config{{Scheme: Stripe}, {Scheme: Slack}, {Scheme: GitHub}, {Scheme: Shopify},
			{Scheme: StandardWebhooks, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
			{Scheme: HMAC, Header: "X-Sig", Prefix: "sha256=", TimestampHeader: "X-Ts"}} {
			if len(cfg.Secrets) == 0 {
				cfg.Secrets = []string{"s"}
			}
			v, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			h := hdr("Stripe-Signature", stripeSig, "X-Slack-Signature", slackSig, "X-Slack-Request-Timestamp", ts,
				"X-Hub-Signature-256", ghSig, "X-Shopify-Hmac-Sha256", ghSig, "webhook-id", "m", "webhook-timestamp", ts,
				"webhook-signature", swSig, "X-Sig", ghSig, "X-Ts", ts)
			if err := v.Verify(h, []byte("{}"), time.Unix(1_800_000_000, 0)); err == nil {
				t.Fatalf("%s accepted a forged request", cfg.Scheme)
			}
		}
	})
}

// TestCheckQueryData: query-string data is refused on every scheme that signs only
// the body (the GET of the issue: a constant signature over the empty body), unless
// the source opts in; request-authenticating schemes and signed bodies pass.
func TestCheckQueryData(t *testing.T) {
	attack := "type=order.refunded&amount=1000000&customer=cus_victim"
	tests := []struct {
		name, scheme, method, query, body string
		allow                             bool
		wantErr                           bool
	}{
		{"github GET with query", GitHub, "GET", attack, "", false, true},
		{"standard-webhooks GET", StandardWebhooks, "GET", attack, "", false, true},
		{"stripe GET", Stripe, "GET", attack, "", false, true},
		{"shopify GET", Shopify, "GET", attack, "", false, true},
		{"slack GET", Slack, "GET", attack, "", false, true},
		{"hmac GET", HMAC, "GET", attack, "", false, true},
		{"hmac POST empty body with query", HMAC, "POST", attack, "", false, true},
		{"hmac POST whitespace body with query", HMAC, "POST", attack, " \n", false, true},
		{"github opted in", GitHub, "GET", attack, "", true, false},
		{"github signed body, query ignored", GitHub, "POST", attack, `{"a":1}`, false, false},
		{"github GET without query", GitHub, "GET", "", "", false, false},
		{"basic GET", Basic, "GET", attack, "", false, false},
		{"token GET", Token, "GET", attack, "", false, false},
		{"none GET", None, "GET", attack, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			err := CheckQueryData(tt.scheme, tt.allow, tt.method, q, []byte(tt.body))
			if got := errors.Is(err, ErrUnsignedData); got != tt.wantErr {
				t.Fatalf("err = %v, want unsigned data %v", err, tt.wantErr)
			}
			if tt.wantErr && !strings.Contains(err.Error(), "allow_unsigned_query") {
				t.Errorf("error %q does not say how to opt in", err)
			}
		})
	}
}
