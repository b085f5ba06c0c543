package models

import "time"

// Source is an inbound URL (/hooks/{id}) that other systems send webhooks to. Each
// request is verified by the source's scheme, turned into an event, and deduplicated
// by the sender's own delivery id.
type Source struct {
	ID           string       `json:"id"`
	WorkspaceID  string       `json:"workspace_id"`
	Name         string       `json:"name"`
	Enabled      bool         `json:"enabled"`
	Verification Verification `json:"verification"`
	Secrets      []Secret     `json:"-"`
	EventType    FieldRef     `json:"event_type"`
	EventID      *FieldRef    `json:"event_id,omitempty"`
	MaxBodyBytes int64        `json:"max_body_bytes,omitempty"`
	// AllowUnsignedQuery accepts event data from the query string (a GET, or an
	// empty body) although the scheme signs only the body, for senders that cannot
	// do better; that data, and a type or id read from it, is then unsigned.
	AllowUnsignedQuery bool      `json:"allow_unsigned_query"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

// Verification is how a source checks a request is genuine (see internal/inbound).
type Verification struct {
	Scheme          string `json:"scheme"`
	Header          string `json:"header,omitempty"`
	Algorithm       string `json:"algorithm,omitempty"`
	Encoding        string `json:"encoding,omitempty"`
	Prefix          string `json:"prefix,omitempty"`
	TimestampHeader string `json:"timestamp_header,omitempty"`
	ToleranceSecs   int    `json:"tolerance_seconds,omitempty"`
	Username        string `json:"username,omitempty"`
}

// FieldRef says where a value comes from: a request header, a dot path into the
// body ("type", "data.kind"), or a fixed value.
type FieldRef struct {
	Header string `json:"header,omitempty"`
	Path   string `json:"path,omitempty"`
	Value  string `json:"value,omitempty"`
}

// Valid reports whether exactly one of header, path and value is set.
func (f FieldRef) Valid() bool {
	n := 0
	for _, s := range []string{f.Header, f.Path, f.Value} {
		if s != "" {
			n++
		}
	}
	return n == 1
}
