package remind

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Config is the reminder job's configuration (remind: in the process
// configuration). The secrets are best given by environment
// (EFFIDX_REMIND_WEBHOOK_SECRET, EFFIDX_REMIND_ACK_SECRET,
// EFFIDX_REMIND_SMTP_PASSWORD, EFFIDX_REMIND_EVENTS_TOKEN).
type Config struct {
	Enabled   bool   `yaml:"enabled"`
	Schedule  string `yaml:"schedule"`  // cron spec
	Directory string `yaml:"directory"` // who is who and how to reach them (required when enabled)
	// BaseURL is where people reach the pages (https://effidx.example.gov.cn):
	// messages link to the item's lights and to the acknowledgement page.
	BaseURL     string        `yaml:"base_url"`
	AckSecret   string        `yaml:"ack_secret"` // HMAC key of acknowledgement links; the same on every replica
	AckValidFor time.Duration `yaml:"ack_valid_for"`

	Webhook WebhookConfig `yaml:"webhook"`
	SMTP    SMTPConfig    `yaml:"smtp"`

	// The claim protocol (see the package documentation).
	ClaimSettle time.Duration `yaml:"claim_settle"` // whole seconds
	ClaimLease  time.Duration `yaml:"claim_lease"`
	RetryMin    time.Duration `yaml:"retry_min"`
	RetryMax    time.Duration `yaml:"retry_max"`
	MaxAttempts int           `yaml:"max_attempts"`
	Concurrency int           `yaml:"concurrency"` // messages sent at once

	// Where reminded/responded events go when this process runs no
	// collector: another effidx's POST /api/v1/events, with an ingest token.
	EventsURL   string `yaml:"events_url"`
	EventsToken string `yaml:"events_token"`
	// OutboxWindow is how far back a run looks for reminders and
	// acknowledgements whose events have not gone out yet.
	OutboxWindow time.Duration `yaml:"outbox_window"`
	// Replica names this process in the log ("" = host name and pid).
	Replica string `yaml:"replica"`
}

// WebhookConfig is the generic webhook channel; the URL is per department
// (directory).
type WebhookConfig struct {
	Secret  string        `yaml:"secret"` // HMAC-SHA256 key of X-Effidx-Signature
	Timeout time.Duration `yaml:"timeout"`
}

// SMTPConfig is the e-mail channel; no Addr: no e-mail.
type SMTPConfig struct {
	Addr     string        `yaml:"addr"` // host:port
	From     string        `yaml:"from"`
	Username string        `yaml:"username"` // "" = no AUTH
	Password string        `yaml:"password"`
	Timeout  time.Duration `yaml:"timeout"`
}

// DefaultConfig has reminders off; the rest are the defaults when on.
func DefaultConfig() Config {
	return Config{
		Schedule:     "@every 1m",
		AckValidFor:  30 * 24 * time.Hour,
		Webhook:      WebhookConfig{Timeout: 10 * time.Second},
		SMTP:         SMTPConfig{Timeout: 30 * time.Second},
		ClaimSettle:  2 * time.Second,
		ClaimLease:   5 * time.Minute,
		RetryMin:     time.Minute,
		RetryMax:     time.Hour,
		MaxAttempts:  8,
		Concurrency:  4,
		OutboxWindow: 8 * 24 * time.Hour,
	}
}

// Validate reports every problem at once; with Enabled false only the
// values themselves are checked, not what an enabled job needs.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("remind "+format, args...)) }
	if _, err := cron.ParseStandard(c.Schedule); err != nil {
		add("schedule %q: %v (e.g. \"@every 1m\")", c.Schedule, err)
	}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("base_url %q: want the pages' absolute http(s) URL", c.BaseURL)
		}
	}
	if c.AckValidFor < time.Hour {
		add("ack_valid_for %s: at least 1h (a link must survive a weekend)", c.AckValidFor)
	}
	if c.Webhook.Timeout <= 0 || c.SMTP.Timeout <= 0 {
		add("webhook.timeout and smtp.timeout must be positive")
	}
	if c.SMTP.Addr != "" {
		if _, _, err := net.SplitHostPort(c.SMTP.Addr); err != nil {
			add("smtp.addr %q: want host:port", c.SMTP.Addr)
		}
		if a, err := mail.ParseAddress(c.SMTP.From); err != nil || c.SMTP.From == "" {
			add("smtp.from %q: want the sender's address", c.SMTP.From)
		} else if strings.ContainsAny(a.Address, "\r\n") {
			add("smtp.from: one line")
		}
	}
	if c.ClaimSettle < time.Second || c.ClaimSettle%time.Second != 0 {
		add("claim_settle %s: a whole number of seconds, at least 1s", c.ClaimSettle)
	}
	if c.ClaimLease < c.ClaimSettle+2*max(c.Webhook.Timeout, c.SMTP.Timeout) {
		add("claim_lease %s: must outlast claim_settle plus two send timeouts", c.ClaimLease)
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		add("retry_min %s / retry_max %s: positive, and max not below min", c.RetryMin, c.RetryMax)
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		add("max_attempts %d: 1..100", c.MaxAttempts)
	}
	if c.Concurrency < 1 || c.Concurrency > 64 {
		add("concurrency %d: 1..64", c.Concurrency)
	}
	if c.EventsURL != "" {
		if u, err := url.Parse(c.EventsURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("events_url %q: want the collector's absolute URL (…/api/v1/events)", c.EventsURL)
		}
	}
	if c.OutboxWindow < 24*time.Hour {
		add("outbox_window %s: at least 24h", c.OutboxWindow)
	}
	if c.Enabled {
		if c.Directory == "" {
			add("directory: required when reminders are enabled (who is responsible, their heads, how to reach them)")
		} else if _, err := os.Stat(c.Directory); err != nil {
			add("directory: %v", err)
		}
		if c.Webhook.Secret == "" {
			add("webhook.secret: required when reminders are enabled (receivers check the HMAC signature); set EFFIDX_REMIND_WEBHOOK_SECRET")
		}
		if c.BaseURL != "" && len(c.AckSecret) < 16 {
			add("ack_secret: at least 16 characters when base_url is set (it signs the acknowledgement links); set EFFIDX_REMIND_ACK_SECRET")
		}
	}
	return errors.Join(errs...)
}

// replica is the configured name or host:pid.
func (c *Config) replica() string {
	if c.Replica != "" {
		return c.Replica
	}
	h, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", h, os.Getpid())
}
