package actions

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hookflow/hookflow/internal/dispatch"
)

// httpCall is an http.request step's params, checked: every mistake in them is
// final, since a retry renders the same params again.
type httpCall struct {
	method string
	// url has params.query merged into its query string.
	url    string
	header http.Header
	// body is nil when the request has none; contentType is its type.
	body        []byte
	contentType string
	// expect is the statuses that succeed; nil means any 2xx.
	expect  []int
	sign    bool
	timeout time.Duration
}

// httpMethods are the methods http.request sends.
var httpMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead}

// httpParams are the params http.request takes; any other is a typo to report.
var httpParams = []string{"method", "url", "headers", "query", "json", "form", "body", "expect", "sign", "timeout"}

// reservedHeaders are set by the transport from the request itself; a step that
// sets them would send a request that contradicts its own framing.
var reservedHeaders = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection"}

// parseHTTPCall checks an http.request step's params.
func parseHTTPCall(params map[string]any) (*httpCall, error) {
	if err := unknownParams(params); err != nil {
		return nil, err
	}
	c := &httpCall{}
	var err error
	if c.method, err = httpMethod(params); err != nil {
		return nil, err
	}
	if c.url, err = httpURL(params); err != nil {
		return nil, err
	}
	if c.header, err = httpHeaders(params["headers"]); err != nil {
		return nil, err
	}
	if c.body, c.contentType, err = httpBody(params, c.method); err != nil {
		return nil, err
	}
	// The step's own Content-Type wins over the one its body kind implies.
	if ct := c.header.Get("Content-Type"); ct != "" {
		c.contentType = ct
		c.header.Del("Content-Type")
	}
	if c.expect, err = httpExpect(params["expect"]); err != nil {
		return nil, err
	}
	if c.sign, err = boolean(params, "sign"); err != nil {
		return nil, err
	}
	if c.timeout, err = httpTimeout(params["timeout"]); err != nil {
		return nil, err
	}
	return c, nil
}

// unknownParams refuses a param http.request does not take ("header" for
// "headers"), which would otherwise be dropped without a word.
func unknownParams(params map[string]any) error {
	var unknown []string
	for k := range params {
		if !slices.Contains(httpParams, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return Final(fmt.Errorf("params.%s: http.request takes %s", unknown[0], strings.Join(httpParams, ", ")))
}

// httpMethod is params.method in upper case, POST when absent.
func httpMethod(params map[string]any) (string, error) {
	m, err := str(params, "method", false)
	if err != nil {
		return "", err
	}
	if m == "" {
		return http.MethodPost, nil
	}
	up := strings.ToUpper(m)
	if !slices.Contains(httpMethods, up) {
		return "", Final(fmt.Errorf("params.method must be one of %s, not %q", strings.Join(httpMethods, ", "), m))
	}
	return up, nil
}

// httpURL is params.url with params.query added to its query string. The URL
// must be http(s) with a host: anything else would fail on every attempt.
func httpURL(params map[string]any) (string, error) {
	raw, err := str(params, "url", true)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", Final(fmt.Errorf("params.url is not a URL: %w", unwrapURLError(err)))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", Final(fmt.Errorf("params.url must start with https:// or http://"))
	}
	if u.Host == "" {
		return "", Final(fmt.Errorf("params.url has no host"))
	}
	if u.User != nil {
		return "", Final(fmt.Errorf("params.url: credentials in the URL are not allowed; send them in params.headers (Authorization)"))
	}
	q := params["query"]
	if q == nil {
		return raw, nil
	}
	add, err := formValues("query", q)
	if err != nil {
		return "", err
	}
	values := u.Query()
	for k, vs := range add {
		values[k] = vs
	}
	u.RawQuery = values.Encode()
	return u.String(), nil
}

// unwrapURLError drops url.Error's repetition of the whole URL, which may hold
// a token.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// httpHeaders reads params.headers, an object of strings (numbers and booleans
// are written out), refusing names and values that cannot go on the wire and
// the headers the transport sets.
func httpHeaders(v any) (http.Header, error) {
	h := http.Header{}
	if v == nil {
		return h, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, Final(fmt.Errorf("params.headers must be an object of strings, not %T", v))
	}
	for k, raw := range obj {
		s, ok := scalar(raw)
		if !ok {
			return nil, Final(fmt.Errorf("params.headers.%s must be a string, not %T", k, raw))
		}
		if !validHeaderName(k) {
			return nil, Final(fmt.Errorf("params.headers: %q is not a header name", k))
		}
		if strings.ContainsAny(s, "\r\n\x00") {
			return nil, Final(fmt.Errorf("params.headers.%s holds a line break or NUL", k))
		}
		if slices.Contains(reservedHeaders, http.CanonicalHeaderKey(k)) {
			return nil, Final(fmt.Errorf("params.headers.%s is set by hookflow from the request itself", k))
		}
		h.Set(k, s)
	}
	return h, nil
}

// validHeaderName reports an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// httpBody is the request's body and type from params.json, params.form or
// params.body, at most one of them; nil when none is given.
func httpBody(params map[string]any, method string) ([]byte, string, error) {
	var given []string
	for _, k := range []string{"json", "form", "body"} {
		if params[k] != nil {
			given = append(given, "params."+k)
		}
	}
	switch {
	case len(given) == 0:
		return nil, "", nil
	case len(given) > 1:
		return nil, "", Final(fmt.Errorf("%s: give at most one body", strings.Join(given, " and ")))
	case method == http.MethodGet || method == http.MethodHead:
		return nil, "", Final(fmt.Errorf("%s: a %s request has no body (use params.query)", given[0], method))
	}
	switch given[0] {
	case "params.json":
		b, err := json.Marshal(params["json"])
		if err != nil {
			return nil, "", Final(fmt.Errorf("params.json: %w", err))
		}
		return b, "application/json", nil
	case "params.form":
		values, err := formValues("form", params["form"])
		if err != nil {
			return nil, "", err
		}
		return []byte(values.Encode()), "application/x-www-form-urlencoded", nil
	}
	s, err := str(params, "body", false)
	if err != nil {
		return nil, "", err
	}
	return []byte(s), "text/plain; charset=utf-8", nil
}

// formValues reads an object of scalars or lists of scalars (params.query,
// params.form) as URL values; a list repeats its key.
func formValues(key string, v any) (url.Values, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, Final(fmt.Errorf("params.%s must be an object, not %T", key, v))
	}
	out := url.Values{}
	for k, raw := range obj {
		items, isList := raw.([]any)
		if !isList {
			items = []any{raw}
		}
		for _, item := range items {
			s, ok := scalar(item)
			if !ok {
				return nil, Final(fmt.Errorf("params.%s.%s must be a string, number or boolean (or a list of them), not %T", key, k, item))
			}
			out.Add(k, s)
		}
	}
	return out, nil
}

// scalar writes out a string, number or boolean; whole numbers without an
// exponent (1e+06 would reach an API as a different value).
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int:
		return strconv.Itoa(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// httpExpect reads params.expect, a list of statuses (100–599); nil when absent.
func httpExpect(v any) ([]int, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, Final(fmt.Errorf("params.expect must be a list of HTTP statuses such as [200, 201], not %T", v))
	}
	if len(list) == 0 {
		return nil, Final(fmt.Errorf("params.expect is empty: list the statuses that succeed, such as [200, 201]"))
	}
	out := make([]int, 0, len(list))
	for i, item := range list {
		key := fmt.Sprintf("expect[%d]", i)
		n, err := integer(map[string]any{key: item}, key)
		if err != nil {
			return nil, err
		}
		if n < 100 || n > 599 {
			return nil, Final(fmt.Errorf("params.%s: %d is not an HTTP status (100–599)", key, n))
		}
		out = append(out, int(n))
	}
	return out, nil
}

// boolean reads a true/false param; absent is false.
func boolean(params map[string]any, key string) (bool, error) {
	switch v := params[key].(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	default:
		return false, Final(fmt.Errorf("params.%s must be true or false, not %T", key, v))
	}
}

// httpTimeout reads params.timeout, a duration up to the dispatcher's own bound.
func httpTimeout(v any) (time.Duration, error) {
	if v == nil {
		return 0, nil
	}
	s, ok := v.(string)
	d, err := time.ParseDuration(s)
	if !ok || err != nil || d <= 0 || d > dispatch.DefaultTimeout {
		return 0, Final(fmt.Errorf("params.timeout: want a duration above 0 and up to %s, such as \"5s\", not %v", dispatch.DefaultTimeout, v))
	}
	return d, nil
}

// accepts reports whether status succeeds.
func (c *httpCall) accepts(status int) bool {
	if c.expect == nil {
		return status >= 200 && status < 300
	}
	return slices.Contains(c.expect, status)
}

// expectText names the statuses that succeed, for an error.
func (c *httpCall) expectText() string {
	if c.expect == nil {
		return "2xx"
	}
	parts := make([]string, len(c.expect))
	for i, s := range c.expect {
		parts[i] = strconv.Itoa(s)
	}
	return strings.Join(parts, ", ")
}
