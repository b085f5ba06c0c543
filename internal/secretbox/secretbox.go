// Package secretbox encrypts the secrets hookflow keeps for its users (endpoint and
// source signing secrets, automation signing secrets) before they reach the database.
//
// A sealed value is text: "hfenc:v1:<key id>:<base64url(nonce ‖ AES-256-GCM ciphertext)>".
// The key id names the key that sealed it, so a keyring of several keys can open
// values sealed by any of them while sealing only with the first (the primary). The
// caller passes associated data naming where the value lives (table, column, row
// id): a sealed value copied into another row does not open there.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Prefix starts every sealed value.
const Prefix = "hfenc:v1:"

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

// ErrUnknownKey means a value was sealed with a key the keyring does not hold.
var ErrUnknownKey = errors.New("sealed with a key that is not in HOOKFLOW_ENCRYPTION_KEY")

type key struct {
	id   string
	aead cipher.AEAD
	raw  []byte
}

// Keyring holds the primary key, which seals, and older keys, which only open.
type Keyring struct {
	keys []key
}

// Generate returns a new random key in the text form Parse reads.
func Generate() string {
	b := make([]byte, KeySize)
	rand.Read(b) // never fails (crypto/rand's documented contract since Go 1.24)
	return base64.StdEncoding.EncodeToString(b)
}

// Parse reads a comma-separated list of keys, each 32 bytes written as standard or
// URL base64 (padded or not) or as 64 hex digits. The first seals; all open.
func Parse(s string) (*Keyring, error) {
	var kr Keyring
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		raw, err := decodeKey(part)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		k, err := newKey(raw)
		if err != nil {
			return nil, err
		}
		if !seen[k.id] {
			seen[k.id] = true
			kr.keys = append(kr.keys, k)
		}
	}
	if len(kr.keys) == 0 {
		return nil, errors.New("no key given")
	}
	return &kr, nil
}

func decodeKey(s string) ([]byte, error) {
	if len(s) == 2*KeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("want %d bytes, got %d (make one with `openssl rand -base64 32`)", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("not base64 or hex (make one with `openssl rand -base64 32`)")
}

func newKey(raw []byte) (key, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, err
	}
	sum := sha256.Sum256(append([]byte("hookflow key id\x00"), raw...))
	return key{id: hex.EncodeToString(sum[:4]), aead: aead, raw: raw}, nil
}

// Derive returns a subkey of each key for one purpose (label), primary first:
// HMAC-SHA256(key, label), so a subkey reveals nothing of the key that seals.
func (kr *Keyring) Derive(label string) [][]byte {
	out := make([][]byte, len(kr.keys))
	for i, k := range kr.keys {
		m := hmac.New(sha256.New, k.raw)
		m.Write([]byte(label))
		out[i] = m.Sum(nil)
	}
	return out
}

// PrimaryID is the id of the key that seals.
func (kr *Keyring) PrimaryID() string { return kr.keys[0].id }

// Seal encrypts plain with the primary key, bound to aad.
func (kr *Keyring) Seal(plain []byte, aad string) string {
	k := kr.keys[0]
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	rand.Read(nonce)
	out := k.aead.Seal(nonce, nonce, plain, []byte(aad))
	return Prefix + k.id + ":" + base64.RawURLEncoding.EncodeToString(out)
}

// IsSealed reports whether s is a sealed value (rather than plain text stored before
// encryption was turned on).
func IsSealed(s string) bool { return strings.HasPrefix(s, Prefix) }

// SealedByPrimary reports whether s is sealed with the primary key.
func (kr *Keyring) SealedByPrimary(s string) bool {
	return strings.HasPrefix(s, Prefix+kr.keys[0].id+":")
}

// Open decrypts a sealed value bound to aad. A value without the prefix is returned
// as it is: it was stored before encryption and `hookflow rotate-encryption-key`
// seals it.
func (kr *Keyring) Open(s, aad string) ([]byte, error) {
	if !IsSealed(s) {
		return []byte(s), nil
	}
	id, body, ok := strings.Cut(strings.TrimPrefix(s, Prefix), ":")
	if !ok {
		return nil, errors.New("malformed sealed value")
	}
	for _, k := range kr.keys {
		if k.id != id {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(body)
		if err != nil || len(b) < k.aead.NonceSize() {
			return nil, errors.New("malformed sealed value")
		}
		plain, err := k.aead.Open(nil, b[:k.aead.NonceSize()], b[k.aead.NonceSize():], []byte(aad))
		if err != nil {
			return nil, fmt.Errorf("sealed value does not open with key %s (tampered, or moved from another row)", id)
		}
		return plain, nil
	}
	return nil, fmt.Errorf("key %s: %w", id, ErrUnknownKey)
}

// Join returns a keyring whose primary is next's primary and which also opens with
// every key of next and of rest.
func Join(next *Keyring, rest ...*Keyring) *Keyring {
	out := &Keyring{}
	seen := map[string]bool{}
	for _, kr := range append([]*Keyring{next}, rest...) {
		if kr == nil {
			continue
		}
		for _, k := range kr.keys {
			if !seen[k.id] {
				seen[k.id] = true
				out.keys = append(out.keys, k)
			}
		}
	}
	return out
}
