package config

import "testing"

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
