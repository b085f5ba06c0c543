package config

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestTemporalCompression(t *testing.T) {
	tests := []struct {
		addr, setting string
		want          bool
	}{
		{"127.0.0.1:7233", "", false},
		{"localhost:7233", "auto", false},
		{"[::1]:7233", "", false},
		{"temporal-frontend:7233", "", true},
		{"10.0.0.7:7233", "auto", true},
		{"127.0.0.1:7233", "gzip", true},
		{"temporal.example.com:7233", "none", false},
	}
	for _, tt := range tests {
		c, err := Load(RoleDev, env(map[string]string{"TEMPORAL_ADDRESS": tt.addr, "TEMPORAL_GRPC_COMPRESSION": tt.setting}))
		if err != nil {
			t.Fatalf("%s %q: %v", tt.addr, tt.setting, err)
		}
		if c.TemporalGzip != tt.want {
			t.Errorf("%s with %q: gzip = %v, want %v", tt.addr, tt.setting, c.TemporalGzip, tt.want)
		}
	}
	if _, err := Load(RoleDev, env(map[string]string{"TEMPORAL_GRPC_COMPRESSION": "zstd"})); err == nil {
		t.Error("TEMPORAL_GRPC_COMPRESSION=zstd was accepted")
	}
}

func TestQuotasAndAdminKey(t *testing.T) {
	c, err := Load(RoleDev, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Quotas{Endpoints: 250, Automations: 250, Sources: 100, APIKeys: 50}); c.Quotas != want || c.AdminKey != "" {
		t.Errorf("defaults: quotas %+v admin key %q, want %+v and none", c.Quotas, c.AdminKey, want)
	}
	c, err = Load(RoleDev, env(map[string]string{"HOOKFLOW_QUOTA_ENDPOINTS": "0", "HOOKFLOW_QUOTA_API_KEYS": "3"}))
	if err != nil || c.Quotas.Endpoints != 0 || c.Quotas.APIKeys != 3 {
		t.Errorf("set quotas: %+v, %v", c.Quotas, err)
	}
	secret := "short-admin-key"
	for _, bad := range []map[string]string{
		{"HOOKFLOW_QUOTA_SOURCES": "-1"},
		{"HOOKFLOW_QUOTA_AUTOMATIONS": "lots"},
		{"HOOKFLOW_ADMIN_KEY": secret},
	} {
		_, err := Load(RoleDev, env(bad))
		if err == nil {
			t.Errorf("%v accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q shows the admin key", err)
		}
	}
	long := strings.Repeat("k", 44)
	if c, err := Load(RoleDev, env(map[string]string{"HOOKFLOW_ADMIN_KEY": long})); err != nil || c.AdminKey != long {
		t.Errorf("44-character admin key: %v", err)
	}
}

// TestMail: dev sends to its SMTP sink unless HOOKFLOW_SMTP_URL is set, other
// roles have no server until it is, and a bad URL is refused without showing
// its password.
func TestMail(t *testing.T) {
	tests := []struct {
		name     string
		role     Role
		env      map[string]string
		wantSMTP string
		wantSink string
	}{
		{"dev default", RoleDev, nil, "smtp://127.0.0.1:2525?from=%3Chookflow%40localhost%3E", "127.0.0.1:2525"},
		{"dev sink moved", RoleDev, map[string]string{"HOOKFLOW_DEV_SMTP_ADDR": "localhost:2626"}, "smtp://localhost:2626?from=%3Chookflow%40localhost%3E", "localhost:2626"},
		{"dev sink off", RoleDev, map[string]string{"HOOKFLOW_DEV_SMTP_ADDR": "off"}, "(none)", ""},
		{"dev with a real server", RoleDev, map[string]string{"HOOKFLOW_SMTP_URL": "smtps://u:p@smtp.example.com"}, "smtps://u:xxxxx@smtp.example.com:465", "127.0.0.1:2525"},
		{"worker default", RoleWorker, map[string]string{"HOOKFLOW_ENCRYPTION_KEY": strings.Repeat("ab", 32), "DATABASE_URL": "postgres://x"}, "(none)", ""},
	}
	for _, tt := range tests {
		c, err := Load(tt.role, env(tt.env))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if c.SMTP.String() != tt.wantSMTP || c.DevSMTPAddr != tt.wantSink {
			t.Errorf("%s: SMTP %s sink %q, want %s and %q", tt.name, c.SMTP, c.DevSMTPAddr, tt.wantSMTP, tt.wantSink)
		}
	}
	for _, bad := range []map[string]string{
		{"HOOKFLOW_SMTP_URL": "smtp://user:Sup3rS3cret@mail.example.com:nope"},
		{"HOOKFLOW_SMTP_URL": "imap://user:Sup3rS3cret@mail.example.com"},
		{"HOOKFLOW_DEV_SMTP_ADDR": "0.0.0.0:2525"},
		{"HOOKFLOW_DEV_SMTP_ADDR": "2525"},
	} {
		_, err := Load(RoleDev, env(bad))
		if err == nil {
			t.Errorf("%v accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "Sup3rS3cret") {
			t.Errorf("error %q shows the password", err)
		}
	}
}
