package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func decodeJSON(t *testing.T, resp *http.Response, out any) {
	t.Helper()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// TestAuthAndWorkspaces: no key or a wrong key is 401; another workspace's
// endpoint is 404; the first key of a new workspace works there.
func TestAuthAndWorkspaces(t *testing.T) {
	s := newStack(t)
	ep := s.createEndpoint("https://example.com/hook")

	var e apiError
	if code := s.doKey("", "GET", "/v1/endpoints", nil, &e); code != http.StatusUnauthorized || e.Error.Code != "unauthorized" {
		t.Errorf("no key: %d %+v, want 401 unauthorized", code, e)
	}
	if code := s.doKey("hfk_wrong", "GET", "/v1/endpoints", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("wrong key: %d, want 401", code)
	}

	var created struct {
		Key         string
		WorkspaceID string
	}
	created.WorkspaceID, created.Key = s.newWorkspace("Other")
	if !strings.HasPrefix(created.Key, "hfk_") || !strings.HasPrefix(created.WorkspaceID, "ws_") {
		t.Fatalf("created %+v", created)
	}
	e = apiError{}
	if code := s.doKey(created.Key, "GET", "/v1/endpoints/"+ep.ID, nil, &e); code != http.StatusNotFound || e.Error.Code != "not_found" {
		t.Errorf("other workspace GET: %d %+v, want 404", code, e)
	}
	if code := s.doKey(created.Key, "DELETE", "/v1/endpoints/"+ep.ID, nil, nil); code != http.StatusNotFound {
		t.Errorf("other workspace DELETE: %d, want 404", code)
	}
	var list struct {
		Data []json.RawMessage `json:"data"`
	}
	if code := s.doKey(created.Key, "GET", "/v1/endpoints", nil, &list); code != http.StatusOK || len(list.Data) != 0 {
		t.Errorf("other workspace list: %d with %d items, want 200 and none", code, len(list.Data))
	}
	if code := s.do("GET", "/v1/endpoints/"+ep.ID, nil, nil); code != http.StatusOK {
		t.Errorf("own endpoint still visible: %d", code)
	}
}

// TestBadInput: malformed requests get a 4xx with a JSON error that says what is
// wrong, and nothing is created.
func TestBadInput(t *testing.T) {
	s := newStack(t)
	big := `{"type":"x.y","data":{"blob":"` + strings.Repeat("a", 300<<10) + `"}}`
	tests := []struct {
		name, method, path, body string
		want                     int
		wantIn                   string
	}{
		{"event not JSON", "POST", "/v1/events", `type=x`, 400, "malformed JSON"},
		{"event without type", "POST", "/v1/events", `{"data":{}}`, 400, "type"},
		{"event bad type", "POST", "/v1/events", `{"type":"has space"}`, 400, "type"},
		{"event data not object", "POST", "/v1/events", `{"type":"a.b","data":[1]}`, 400, "data"},
		{"event too big", "POST", "/v1/events", big, 413, "exceeds"},
		{"unknown field", "POST", "/v1/events", `{"type":"a.b","dat":{}}`, 400, "dat"},
		{"invalid UTF-8 in a string", "POST", "/v1/events", "{\"type\":\"a.b\",\"data\":{\"x\":\"caf\xe9\"}}", 400, "UTF-8"},
		{"endpoint no url", "POST", "/v1/endpoints", `{"event_types":["*"]}`, 400, "url"},
		{"endpoint ftp url", "POST", "/v1/endpoints", `{"url":"ftp://example.com","event_types":["*"]}`, 400, "url"},
		{"endpoint credentials", "POST", "/v1/endpoints", `{"url":"https://u:p@example.com","event_types":["*"]}`, 400, "url"},
		{"endpoint not a url", "POST", "/v1/endpoints", `{"url":"::nope","event_types":["*"]}`, 400, "url"},
		{"endpoint no types", "POST", "/v1/endpoints", `{"url":"https://example.com","event_types":[]}`, 400, "event_types"},
		{"endpoint bad filter", "POST", "/v1/endpoints", `{"url":"https://example.com","event_types":["*"],"filter":"event.data.x >"}`, 400, "filter"},
		{"endpoint metadata ip", "POST", "/v1/endpoints", `{"url":"http://169.254.169.254/latest","event_types":["*"]}`, 400, "url"},
		{"unknown route", "GET", "/v1/nope", ``, 404, "no route"},
		{"bad status filter", "GET", "/v1/deliveries?status=weird", ``, 400, "status"},
		{"garbage cursor", "GET", "/v1/events?cursor=zzz", ``, 400, "cursor"},
		{"cursor of another list", "GET", "/v1/endpoints?cursor=evt_01kaz3v0y6m2x8f4hn9q7r5t1c", ``, 400, "cursor"},
		{"sql in cursor", "GET", "/v1/deliveries?cursor=del_'%20OR%20'1'='1", ``, 400, "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.body != "" {
				body = tt.body
			}
			var e apiError
			code := s.do(tt.method, tt.path, body, &e)
			if code != tt.want {
				t.Fatalf("status %d, want %d (%+v)", code, tt.want, e)
			}
			if e.Error.Code == "" || !strings.Contains(e.Error.Message, tt.wantIn) {
				t.Errorf("error %+v, want a code and a message mentioning %q", e.Error, tt.wantIn)
			}
		})
	}
	var list struct {
		Data []json.RawMessage `json:"data"`
	}
	s.do("GET", "/v1/endpoints", nil, &list)
	if len(list.Data) != 0 {
		t.Errorf("%d endpoints exist after only bad requests", len(list.Data))
	}
	s.do("GET", "/v1/events", nil, &list)
	if len(list.Data) != 0 {
		t.Errorf("%d events exist after only bad requests", len(list.Data))
	}
}

// TestPagination walks a list a page at a time by next_cursor: every item once, in
// order, and a null next_cursor on the last page.
func TestPagination(t *testing.T) {
	s := newStack(t)
	var made []string
	for i := range 5 {
		made = append(made, s.createEndpoint(fmt.Sprintf("https://example.com/hook/%d", i)).ID)
	}
	var seen []string
	path, pages := "/v1/endpoints?limit=2", 0
	for {
		var page struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
			NextCursor *string `json:"next_cursor"`
		}
		if code := s.do("GET", path, nil, &page); code != http.StatusOK {
			t.Fatalf("GET %s: status %d", path, code)
		}
		pages++
		for _, e := range page.Data {
			seen = append(seen, e.ID)
		}
		if page.NextCursor == nil {
			break
		}
		if pages > 5 {
			t.Fatal("more pages than items")
		}
		path = "/v1/endpoints?limit=2&cursor=" + *page.NextCursor
	}
	if pages != 3 || strings.Join(seen, ",") != strings.Join(made, ",") {
		t.Errorf("%d pages with %v, want 3 pages with %v", pages, seen, made)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
