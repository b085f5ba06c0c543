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
)

// maxDepth bounds nesting in JSON and XML bodies.
const maxDepth = 64

// ParseBody turns a request body into the event's data, an object: JSON as is,
// form-encoded and multipart fields as strings (repeated fields as lists), XML as an
// object of its elements, and for GET the query string.
func ParseBody(method, contentType string, query url.Values, body []byte) (map[string]any, error) {
	if method == "GET" || (len(bytes.TrimSpace(body)) == 0 && len(query) > 0) {
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
