// Package chain carries an event chain (its root event and depth) across an HTTP
// hop, so that an endpoint or a webhook.post step aimed at hookflow's own /hooks
// URL does not start a fresh chain at depth 0 and loop for ever. The header is
// signed with a key only hookflow holds, so a sender cannot forge a chain (to
// spend another's budget) and hookflow's own requests cannot drop it.
package chain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Header is the HTTP header hookflow's outbound requests carry.
const Header = "Hookflow-Chain"

// KeyLabel derives the signing key from HOOKFLOW_ENCRYPTION_KEY.
const KeyLabel = "hookflow chain header v1"

// Link is where an event stands in its chain.
type Link struct {
	RootID string
	Depth  int
}

// Signer signs and verifies Header values. A nil Signer signs nothing and
// verifies nothing.
type Signer struct {
	keys [][]byte
}

// NewSigner signs with keys[0] and verifies with all of them (key rotation).
func NewSigner(keys [][]byte) *Signer {
	if len(keys) == 0 {
		return nil
	}
	return &Signer{keys: keys}
}

// Sign returns the header value for l: v1,<root>,<depth>,<mac>.
func (s *Signer) Sign(l Link) string {
	if s == nil || l.RootID == "" {
		return ""
	}
	msg := fmt.Sprintf("v1,%s,%d", l.RootID, l.Depth)
	return msg + "," + mac(s.keys[0], msg)
}

// Verify reads a header value; ok is false when it is absent, malformed or not
// signed by one of the keys.
func (s *Signer) Verify(v string) (Link, bool) {
	if s == nil || v == "" || len(v) > 256 {
		return Link{}, false
	}
	i := strings.LastIndexByte(v, ',')
	if i < 0 {
		return Link{}, false
	}
	msg, sig := v[:i], v[i+1:]
	parts := strings.Split(msg, ",")
	if len(parts) != 3 || parts[0] != "v1" || parts[1] == "" {
		return Link{}, false
	}
	depth, err := strconv.Atoi(parts[2])
	if err != nil || depth < 0 {
		return Link{}, false
	}
	for _, k := range s.keys {
		if hmac.Equal([]byte(sig), []byte(mac(k, msg))) {
			return Link{RootID: parts[1], Depth: depth}, true
		}
	}
	return Link{}, false
}

func mac(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
