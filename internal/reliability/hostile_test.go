//go:build reliability

package reliability

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/signing"
	"github.com/hookflow/hookflow/internal/testenv"
)

// hostile is one request the API must refuse with a clear 4xx.
type hostile struct {
	name        string
	method      string
	path        string
	contentType string // "" = application/json
	body        string
	header      http.Header
	signed      bool // sign the body as the test source's sender would
}

const sqlish = `'; DROP TABLE events; --`

func nested(open, close string, depth int, inner string) string {
	return strings.Repeat(open, depth) + inner + strings.Repeat(close, depth)
}

// hostileRequests are requests that must each be refused: malformed, oversized,
// mistyped, or carrying SQL-looking text and pathological CEL in fields that
// validation rejects. Nothing here may change the database.
func hostileRequests(src string) []hostile {
	deepObj := nested(`{"a":`, `}`, 10_001, `1`)
	deepArr := nested(`[`, `]`, 10_001, `1`)
	big := `{"type":"rel.big","data":{"s":"` + strings.Repeat("x", 10<<20) + `"}}`
	bad := "\xff\xfe\xfd"
	celDeep := nested("(", ")", 2_000, "true")
	celLong := strings.Repeat("event.data.x == 1 || ", 300) + "true"
	celBomb := "[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, a + b + c + d > 0 &&"
	var hs []hostile
	add := func(h hostile) { hs = append(hs, h) }
	for _, route := range []string{"/v1/events", "/v1/endpoints", "/v1/automations", "/v1/sources"} {
		add(hostile{name: "malformed JSON", method: "POST", path: route, body: `{"type":"rel.x","data":{`})
		add(hostile{name: "trailing garbage", method: "POST", path: route, body: `{"name":"x"} {"name":"y"}`})
		add(hostile{name: "not an object", method: "POST", path: route, body: `[1,2,3]`})
		add(hostile{name: "empty body", method: "POST", path: route, body: ``})
		add(hostile{name: "invalid UTF-8 bytes", method: "POST", path: route, body: bad})
		add(hostile{name: "10,001-deep objects", method: "POST", path: route, body: `{"data":` + deepObj + `}`})
		add(hostile{name: "10,001-deep arrays", method: "POST", path: route, body: `{"data":` + deepArr + `}`})
		add(hostile{name: "10 MB body", method: "POST", path: route, body: big})
		add(hostile{name: "text/plain", method: "POST", path: route, contentType: "text/plain", body: `{"type":"rel.x"}`})
		add(hostile{name: "application/xml", method: "POST", path: route, contentType: "application/xml", body: `<type>rel.x</type>`})
		add(hostile{name: "multipart", method: "POST", path: route, contentType: "multipart/form-data; boundary=x", body: "--x\r\n\r\nrel.x\r\n--x--"})
		add(hostile{name: "unknown field with SQL", method: "POST", path: route, body: `{"` + sqlish + `":"` + sqlish + `"}`})
		add(hostile{name: "no API key", method: "POST", path: route, body: `{}`, header: http.Header{"Authorization": {"Bearer " + sqlish}}})
	}
	// /v1/events: field by field.
	for _, b := range []string{
		`{"type":"` + sqlish + `","id":"` + sqlish + `","data":{"q":"` + sqlish + `"}}`,
		`{"type":"rel.x\` + `u0000","data":{}}`,
		`{"type":"rel.x","id":"` + strings.Repeat("a", 10_000) + `"}`,
		`{"type":"rel.x","id":"a\u0000b"}`,
		`{"type":"rel.x","data":"` + sqlish + `"}`,
		`{"type":"rel.x","data":[1,2]}`,
		`{"type":1e999999,"data":{}}`,
		`{"type":"rel.x","data":{"n":1e999999999999}}` + "x",
		`{"type":"` + bad + `"}`,
		`{"type":"rel.x","data":` + deepObj + `}`,
	} {
		add(hostile{name: "bad event", method: "POST", path: "/v1/events", body: b})
	}
	// /v1/endpoints
	for _, b := range []string{
		`{"url":"` + sqlish + `","event_types":["` + sqlish + `"],"description":"` + sqlish + `","filter":"` + sqlish + `"}`,
		`{"url":"http://127.0.0.1:1/x","event_types":["rel.x"],"filter":"` + celDeep + `"}`,
		`{"url":"http://127.0.0.1:1/x","event_types":["rel.x"],"filter":"` + celLong + strings.Repeat(" || true", 1000) + `"}`,
		`{"url":"http://127.0.0.1:1/x","event_types":["rel.x"],"filter":"` + celBomb + `"}`,
		`{"url":"http://127.0.0.1:1/x","event_types":["rel.x"],"filter":"event.data.x +"}`,
		`{"url":"http://127.0.0.1:1/x","event_types":["rel.x"],"filter":"nope.x == 1"}`,
		`{"url":"http://127.0.0.1:1/x","event_types":["rel.x"],"rate_limit_per_second":1e400}`,
		`{"url":"http://127.0.0.1:1/x","event_types":["rel.x"],"rate_limit_per_second":99999999999999999999999}`,
		`{"url":"http://127.0.0.1:1/x","event_types":["rel.x"],"rate_limit_per_second":-1}`,
		`{"url":"http://127.0.0.1:1/` + bad + `","event_types":["rel.x` + bad + `"]}`,
		`{"url":"http://127.0.0.1:1/x","event_types":"rel.x"}`,
		`{"url":"javascript:alert(1)","event_types":["rel.x"]}`,
	} {
		add(hostile{name: "bad endpoint", method: "POST", path: "/v1/endpoints", body: b})
	}
	// /v1/automations
	step := `{"id":"s","action":"event.emit","params":{"type":"rel.y"}}`
	for _, b := range []string{
		`{"name":"` + sqlish + `","trigger":{"event_type":"` + sqlish + `","filter":"` + sqlish + `"},"steps":[{"id":"` + sqlish + `","action":"` + sqlish + `","params":{"x":"` + sqlish + `"}}]}`,
		`{"name":"x","trigger":{"event_type":"rel.x","filter":"` + celDeep + `"},"steps":[` + step + `]}`,
		`{"name":"x","trigger":{"event_type":"rel.x","filter":"` + celBomb + `"},"steps":[` + step + `]}`,
		`{"name":"x","trigger":{"event_type":"rel.x","filter":"` + celLong + strings.Repeat(" || true", 1000) + `"},"steps":[` + step + `]}`,
		`{"name":"x","trigger":{"event_type":"rel.x"},"steps":[{"id":"s","action":"loyalty.award_points","params":{"customer_id":"c","points":{"$expr":"` + celDeep + `"}}}]}`,
		`{"name":"x","trigger":{"event_type":"rel.x"},"steps":[{"id":"s","action":"loyalty.award_points","params":{"customer_id":"c","points":1e400}}]}`,
		`{"name":"x","trigger":{"event_type":"rel.x"},"steps":[{"id":"s","action":"event.emit","params":{"type":"{{ ` + nested("(", ")", 5000, ".event") + `) }}"}}]}`,
		`{"name":"x","trigger":{"event_type":"rel.x"},"steps":[{"id":"s","action":"event.emit","params":{"type":"{{ .event.data.x "}}]}`,
		`{"name":"x","trigger":{"event_type":"rel.x"},"steps":[]}`,
		`{"name":"x","trigger":{"event_type":"rel.x"},"steps":` + deepArr + `}`,
	} {
		add(hostile{name: "bad automation", method: "POST", path: "/v1/automations", body: b})
	}
	// /v1/sources
	for _, b := range []string{
		`{"name":"` + sqlish + `","verification":{"scheme":"` + sqlish + `"},"event_type":{"path":"` + sqlish + `"}}`,
		`{"name":"x","verification":{"scheme":"hmac","algorithm":"` + sqlish + `"},"event_type":{"value":"rel.x"}}`,
		`{"name":"x","verification":{"scheme":"none"},"event_type":{"value":"rel.x"},"max_body_bytes":1e400}`,
		`{"name":"x","verification":{"scheme":"none"},"event_type":{"value":"rel.x"},"max_body_bytes":99999999999}`,
		`{"name":"x","verification":{"scheme":"none"},"event_type":{"header":"a","path":"b"}}`,
	} {
		add(hostile{name: "bad source", method: "POST", path: "/v1/sources", body: b})
	}
	// Other writes on the main resources.
	for _, r := range []struct{ method, path, body string }{
		{"PATCH", "/v1/endpoints/" + sqlish, `{"description":"x"}`},
		{"DELETE", "/v1/endpoints/' OR '1'='1", ``},
		{"DELETE", "/v1/automations/1%20OR%201=1", ``},
		{"DELETE", "/v1/sources/' OR 1=1 --", ``},
		{"PUT", "/v1/automations/" + sqlish, `{"name":"x"}`},
		{"POST", "/v1/endpoints/" + sqlish + "/rotate-secret", `{}`},
		{"POST", "/v1/deliveries/" + sqlish + "/retry", ``},
		{"POST", "/v1/runs/" + sqlish + "/retry", ``},
		{"PUT", "/v1/loyalty/tiers", `{"tiers":[{"name":"` + sqlish + `","min_points":99999999999999999999999}]}`},
		{"PUT", "/v1/loyalty/tiers", `{"tiers":[{"name":"A","min_points":1e400}]}`},
		{"POST", "/v1/loyalty/members/" + sqlish + "/redemptions", `{"points":1e400}`},
		{"POST", "/v1/api-keys", `{"name":"` + sqlish + `","workspace_id":` + deepObj + `}`},
	} {
		add(hostile{name: "bad write", method: r.method, path: r.path, body: r.body})
	}
	// Reads with SQL-looking ids and query parameters (reads never change the database).
	for _, p := range []string{
		"/v1/events/" + sqlish, "/v1/events?limit=1e999", "/v1/events?limit=-1",
		"/v1/endpoints/' OR 1=1 --", "/v1/automations/' OR 1=1 --", "/v1/sources/' OR 1=1 --",
		"/v1/deliveries?endpoint_id=x&limit=99999999999999999999", "/v1/loyalty/members/' OR '1'='1",
		"/v1/runs/" + sqlish, "/v1/endpoints?limit=" + sqlish,
		"/v1/events?cursor=" + sqlish, "/v1/deliveries?cursor=evt_" + sqlish, "/v1/automations?cursor=zzz",
	} {
		add(hostile{name: "bad read", method: "GET", path: strings.NewReplacer(" ", "%20", "'", "%27", ";", "%3B").Replace(p)})
	}
	// The doorbell: a Standard Webhooks source; bodies signed correctly unless the
	// signature is the point.
	hook := "/hooks/" + src
	for _, h := range []hostile{
		{name: "hook malformed JSON", body: `{"type":"rel.x",`, signed: true},
		{name: "hook invalid UTF-8", body: bad, signed: true},
		{name: "hook 10,001-deep", body: `{"type":"rel.x","d":` + deepObj + `}`, signed: true},
		{name: "hook 10 MB", body: big, signed: true},
		{name: "hook huge number in the id path", body: `{"type":"rel.x","d":1e999999999999` + strings.Repeat("9", 5000) + `x}`, signed: true},
		{name: "hook SQL event type", body: `{"type":"` + sqlish + `"}`, signed: true},
		{name: "hook xml", contentType: "application/xml", body: `<type>rel.x</type>`, signed: true},
		{name: "hook unsigned", body: `{"type":"rel.x"}`},
		{name: "hook SQL signature", body: `{"type":"rel.x"}`, header: http.Header{"Webhook-Id": {sqlish}, "Webhook-Timestamp": {sqlish}, "Webhook-Signature": {"v1," + sqlish}}},
	} {
		h.method, h.path = "POST", hook
		add(h)
	}
	add(hostile{name: "hook unknown source", method: "POST", path: "/hooks/' OR 1=1 --", body: `{}`})
	return hs
}

// tableCounts is the row count of every table of the app database.
func tableCounts(t *testing.T, db *sql.DB) map[string]int {
	t.Helper()
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string]int{}
	for _, n := range tables {
		out[n] = queryInt(t, db, fmt.Sprintf(`SELECT count(*) FROM %q`, n))
	}
	return out
}

// TestHostileInput: malformed, oversized, mistyped and SQL-laden requests and
// pathological CEL on the main routes each get a clear 4xx with the JSON error body;
// none gets a 5xx, the server logs no panic, and every table keeps its row count.
func TestHostileInput(t *testing.T) {
	rep := scenario(t, 7, "Hostile input on events, endpoints, automations, sources, hooks")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := newCluster(ctx, t, clusterOptions{})
	srv := c.add(ctx, "server", "server --with-worker")
	api := newAPIClient(c.key)
	base := "http://" + srv.Addr
	var src struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	api.must(ctx, t, 201, "POST", base+"/v1/sources", `{"name":"doorbell","verification":{"scheme":"standard-webhooks"},"event_type":{"path":"type"}}`, &src)
	api.must(ctx, t, 201, "POST", base+"/v1/endpoints", map[string]any{"url": "http://127.0.0.1:1/unused", "event_types": []string{"rel.other"}}, nil)
	api.must(ctx, t, 201, "POST", base+"/v1/automations", testenv.FlagshipAward(), nil)

	db := openDB(t, c.dsn)
	before := tableCounts(t, db)
	reqs := hostileRequests(src.ID)
	codes := map[string]int{}
	var bad []string
	for i, h := range reqs {
		header := http.Header{}
		for k, v := range h.header {
			header[k] = v
		}
		if h.contentType != "" {
			header.Set("Content-Type", h.contentType)
		}
		if h.signed {
			sig, err := signing.Headers([]string{src.Secret}, fmt.Sprintf("msg_hostile_%d", i), time.Now(), []byte(h.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range sig {
				header[k] = v
			}
		}
		var body any
		if h.body != "" || h.method != "GET" {
			body = h.body
		}
		ans := api.do(ctx, h.method, base+h.path, body, header)
		what := fmt.Sprintf("%s %s (%s)", h.method, testenv.Tail(h.path, 60), h.name)
		if ans.Err != nil {
			bad = append(bad, what+": "+ans.Err.Error())
			continue
		}
		codes[fmt.Sprint(ans.Code)]++
		var e struct {
			Error struct{ Code, Message string }
		}
		switch {
		case ans.Code < 400 || ans.Code > 499:
			bad = append(bad, fmt.Sprintf("%s: %s, want a 4xx", what, ans))
		case json.Unmarshal(ans.Body, &e) != nil || e.Error.Code == "" || e.Error.Message == "":
			bad = append(bad, fmt.Sprintf("%s: %s, want the JSON error body", what, ans))
		}
	}
	for _, b := range bad {
		t.Error(b)
	}
	after := tableCounts(t, db)
	var changed []string
	for table, n := range before {
		if after[table] != n {
			changed = append(changed, fmt.Sprintf("%s %d→%d", table, n, after[table]))
		}
	}
	sort.Strings(changed)
	if len(changed) > 0 || len(after) != len(before) {
		t.Errorf("the database changed: %v", changed)
	}
	panics := strings.Count(strings.ToLower(srv.Out.String()), "panic")
	if panics > 0 {
		t.Errorf("the server logged %d panics", panics)
	}
	rep.Sent = fmt.Sprintf("%d requests", len(reqs))
	rep.Acked = "0"
	rep.Delivered, rep.Lost, rep.Duplicates = "n/a", "n/a", "n/a"
	rep.Checks = fmt.Sprintf("answers: %s; not a clear 4xx with the JSON error body: %d; panics in the server log: %d; tables with a changed row count: %d of %d",
		summarize(codes), len(bad), panics, len(changed), len(before))
}
