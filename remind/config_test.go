package remind

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidateNamesEveryProblem(t *testing.T) {
	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want []string
	}{
		{"enabled without directory and secret", func(c *Config) { c.Enabled = true }, []string{
			"remind directory: required when reminders are enabled", "remind webhook.secret: required"}},
		{"a directory that is not there", func(c *Config) {
			c.Enabled, c.Directory, c.Webhook.Secret = true, "/nonexistent/directory.yaml", "s"
		}, []string{"remind directory: stat /nonexistent/directory.yaml"}},
		{"claims", func(c *Config) { c.ClaimSettle, c.ClaimLease = 1500*time.Millisecond, 10*time.Second }, []string{
			"remind claim_settle 1.5s: a whole number of seconds", "remind claim_lease 10s: must outlast claim_settle plus two send timeouts"}},
		{"retries", func(c *Config) { c.RetryMin, c.RetryMax, c.MaxAttempts = time.Hour, time.Minute, 0 }, []string{
			"remind retry_min 1h0m0s / retry_max 1m0s", "remind max_attempts 0: 1..100"}},
		{"addresses", func(c *Config) {
			c.BaseURL, c.EventsURL, c.SMTP.Addr, c.SMTP.From = "effidx.example.gov.cn", "ftp://x", "mail.example.gov.cn", "not an address"
		}, []string{`remind base_url "effidx.example.gov.cn"`, `remind events_url "ftp://x"`, `remind smtp.addr "mail.example.gov.cn": want host:port`,
			`remind smtp.from "not an address"`}},
		{"schedule and windows", func(c *Config) { c.Schedule, c.AckValidFor, c.OutboxWindow = "often", time.Minute, time.Hour }, []string{
			`remind schedule "often"`, "remind ack_valid_for 1m0s: at least 1h", "remind outbox_window 1h0m0s: at least 24h"}},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		err := c.Validate()
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q: %v", tc.name, w, err)
			}
		}
	}
}
