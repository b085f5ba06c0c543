package api

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/hookflow/hookflow/internal/metrics"
)

func loadSpec(t *testing.T) (*spec, []specOp) {
	t.Helper()
	sp, ops, err := parseSpec(openapiYAML)
	if err != nil {
		t.Fatal(err)
	}
	return sp, ops
}

// openapiPath turns a Gin path into an OpenAPI one: /v1/events/:id → /v1/events/{id}.
func openapiPath(ginPath string) string {
	segs := strings.Split(ginPath, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

// TestOpenAPIMatchesRouter: the document lists exactly the routes Gin serves, both
// with and without the dev inbox (whose operations are marked x-dev-only).
func TestOpenAPIMatchesRouter(t *testing.T) {
	_, ops := loadSpec(t)
	for _, dev := range []bool{false, true} {
		srv := New(nil, nil, nil, nil, nil, Config{DevInbox: dev, Metrics: metrics.New(metrics.Options{})})
		served := map[string]bool{}
		for _, r := range srv.Routes() {
			served[r[0]+" "+openapiPath(r[1])] = true
		}
		documented := map[string]bool{}
		for _, o := range ops {
			if !o.DevOnly || dev {
				documented[o.Method+" "+o.Path] = true
			}
		}
		var missing, extra []string
		for r := range served {
			if !documented[r] {
				missing = append(missing, r)
			}
		}
		for r := range documented {
			if !served[r] {
				extra = append(extra, r)
			}
		}
		slices.Sort(missing)
		slices.Sort(extra)
		if len(missing) > 0 {
			t.Errorf("dev=%v: routes missing from api/openapi.yaml:\n  %s", dev, strings.Join(missing, "\n  "))
		}
		if len(extra) > 0 {
			t.Errorf("dev=%v: api/openapi.yaml lists routes the router does not serve:\n  %s", dev, strings.Join(extra, "\n  "))
		}
	}
}

func TestOpenAPIStructure(t *testing.T) {
	sp, ops := loadSpec(t)
	if sp.OpenAPI != "3.1.0" {
		t.Errorf("openapi: %q, want 3.1.0", sp.OpenAPI)
	}
	tags := map[string]bool{}
	for _, tag := range sp.Tags {
		tags[tag.Name] = true
	}
	ids := map[string]string{}
	pathParam := regexp.MustCompile(`\{([^}]+)\}`)
	for _, o := range ops {
		where := o.Method + " " + o.Path
		switch {
		case o.OperationID == "":
			t.Errorf("%s: no operationId", where)
		case ids[o.OperationID] != "":
			t.Errorf("%s: operationId %q is also %s", where, o.OperationID, ids[o.OperationID])
		}
		ids[o.OperationID] = where
		if o.Summary == "" {
			t.Errorf("%s: no summary", where)
		}
		if len(o.Responses) == 0 {
			t.Errorf("%s: no responses", where)
		}
		if len(o.Tags) == 0 || !tags[o.Tags[0]] {
			t.Errorf("%s: tags %v: the first must be one of the document's tags", where, o.Tags)
		}
		// /v1 needs the API key (the document's default); nothing else does.
		if v1 := strings.HasPrefix(o.Path, "/v1/"); v1 == o.Public() {
			t.Errorf("%s: public=%v, want %v (set security: [] exactly on routes without an API key)", where, o.Public(), !v1)
		}
		for _, m := range pathParam.FindAllStringSubmatch(o.Path, -1) {
			if !slices.ContainsFunc(o.Params, func(p parameter) bool { return p.In == "path" && p.Name == m[1] && p.Required }) {
				t.Errorf("%s: path parameter %q is not declared (required, in: path)", where, m[1])
			}
		}
		for _, r := range o.Responses {
			if r.Description == "" {
				t.Errorf("%s: response %s has no description (or its $ref does not resolve)", where, r.Status)
			}
			if r.Status == "429" {
				if _, ok := r.Headers["Retry-After"]; !ok {
					t.Errorf("%s: 429 without a Retry-After header", where)
				}
			}
		}
	}

	// Every $ref points at something in the document.
	var doc any
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		t.Fatal(err)
	}
	refs := 0
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if k == "$ref" {
					refs++
					if err := resolveRef(doc, fmt.Sprint(e)); err != nil {
						t.Errorf("%s: %v", at, err)
					}
					continue
				}
				walk(e, at+"/"+k)
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s/%d", at, i))
			}
		}
	}
	walk(doc, "#")
	if refs < 50 {
		t.Errorf("only %d $refs found; is the walk broken?", refs)
	}
}

// resolveRef follows a local JSON pointer such as #/components/schemas/Endpoint.
func resolveRef(doc any, ref string) error {
	if !strings.HasPrefix(ref, "#/components/") {
		return fmt.Errorf("$ref %q: want a local #/components/… reference", ref)
	}
	cur := doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok || m[tok] == nil {
			return fmt.Errorf("$ref %q does not resolve (at %q)", ref, tok)
		}
		cur = m[tok]
	}
	return nil
}

func TestOpenAPIServed(t *testing.T) {
	srv := New(nil, nil, nil, nil, nil, Config{Metrics: metrics.New(metrics.Options{})})
	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s without an API key: %d %s", path, w.Code, w.Body)
		}
		return w
	}

	w := get("/openapi.yaml")
	if ct := w.Header().Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("/openapi.yaml Content-Type %q", ct)
	}
	if w.Body.String() != string(openapiYAML) {
		t.Error("/openapi.yaml is not the embedded document")
	}

	w = get("/docs")
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("/docs Content-Type %q", ct)
	}
	page := w.Body.String()
	for _, bad := range []string{"<script", "<link", "src=", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("/docs holds %q; it must load nothing from elsewhere", bad)
		}
	}
	_, ops := loadSpec(t)
	for _, o := range ops {
		for _, want := range []string{`id="` + o.OperationID + `"`, o.Path, html.EscapeString(o.Summary)} {
			if !strings.Contains(page, want) {
				t.Errorf("/docs: %s %s: %q not on the page", o.Method, o.Path, want)
			}
		}
	}
	for _, want := range []string{"EndpointCreate", "Retry-After", "int(event.data.rating)"} {
		if !strings.Contains(page, html.EscapeString(want)) {
			t.Errorf("/docs: %q not on the page", want)
		}
	}
}

// TestREADMECurlExamples: every curl command in the README calls a documented
// operation with the right method, and sends the API key where one is needed.
func TestREADMECurlExamples(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	automations, err := os.ReadFile("../docs/AUTOMATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	_, ops := loadSpec(t)
	cmds := append(curlCommands(string(readme)), curlCommands(string(automations))...)
	if len(cmds) < 8 {
		t.Fatalf("found %d curl commands in README.md; is the parser broken?", len(cmds))
	}
	for _, words := range cmds {
		c, err := parseCurl(words)
		if err != nil {
			t.Errorf("%s: %v", strings.Join(words, " "), err)
			continue
		}
		i := slices.IndexFunc(ops, func(o specOp) bool { return o.Method == c.method && pathMatches(o.Path, c.path) })
		if i < 0 {
			t.Errorf("README: curl %s %s matches no operation in api/openapi.yaml", c.method, c.path)
			continue
		}
		if !ops[i].Public() && !c.bearer {
			t.Errorf("README: curl %s %s needs -H \"Authorization: Bearer …\"", c.method, c.path)
		}
		if c.data != "" && !json.Valid([]byte(c.data)) {
			t.Errorf("README: curl %s %s: the -d body is not valid JSON: %s", c.method, c.path, c.data)
		}
	}
}

// pathMatches reports whether a README path fits a documented one. A {param}
// matches any segment, which covers concrete ids and placeholders such as
// <evt_id> or evt_…; literal segments must be equal.
func pathMatches(documented, path string) bool {
	ds, ps := strings.Split(documented, "/"), strings.Split(path, "/")
	if len(ds) != len(ps) {
		return false
	}
	for i := range ds {
		if ds[i] != ps[i] && !(strings.HasPrefix(ds[i], "{") && ps[i] != "") {
			return false
		}
	}
	return true
}

// curlCommands finds the curl commands in the Markdown's code: fenced blocks and
// `inline` spans. Each comes back as shell words, its lines joined.
func curlCommands(md string) [][]string {
	var code []string
	var block []string
	fenced := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			if fenced {
				code = append(code, strings.Join(block, "\n"))
				block = nil
			}
			fenced = !fenced
			continue
		}
		if fenced {
			block = append(block, line)
			continue
		}
		parts := strings.Split(line, "`")
		for i := 1; i < len(parts); i += 2 {
			code = append(code, parts[i])
		}
	}
	start := regexp.MustCompile(`(?m)^[ \t]*curl[ \t]`)
	var cmds [][]string
	for _, c := range code {
		for _, loc := range start.FindAllStringIndex(c, -1) {
			cmds = append(cmds, shellWords(c[loc[0]:]))
		}
	}
	return cmds
}

// shellWords splits one shell command into words, honouring quotes and
// backslash-newline continuations; it stops at the end of the command.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, w.String())
			w.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\' && i+1 < len(s) && s[i+1] == '\n':
			i++
		case ch == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			inWord = true
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				w.WriteByte(s[i])
			}
			inWord = true
		case ch == ' ' || ch == '\t':
			flush()
		case ch == '\n' || ch == ';' || ch == '|' || ch == '&':
			flush()
			return words
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	flush()
	return words
}

type curlCall struct {
	method, path, data string
	bearer             bool
}

// parseCurl reads the method (-X, else POST with -d, else GET), the path after
// $API without its query string, the -d body and whether a bearer key is sent.
func parseCurl(words []string) (curlCall, error) {
	var c curlCall
	var url string
	for i := 1; i < len(words); i++ {
		w := words[i]
		next := func() string {
			if i+1 < len(words) {
				i++
				return words[i]
			}
			return ""
		}
		switch {
		case w == "-X" || w == "--request":
			c.method = next()
		case strings.HasPrefix(w, "-X"):
			c.method = w[2:]
		case w == "-d" || w == "--data" || w == "--data-raw" || w == "--data-binary" || w == "--json":
			c.data = next()
			if c.method == "" {
				c.method = "POST"
			}
		case w == "-H" || w == "--header":
			h := next()
			if name, v, _ := strings.Cut(h, ":"); strings.EqualFold(name, "Authorization") && strings.HasPrefix(strings.TrimSpace(v), "Bearer ") {
				c.bearer = true
			}
		case strings.HasPrefix(w, "$API") || strings.HasPrefix(w, "${API}"):
			url = w
		case strings.HasPrefix(w, "http://") || strings.HasPrefix(w, "https://"):
			return c, fmt.Errorf("write the URL as $API/…, not %s", w)
		}
	}
	if url == "" {
		return c, fmt.Errorf("no $API URL")
	}
	if c.method == "" {
		c.method = "GET"
	}
	c.path = strings.TrimPrefix(strings.TrimPrefix(url, "${API}"), "$API")
	if i := strings.IndexAny(c.path, "?#"); i >= 0 {
		c.path = c.path[:i]
	}
	return c, nil
}
