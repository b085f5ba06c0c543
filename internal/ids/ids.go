// Package ids makes hookflow's resource IDs: a type prefix and a ULID, so IDs say
// what they name (evt_…, ep_…) and sort by creation time, which keyset pagination
// relies on.
package ids

import (
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// Prefixes of hookflow's resource IDs.
const (
	Event      = "evt"
	Endpoint   = "ep"
	Automation = "auto"
	Run        = "run"
	Delivery   = "del"
	Source     = "src"
	Workspace  = "ws"
	APIKey     = "key"
	Attempt    = "att"
	Ledger     = "led"
	Batch      = "bat"
	Credential = "cred"
)

// New returns prefix + "_" + a lower-case ULID. ulid.Make is safe for concurrent use
// and monotonic within a millisecond, so IDs made in order sort in order.
func New(prefix string) string {
	return prefix + "_" + strings.ToLower(ulid.Make().String())
}

// Valid reports whether id is an ID New(prefix) could have made: the prefix, an
// underscore and a lower-case ULID. API cursors are IDs, and one that is not is a
// client's mistake to be told of, not an empty page.
func Valid(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	if !ok || rest != strings.ToLower(rest) {
		return false
	}
	_, err := ulid.ParseStrict(rest)
	return err == nil
}

// Floor is the smallest ID New(prefix) can make at t or later: IDs made before t
// sort below it, so `id >= Floor(prefix, t)` reads what was made since t from an
// index on the ID.
func Floor(prefix string, t time.Time) string {
	var u ulid.ULID
	_ = u.SetTime(ulid.Timestamp(t))
	return prefix + "_" + strings.ToLower(u.String())
}
