// Package apikeys owns API keys and the workspaces they open: how a key is made
// and stored (only its hash), who a presented key is (the operator's admin key, a
// workspace's key, or neither), which keys a workspace's key may make, and a new
// workspace with its first key. The API's handlers and `hookflow workspace create`
// call it; how each answer looks (HTTP or the terminal) is theirs.
package apikeys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/models"
)

// Prefix starts every generated API key, so a leaked one is easy to spot.
const Prefix = "hfk_"

// DefaultKeyName names a new workspace's first key when none is given.
const DefaultKeyName = "first key"

// maxName is the longest workspace or key name.
const maxName = 200

// Errors of authentication and of reaching past one's workspace. Callers decide how
// each is answered.
var (
	// ErrInvalidKey: the key is neither the admin key nor any workspace's.
	ErrInvalidKey = fmt.Errorf("the API key is not valid: %w", models.ErrUnauthenticated)
	// ErrAdminKey: the operator's admin key where a workspace's key is needed.
	ErrAdminKey = errors.New("the admin key belongs to no workspace")
	// ErrWorkspaceKey: a workspace's key where the admin key is needed.
	ErrWorkspaceKey = errors.New("a workspace key cannot act as the operator")
	// ErrOtherWorkspace: a workspace's key asked for a key of another workspace or
	// of a new one, which only the operator may make.
	ErrOtherWorkspace = errors.New("a workspace key manages only its own workspace's keys")
)

// Store is what the key use cases need from persistence.
type Store interface {
	CreateWorkspaceWithKey(ctx context.Context, w *models.Workspace, k *models.APIKey) error
	CreateAPIKey(ctx context.Context, k *models.APIKey) error
	APIKeyByHash(ctx context.Context, hash string) (*models.APIKey, error)
	ListAPIKeys(ctx context.Context, workspaceID string) ([]models.APIKey, error)
	RevokeAPIKey(ctx context.Context, workspaceID, id string, at time.Time) error
}

// Config tunes Keys; zero values take the defaults.
type Config struct {
	// AdminKey is the operator's key for the workspace routes; empty: there is none.
	AdminKey string
	// Now is injected by tests (default: UTC, microseconds, as the store keeps it).
	Now func() time.Time
}

// Keys serves the API-key use cases.
type Keys struct {
	store Store
	now   func() time.Time
	// adminHash is Hash(AdminKey), or empty without an admin key.
	adminHash string
}

// New returns Keys over store.
func New(store Store, cfg Config) *Keys {
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
	}
	k := &Keys{store: store, now: cfg.Now}
	if cfg.AdminKey != "" {
		k.adminHash = Hash(cfg.AdminKey)
	}
	return k
}

// Hash is how API keys are stored: SHA-256, hex. Keys carry 256 random bits, so a
// fast hash is enough; nobody can brute-force them through it.
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// DisplayPrefix is the part of a key shown in listings to tell keys apart.
func DisplayPrefix(key string) string {
	n := len(Prefix) + 8
	if !strings.HasPrefix(key, Prefix) {
		n = 6
	}
	if len(key) < n {
		return key
	}
	return key[:n]
}

// Generate returns a new random API key.
func Generate() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate api key: %w", err)
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Record is what the store keeps of key for workspaceID: its hash and display
// prefix, never the key.
func Record(workspaceID, name, key string, now time.Time) *models.APIKey {
	return &models.APIKey{
		ID:          ids.New(ids.APIKey),
		WorkspaceID: workspaceID,
		Name:        name,
		Prefix:      DisplayPrefix(key),
		Hash:        Hash(key),
		CreatedAt:   now,
	}
}

// HasAdmin reports whether an admin key is configured, i.e. whether the operator
// can make workspaces over HTTP at all.
func (k *Keys) HasAdmin() bool { return k.adminHash != "" }

// isAdmin reports whether hash (Hash of the presented key) is the admin key's. It
// compares in constant time, and over hashes so the admin key's length does not
// show either.
func (k *Keys) isAdmin(hash string) bool {
	return k.adminHash != "" && subtle.ConstantTimeCompare([]byte(hash), []byte(k.adminHash)) == 1
}

// Authenticate returns the workspace key that key is. The admin key is
// ErrAdminKey: the operator belongs to no workspace, and acting as one would make
// them a tenant of whichever workspace a default picked. An unknown key is
// ErrInvalidKey; a store that does not answer, its error.
func (k *Keys) Authenticate(ctx context.Context, key string) (*models.APIKey, error) {
	hash := Hash(key)
	if k.isAdmin(hash) {
		return nil, ErrAdminKey
	}
	found, err := k.store.APIKeyByHash(ctx, hash)
	if errors.Is(err, models.ErrNotFound) || (err == nil && subtle.ConstantTimeCompare([]byte(found.Hash), []byte(hash)) != 1) {
		return nil, ErrInvalidKey
	}
	if err != nil {
		return nil, err
	}
	return found, nil
}

// AuthenticateAdmin accepts only the admin key. A workspace's key is recognised
// (ErrWorkspaceKey) so its holder can be told why not; anything else is
// ErrInvalidKey.
func (k *Keys) AuthenticateAdmin(ctx context.Context, key string) error {
	hash := Hash(key)
	if k.isAdmin(hash) {
		return nil
	}
	_, err := k.store.APIKeyByHash(ctx, hash)
	switch {
	case err == nil:
		return ErrWorkspaceKey
	case errors.Is(err, models.ErrNotFound):
		return ErrInvalidKey
	}
	return err
}

// CreateRequest asks for one more key of the caller's workspace.
type CreateRequest struct {
	// WorkspaceID is the caller's workspace.
	WorkspaceID string
	Name        string
	// ForWorkspace, when set, must be the caller's own workspace.
	ForWorkspace string
	// NewWorkspace is refused: it used to make a workspace, which only the operator
	// may now. It stays in the request so the answer can say so.
	NewWorkspace string
	// Admit, when set, runs once the request is known to be allowed and before the
	// key is made: the workspace's quota.
	Admit func() error
}

// Created is a new key: its record, and the key itself, to show only now.
type Created struct {
	Record *models.APIKey
	Key    string
}

// Create makes a key of the caller's workspace. Another workspace, or a new one, is
// ErrOtherWorkspace whether or not it exists, so the answer tells nothing about it.
func (k *Keys) Create(ctx context.Context, req CreateRequest) (Created, error) {
	if err := models.ValidateText("name", req.Name, maxName); err != nil {
		return Created{}, err
	}
	if req.NewWorkspace != "" || (req.ForWorkspace != "" && req.ForWorkspace != req.WorkspaceID) {
		return Created{}, ErrOtherWorkspace
	}
	if req.Admit != nil {
		if err := req.Admit(); err != nil {
			return Created{}, err
		}
	}
	key, err := Generate()
	if err != nil {
		return Created{}, err
	}
	rec := Record(req.WorkspaceID, req.Name, key, k.now())
	if err := k.store.CreateAPIKey(ctx, rec); err != nil {
		return Created{}, err
	}
	return Created{Record: rec, Key: key}, nil
}

// List returns the workspace's keys (never nil), revoked ones included.
func (k *Keys) List(ctx context.Context, workspaceID string) ([]models.APIKey, error) {
	keys, err := k.store.ListAPIKeys(ctx, workspaceID)
	if keys == nil {
		keys = []models.APIKey{}
	}
	return keys, err
}

// Revoke revokes the workspace's key id now; another workspace's is ErrNotFound.
func (k *Keys) Revoke(ctx context.Context, workspaceID, id string) error {
	return k.store.RevokeAPIKey(ctx, workspaceID, id, k.now())
}

// NewWorkspace is a workspace just made with its first key.
type NewWorkspace struct {
	Workspace *models.Workspace
	Created
}

// CreateWorkspace makes a workspace named name and its first key (keyName, default
// DefaultKeyName) in one transaction, for the operator's POST /v1/workspaces and
// `hookflow workspace create` alike.
func (k *Keys) CreateWorkspace(ctx context.Context, name, keyName string) (NewWorkspace, error) {
	if strings.TrimSpace(name) == "" {
		return NewWorkspace{}, models.Invalid("name", "is required")
	}
	if err := models.ValidateText("name", name, maxName); err != nil {
		return NewWorkspace{}, err
	}
	if err := models.ValidateText("key_name", keyName, maxName); err != nil {
		return NewWorkspace{}, err
	}
	if keyName == "" {
		keyName = DefaultKeyName
	}
	key, err := Generate()
	if err != nil {
		return NewWorkspace{}, err
	}
	now := k.now()
	ws := &models.Workspace{ID: ids.New(ids.Workspace), Name: name, CreatedAt: now}
	rec := Record(ws.ID, keyName, key, now)
	if err := k.store.CreateWorkspaceWithKey(ctx, ws, rec); err != nil {
		return NewWorkspace{}, err
	}
	return NewWorkspace{Workspace: ws, Created: Created{Record: rec, Key: key}}, nil
}
