package inbound

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"
)

// Errors of ParseBody.
var (
	// ErrUnsupportedType is a content type hookflow cannot read (HTTP 415).
	ErrUnsupportedType = errors.New("unsupported content type")
	// ErrMalformed is a body that does not parse as its content type says (HTTP 400).
	ErrMalformed = errors.New("malformed body")
	// ErrUnsignedData is event data from the query string on a source whose
	// signature covers only the body (HTTP 400).
	ErrUnsignedData = errors.New("unsigned data")
)

// maxDepth bounds nesting in JSON and XML bodies.
const maxDepth = 64

// ParseBody turns a request body into the event's data, an object: JSON as is,
// form-encoded and multipart fields as strings (repeated fields as lists), XML as an
// object of its elements, and for GET the query string.
func ParseBody(method, contentType string, query url.Values, body []byte) (map[string]any, error) {
	if fromQuery(method, query, body) {
		return values(query), nil
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = "application/json", nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: Content-Type %q", ErrUnsupportedType, contentType)
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return parseJSON(body)
	case mt == "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("%w: form: %v", ErrMalformed, err)
		}
		return values(v), nil
	case mt == "multipart/form-data":
		return parseMultipart(body, params["boundary"])
	case mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"):
		return parseXML(body)
	}
	return nil, fmt.Errorf("%w: %s (send JSON, form, multipart or XML)", ErrUnsupportedType, mt)
}

// fromQuery reports whether ParseBody reads the event's data from the query string.
func fromQuery(method string, query url.Values, body []byte) bool {
	return method == "GET" || (len(bytes.TrimSpace(body)) == 0 && len(query) > 0)
}

// SignsBodyOnly reports whether scheme's signature covers the body (and at most a
// timestamp) but not the URL. On such a source the query string is unsigned: a
// signature over an empty body is a constant for github, shopify and hmac without
// a timestamp, and replayable within the tolerance for the others, so one signed
// empty request seen anywhere would vouch for any query string an attacker writes.
// basic, token and none authenticate the request rather than sign its content, so
// for them the query string is as trusted as the body.
func SignsBodyOnly(scheme string) bool {
	switch scheme {
	case StandardWebhooks, GitHub, Stripe, Shopify, Slack, HMAC:
		return true
	}
	return false
}

// CheckQueryData returns an error wrapping ErrUnsignedData when ParseBody would take
// the event's data from a query string that scheme does not sign, unless the
// source accepts unsigned query data (allowUnsigned). A GET without a query string
// carries no data, so it passes.
func CheckQueryData(scheme string, allowUnsigned bool, method string, query url.Values, body []byte) error {
	if allowUnsigned || !SignsBodyOnly(scheme) || len(query) == 0 || !fromQuery(method, query, body) {
		return nil
	}
	return fmt.Errorf("%w: the %s signature covers only the body, so the query string could be anyone's: "+
		"send the data in the signed body, or set \"allow_unsigned_query\": true on the source to accept unsigned query-string data", ErrUnsignedData, scheme)
}

func values(v url.Values) map[string]any {
	out := make(map[string]any, len(v))
	for k, vs := range v {
		if len(vs) == 1 {
			out[k] = vs[0]
			continue
		}
		list := make([]any, len(vs))
		for i, s := range vs {
			list[i] = s
		}
		out[k] = list
	}
	return out
}

func parseJSON(body []byte) (map[string]any, error) {
	if depth(body) > maxDepth {
		return nil, fmt.Errorf("%w: JSON nested deeper than %d", ErrMalformed, maxDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: JSON: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: JSON: data after the value", ErrMalformed)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: JSON body must be an object", ErrMalformed)
	}
	return m, nil
}

// depth is a cheap upper bound on JSON nesting, read before decoding so a
// 10,000-deep body costs nothing.
func depth(b []byte) int {
	d, max, inStr, esc := 0, 0, false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			d++
			if d > max {
				max = d
			}
		case c == '}' || c == ']':
			d--
		}
	}
	return max
}

func parseMultipart(body []byte, boundary string) (map[string]any, error) {
	if boundary == "" {
		return nil, fmt.Errorf("%w: multipart without a boundary", ErrMalformed)
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	v := url.Values{}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: multipart: %v", ErrMalformed, err)
		}
		name := p.FormName()
		if name == "" || p.FileName() != "" {
			continue // fields only: files are not event data
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, fmt.Errorf("%w: multipart: %v", ErrMalformed, err)
		}
		v.Add(name, string(b))
	}
	return values(v), nil
}

// parseXML reads XML as an object: the root element's children become keys;
// attributes become "@name"; repeated elements become lists; text-only elements
// become strings.
func parseXML(body []byte) (map[string]any, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: XML: %v", ErrMalformed, err)
		}
		if start, ok := tok.(xml.StartElement); ok {
			v, err := xmlElement(dec, start, 1)
			if err != nil {
				return nil, err
			}
			m, ok := v.(map[string]any)
			if !ok {
				m = map[string]any{"#text": v}
			}
			return map[string]any{start.Name.Local: m}, nil
		}
	}
}

func xmlElement(dec *xml.Decoder, start xml.StartElement, d int) (any, error) {
	if d > maxDepth {
		return nil, fmt.Errorf("%w: XML nested deeper than %d", ErrMalformed, maxDepth)
	}
	obj := map[string]any{}
	for _, a := range start.Attr {
		obj["@"+a.Name.Local] = a.Value
	}
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: XML: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			child, err := xmlElement(dec, t, d+1)
			if err != nil {
				return nil, err
			}
			name := t.Name.Local
			switch prev := obj[name].(type) {
			case nil:
				obj[name] = child
			case []any:
				obj[name] = append(prev, child)
			default:
				obj[name] = []any{prev, child}
			}
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			s := strings.TrimSpace(text.String())
			if len(obj) == 0 {
				return s, nil
			}
			if s != "" {
				obj["#text"] = s
			}
			return obj, nil
		}
	}
}

// Lookup reads a dot path ("type", "data.object.id") from parsed data; numbers and
// booleans are given as text.
func Lookup(data map[string]any, path string) (string, bool) {
	var cur any = data
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = m[part]; !ok {
			return "", false
		}
	}
	switch v := cur.(type) {
	case string:
		return v, v != ""
	case json.Number:
		return v.String(), true
	case bool:
		return fmt.Sprint(v), true
	}
	return "", false
}
