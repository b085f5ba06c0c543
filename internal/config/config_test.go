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
