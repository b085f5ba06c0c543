package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/hookflow/hookflow/internal/secretbox"
	"github.com/hookflow/hookflow/models"
)

// errNoKeyring means a secret was to be written by a store without a keyring: hookflow
// never writes a secret in plain text.
var errNoKeyring = errors.New("no encryption key: set HOOKFLOW_ENCRYPTION_KEY")

// UseKeyring makes s seal secrets with kr's primary key and open them with any of its
// keys. Without one, s cannot write secrets.
func (s *Store) UseKeyring(kr *secretbox.Keyring) { s.keys = kr }

// aad binds a sealed value to where it lives, so it cannot be copied to another row.
func aad(column, id string) string { return column + ":" + id }

func (s *Store) seal(plain []byte, column, id string) (string, error) {
	if s.keys == nil {
		return "", fmt.Errorf("%s of %s: %w", column, id, errNoKeyring)
	}
	return s.keys.Seal(plain, aad(column, id)), nil
}

// sealString seals a secret that may be absent; absent stays empty.
func (s *Store) sealString(v, column, id string) (string, error) {
	if v == "" {
		return "", nil
	}
	return s.seal([]byte(v), column, id)
}

func (s *Store) open(v, column, id string) ([]byte, error) {
	if !secretbox.IsSealed(v) {
		return []byte(v), nil // written before encryption; rotate-encryption-key seals it
	}
	if s.keys == nil {
		return nil, fmt.Errorf("%s of %s: %w", column, id, errNoKeyring)
	}
	b, err := s.keys.Open(v, aad(column, id))
	if err != nil {
		return nil, fmt.Errorf("%s of %s: %w", column, id, err)
	}
	return b, nil
}

// Reseal re-encrypts every stored secret that is not sealed with the primary key of
// the store's keyring (sealed with an older key of the ring, or stored in plain text
// before encryption), in one transaction, and returns how many values it rewrote.
// `hookflow rotate-encryption-key` runs it; running it again rewrites nothing.
func (s *Store) Reseal(ctx context.Context) (int, error) {
	if s.keys == nil {
		return 0, errNoKeyring
	}
	n := 0
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		type cell struct {
			ID    string
			Value string
		}
		for _, c := range []struct{ table, column string }{
			{"endpoints", "secrets"}, {"sources", "secrets"}, {"automations", "signing_secret"}, {"credentials", "value"},
		} {
			var cells []cell
			q := fmt.Sprintf("SELECT id, %s AS value FROM %s ORDER BY id", c.column, c.table)
			if err := tx.Raw(q).Scan(&cells).Error; err != nil {
				return fmt.Errorf("read %s.%s: %w", c.table, c.column, err)
			}
			name := c.table + "." + c.column
			for _, v := range cells {
				if v.Value == "" || s.keys.SealedByPrimary(v.Value) {
					continue
				}
				plain, err := s.open(v.Value, name, v.ID)
				if err != nil {
					return err
				}
				sealed, err := s.seal(plain, name, v.ID)
				if err != nil {
					return err
				}
				if err := tx.Table(c.table).Where("id = ?", v.ID).Update(c.column, sealed).Error; err != nil {
					return fmt.Errorf("write %s of %s: %w", name, v.ID, err)
				}
				n++
			}
		}
		var versions []automationVersionRow
		if err := tx.Order("automation_id, version").Find(&versions).Error; err != nil {
			return fmt.Errorf("read automation versions: %w", err)
		}
		const name = "automation_versions.signing_secret"
		for _, v := range versions {
			var a models.Automation
			if err := json.Unmarshal([]byte(v.Definition), &a); err != nil {
				return fmt.Errorf("automation %s version %d: %w", v.AutomationID, v.Version, err)
			}
			if a.SigningSecret == "" || s.keys.SealedByPrimary(a.SigningSecret) {
				continue
			}
			id := versionAAD(v.AutomationID, v.Version)
			plain, err := s.open(a.SigningSecret, name, id)
			if err != nil {
				return err
			}
			if a.SigningSecret, err = s.seal(plain, name, id); err != nil {
				return err
			}
			def, err := json.Marshal(&a)
			if err != nil {
				return err
			}
			if err := tx.Model(&automationVersionRow{}).Where("automation_id = ? AND version = ?", v.AutomationID, v.Version).
				Update("definition", string(def)).Error; err != nil {
				return fmt.Errorf("write automation %s version %d: %w", v.AutomationID, v.Version, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
