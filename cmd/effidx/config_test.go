package main

import (
	"bytes"
	"effidx/event"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func loadWith(t *testing.T, yaml string, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	for _, k := range []string{"EFFIDX_CONFIG", "EFFIDX_LISTEN", "EFFIDX_DATA_DIR", "EFFIDX_CLICKHOUSE_ADDR", "EFFIDX_CLICKHOUSE_DATABASE", "EFFIDX_INGEST_TOKENS", "EFFIDX_TIMEZONE", "EFFIDX_LOG_LEVEL", "EFFIDX_CLICKHOUSE_TLS"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	if yaml != "" {
		path := filepath.Join(t.TempDir(), "effidx.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", path}, args...)
	}
	fs := newFlagSet("test", &bytes.Buffer{}, "test")
	load := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return load()
}

func TestConfigLayersDefaultsFileEnvThenFlags(t *testing.T) {
	const file = "listen: 127.0.0.1:9001\ndata_dir: /srv/effidx\nclickhouse:\n  addr: file-host:9000\n  database: fromfile\ncollector:\n  max_events: 500\n  flush_interval: 250ms\n"
	tests := []struct {
		name  string
		yaml  string
		env   map[string]string
		args  []string
		check func(t *testing.T, c Config)
	}{
		{"defaults alone", "", nil, nil, func(t *testing.T, c Config) {
			if c.Listen != "127.0.0.1:8080" || c.DataDir != "./data" || c.ClickHouse.Addr != "" || c.Timezone != "Asia/Shanghai" || c.Collector.Spool.Dir != "data/spool" {
				t.Fatalf("defaults: %+v", c)
			}
		}},
		{"the file overrides defaults", file, nil, nil, func(t *testing.T, c Config) {
			if c.Listen != "127.0.0.1:9001" || c.ClickHouse.Addr != "file-host:9000" || c.ClickHouse.Database != "fromfile" ||
				c.Collector.MaxEvents != 500 || c.Collector.FlushInterval != 250*time.Millisecond || c.Collector.Spool.Dir != "/srv/effidx/spool" {
				t.Fatalf("file: %+v", c)
			}
			if c.Collector.MaxLineBytes != 64<<10 {
				t.Fatalf("a default not in the file was lost: max_line_bytes %d", c.Collector.MaxLineBytes)
			}
		}},
		{"env overrides the file", file, map[string]string{"EFFIDX_CLICKHOUSE_ADDR": "env-host:9000", "EFFIDX_LISTEN": "127.0.0.1:9002"}, nil, func(t *testing.T, c Config) {
			if c.ClickHouse.Addr != "env-host:9000" || c.Listen != "127.0.0.1:9002" || c.ClickHouse.Database != "fromfile" {
				t.Fatalf("env: %+v", c)
			}
		}},
		{"flags override env", file, map[string]string{"EFFIDX_CLICKHOUSE_ADDR": "env-host:9000", "EFFIDX_CLICKHOUSE_TLS": "false"}, []string{"--clickhouse-addr", "flag-host:9000", "--clickhouse-tls", "true"}, func(t *testing.T, c Config) {
			if c.ClickHouse.Addr != "flag-host:9000" || !c.ClickHouse.TLS {
				t.Fatalf("flag: %+v", c.ClickHouse)
			}
		}},
		{"ingest tokens from env", "", map[string]string{"EFFIDX_INGEST_TOKENS": "hall:" + strings.Repeat("ab", 32) + ":D01,D02"}, nil, func(t *testing.T, c Config) {
			if len(c.Collector.Tokens) != 1 || c.Collector.Tokens[0].Source != "hall" || len(c.Collector.Tokens[0].Departments) != 2 {
				t.Fatalf("tokens: %+v", c.Collector.Tokens)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadWith(t, tt.yaml, tt.env, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestConfigRejectsBadInputWithEveryProblemAtOnce(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		args []string
		want []string
	}{
		{"a misspelt key names its line", "listen: 127.0.0.1:1\ncollector:\n  max_event: 5\n", nil, []string{"line 3", "field max_event not found"}},
		{"several bad values are all reported", "collector:\n  max_events: 0\n  batch_rows: -1\n", []string{"--clickhouse-database", "bad-name", "--timezone", "Mars/Base"},
			[]string{"max_events must be positive", "batch_rows must be positive", `clickhouse database "bad-name"`, `timezone "Mars/Base"`}},
		{"a plaintext token", "collector:\n  tokens:\n    - source: hall\n      sha256: hunter2\n      departments: [D01]\n", nil, []string{"not the secret itself"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadWith(t, tt.yaml, nil, tt.args...)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestRunAnswersBadUsageWithExitStatusTwo(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no command", nil, true, "no command given"},
		{"unknown command", []string{"frobnicate"}, true, `unknown command "frobnicate"`},
		{"unknown flag", []string{"serve", "--no-such-flag"}, true, "flag provided but not defined"},
		{"bad setting", []string{"migrate", "--print", "--clickhouse-database", "x y"}, true, `clickhouse database "x y"`},
		{"help is not an error", []string{"serve", "-h"}, false, ""},
		{"bench without a target", []string{"bench"}, true, "want `effidx bench ingest`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := Run(t.Context(), tt.args, nil, &out, &errOut)
			var u usageError
			if tt.usage != errors.As(err, &u) {
				t.Fatalf("Run(%v) = %v; usage error wanted: %v", tt.args, err, tt.usage)
			}
			if tt.want != "" && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run(%v) = %q, want %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestMigratePrintRendersTheSchemaWithoutAServer(t *testing.T) {
	var out bytes.Buffer
	if err := Run(t.Context(), []string{"migrate", "--print", "--clickhouse-cluster", "city"}, nil, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CREATE TABLE IF NOT EXISTS effidx.events_local ON CLUSTER city", "ENGINE = Distributed(city, effidx, events_local, cityHash64(case_id));"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("migrate --print lacks %q:\n%s", want, out.String())
		}
	}
}

func TestExampleConfigLoads(t *testing.T) {
	c, err := loadWith(t, string(must(os.ReadFile("../../deployments/effidx.example.yaml"))), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClickHouse.Addr != "127.0.0.1:9000" || len(c.Collector.Tokens) != 1 || c.Collector.Spool.Dir != "/var/lib/effidx/spool" {
		t.Fatalf("example config loaded as %+v", c)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestSimulateWritesAParsableDeterministicStream(t *testing.T) {
	dir := t.TempDir()
	run := func(name string) []byte {
		path := filepath.Join(dir, name)
		args := []string{"simulate", "--days", "2", "--cases-per-day", "50", "--seed", "3", "--start", "2026-09-01", "--out", path}
		if err := Run(t.Context(), args, nil, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		return must(os.ReadFile(path))
	}
	a, b := run("a.ndjson"), run("b.ndjson")
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed gave different streams")
	}
	d, err := event.Decode(a, event.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) < 200 || len(d.Rejected) > len(d.Events)/50 {
		t.Fatalf("%d events, %d malformed: want a realistic 2-day stream", len(d.Events), len(d.Rejected))
	}
	for _, e := range d.Events {
		if e.At.Before(time.Date(2026, 9, 1, 0, 0, 0, 0, time.FixedZone("", 8*3600))) || !e.At.Before(time.Date(2026, 9, 3, 0, 0, 0, 0, time.FixedZone("", 8*3600))) {
			t.Fatalf("event %s at %s is outside the window", e.ID, e.At)
		}
	}
}

func TestRemindConfigFromFileAndSecretsFromEnvironment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "directory.yaml")
	if err := os.WriteFile(dir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	on := "remind:\n  enabled: true\n  directory: " + dir + "\n  base_url: https://effidx.example.gov.cn\n"
	c, err := loadWith(t, on, map[string]string{"EFFIDX_REMIND_WEBHOOK_SECRET": "hook-secret", "EFFIDX_REMIND_ACK_SECRET": "ack-secret-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Remind.Enabled || c.Remind.Webhook.Secret != "hook-secret" || c.Remind.AckSecret != "ack-secret-0123456789" || c.Remind.ClaimLease != 5*time.Minute {
		t.Fatalf("remind: %+v", c.Remind)
	}
	// Without the secrets, and as a jobs-only process without events_url.
	_, err = loadWith(t, on+"roles: jobs\n", map[string]string{"EFFIDX_REMIND_WEBHOOK_SECRET": "", "EFFIDX_REMIND_ACK_SECRET": ""})
	for _, want := range []string{"remind webhook.secret: required when reminders are enabled", "remind ack_secret: at least 16 characters when base_url is set",
		"remind events_url: required when reminders are enabled in a process without the collector role"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
