package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hookflow/hookflow/internal/secretbox"
	"github.com/hookflow/hookflow/models"
)

// dump returns every row of every table as text: what a database dump would show.
func dump(t *testing.T, s *Store) string {
	t.Helper()
	var tables []string
	q := `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	if s.dialect == SQLite {
		q = `SELECT name FROM sqlite_master WHERE type = 'table'`
	}
	if err := s.db.Raw(q).Scan(&tables).Error; err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, table := range tables {
		rows, err := s.db.Raw(fmt.Sprintf(`SELECT * FROM %q`, table)).Rows()
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, "%v\t", v)
			}
			b.WriteString("\n")
		}
		rows.Close()
	}
	return b.String()
}

// seedSecrets stores one of each kind of secret and returns their values.
func seedSecrets(t *testing.T, s *Store) []string {
	t.Helper()
	ctx := context.Background()
	ep := endpoint(models.DefaultWorkspaceID, "ep_secret", "a.b")
	ep.Secrets = []models.Secret{{Value: "whsec_endpointsecretvalue1", CreatedAt: t0}}
	if err := s.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	src := &models.Source{ID: "src_secret", WorkspaceID: models.DefaultWorkspaceID, Name: "gh", Enabled: true,
		Verification: models.Verification{Scheme: "github"}, Secrets: []models.Secret{{Value: "ghsourcesecretvalue2", CreatedAt: t0}},
		EventType: models.FieldRef{Value: "push"}, CreatedAt: t0, UpdatedAt: t0}
	if err := s.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	a := automation("auto_secret", "a.b", "")
	a.SigningSecret = "whsec_automationsecretvalue3"
	if err := s.CreateAutomation(ctx, a); err != nil {
		t.Fatal(err)
	}
	a.Version = 2
	if err := s.UpdateAutomation(ctx, a); err != nil {
		t.Fatal(err)
	}
	return []string{"whsec_endpointsecretvalue1", "ghsourcesecretvalue2", "whsec_automationsecretvalue3"}
}

// readSecrets reads every seeded secret back through the store.
func readSecrets(t *testing.T, s *Store) ([]string, error) {
	t.Helper()
	ctx := context.Background()
	ep, err := s.GetEndpoint(ctx, models.DefaultWorkspaceID, "ep_secret")
	if err != nil {
		return nil, err
	}
	src, err := s.GetSource(ctx, models.DefaultWorkspaceID, "src_secret")
	if err != nil {
		return nil, err
	}
	a, err := s.GetAutomation(ctx, models.DefaultWorkspaceID, "auto_secret")
	if err != nil {
		return nil, err
	}
	v1, err := s.GetAutomationVersion(ctx, models.DefaultWorkspaceID, "auto_secret", 1)
	if err != nil {
		return nil, err
	}
	if v1.SigningSecret != a.SigningSecret {
		return nil, fmt.Errorf("version 1 secret %q, current %q", v1.SigningSecret, a.SigningSecret)
	}
	return []string{ep.Secrets[0].Value, src.Secrets[0].Value, a.SigningSecret}, nil
}

func TestSecretsEncryptedAtRest(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		want := seedSecrets(t, s)
		d := dump(t, s)
		if strings.Contains(d, "whsec_") || strings.Contains(d, want[1]) {
			t.Fatalf("the database dump shows a secret in plain text:\n%s", d)
		}
		if !strings.Contains(d, secretbox.Prefix) {
			t.Fatalf("the dump shows no sealed values; is the dump reading the right tables?\n%s", d)
		}
		got, err := readSecrets(t, s)
		if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("read back %v, %v; want %v", got, err, want)
		}

		// Without the key nothing opens, and nothing is written in plain text.
		s.UseKeyring(nil)
		if _, err := readSecrets(t, s); !errors.Is(err, errNoKeyring) {
			t.Errorf("read without a key: %v", err)
		}
		if err := s.CreateEndpoint(context.Background(), endpoint(models.DefaultWorkspaceID, "ep_nokey")); !errors.Is(err, errNoKeyring) {
			t.Errorf("write without a key: %v", err)
		}
		// A wrong key fails loudly rather than returning garbage.
		s.UseKeyring(testKeyring(t, secretbox.Generate()))
		if _, err := readSecrets(t, s); !errors.Is(err, secretbox.ErrUnknownKey) {
			t.Errorf("read with another key: %v", err)
		}
	})
}

func TestReseal(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		want := seedSecrets(t, s)
		// A secret stored before encryption existed.
		if err := s.db.Exec(`UPDATE sources SET secrets = ? WHERE id = 'src_secret'`, `[{"value":"ghsourcesecretvalue2","created_at":"2026-11-22T09:00:00Z"}]`).Error; err != nil {
			t.Fatal(err)
		}
		newKey := secretbox.Generate()
		s.UseKeyring(testKeyring(t, newKey+","+testKey))
		n, err := s.Reseal(ctx)
		// endpoint, source, automation, two automation versions.
		if err != nil || n != 5 {
			t.Fatalf("Reseal = %d, %v; want 5 values rewritten", n, err)
		}
		if n, err := s.Reseal(ctx); err != nil || n != 0 {
			t.Errorf("second Reseal = %d, %v; want nothing to do", n, err)
		}
		s.UseKeyring(testKeyring(t, newKey))
		got, err := readSecrets(t, s)
		if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("with only the new key: %v, %v; want %v", got, err, want)
		}
		if d := dump(t, s); strings.Contains(d, "ghsourcesecretvalue2") {
			t.Error("the plain-text secret survived the reseal")
		}
		s.UseKeyring(testKeyring(t, testKey))
		if _, err := readSecrets(t, s); !errors.Is(err, secretbox.ErrUnknownKey) {
			t.Errorf("the old key alone still opens: %v", err)
		}
	})
}
