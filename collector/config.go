// Package collector receives case events over HTTP (SPEC section 3),
// validates them, makes them durable in a write-ahead spool before
// acknowledging, and drains the spool into storage in batches.
package collector

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"effidx/collector/spool"
)

// Config is the collector's configuration.
type Config struct {
	Spool         spool.Config  `yaml:"spool"`
	MaxBodyBytes  int64         `yaml:"max_body_bytes"` // over it: 413
	MaxLineBytes  int           `yaml:"max_line_bytes"` // a longer event is rejected on its own
	MaxEvents     int           `yaml:"max_events"`     // events per request; over it: 413
	MaxFuture     time.Duration `yaml:"max_future"`     // `at` further ahead is rejected
	Tokens        []Token       `yaml:"tokens"`         // none: loopback clients only
	BatchRows     int           `yaml:"batch_rows"`     // rows per ClickHouse insert
	FlushInterval time.Duration `yaml:"flush_interval"` // a partial batch waits at most this long
	RetryMin      time.Duration `yaml:"retry_min"`      // first backoff while storage is down
	RetryMax      time.Duration `yaml:"retry_max"`
	RetryAfter    time.Duration `yaml:"retry_after"`  // Retry-After on 503
	DedupWindow   int           `yaml:"dedup_window"` // event ids remembered per generation (two generations)
}

// Token is one source system's ingest token, stored as the hex SHA-256 of
// the secret, scoped to the departments it may report for ("*" = all).
type Token struct {
	Source      string   `yaml:"source"`
	SHA256      string   `yaml:"sha256"`
	Departments []string `yaml:"departments"`
}

// DefaultConfig is the configuration with defaults filled in (the spool
// directory aside: it follows --data-dir).
func DefaultConfig() Config {
	return Config{
		Spool:         spool.DefaultConfig(),
		MaxBodyBytes:  32 << 20,
		MaxLineBytes:  64 << 10,
		MaxEvents:     20000,
		MaxFuture:     24 * time.Hour,
		BatchRows:     50000,
		FlushInterval: time.Second,
		RetryMin:      100 * time.Millisecond,
		RetryMax:      10 * time.Second,
		RetryAfter:    5 * time.Second,
		DedupWindow:   1 << 20,
	}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if err := c.Spool.Validate(); err != nil {
		errs = append(errs, err)
	}
	pos := func(name string, v int64) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("collector %s must be positive, got %d", name, v))
		}
	}
	pos("max_body_bytes", c.MaxBodyBytes)
	pos("max_line_bytes", int64(c.MaxLineBytes))
	pos("max_events", int64(c.MaxEvents))
	pos("max_future", int64(c.MaxFuture))
	pos("batch_rows", int64(c.BatchRows))
	pos("flush_interval", int64(c.FlushInterval))
	pos("retry_min", int64(c.RetryMin))
	pos("retry_after", int64(c.RetryAfter))
	pos("dedup_window", int64(c.DedupWindow))
	if c.RetryMax < c.RetryMin {
		errs = append(errs, fmt.Errorf("collector retry_max %s is below retry_min %s", c.RetryMax, c.RetryMin))
	}
	seen := map[string]bool{}
	for i, t := range c.Tokens {
		if t.Source == "" {
			errs = append(errs, fmt.Errorf("collector token %d: source is empty", i))
		}
		if seen[t.Source] {
			errs = append(errs, fmt.Errorf("collector token %d: source %q appears twice", i, t.Source))
		}
		seen[t.Source] = true
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 {
			errs = append(errs, fmt.Errorf("collector token %q: sha256 must be 64 hex digits (sha256sum of the secret), not the secret itself", t.Source))
		}
		if len(t.Departments) == 0 {
			errs = append(errs, fmt.Errorf("collector token %q: list the departments it may report for, or \"*\" for all", t.Source))
		}
	}
	return errors.Join(errs...)
}

// ParseTokens reads EFFIDX_INGEST_TOKENS: entries separated by ";", each
// "source:sha256hex:DEPT1,DEPT2" ("*" for every department).
func ParseTokens(s string) ([]Token, error) {
	var out []Token
	for _, entry := range strings.Split(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		parts := strings.SplitN(entry, ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("ingest token %q: want source:sha256hex:DEPT1,DEPT2 (or * for all departments)", entry)
		}
		t := Token{Source: parts[0], SHA256: strings.ToLower(parts[1])}
		for _, d := range strings.Split(parts[2], ",") {
			if d = strings.TrimSpace(d); d != "" {
				t.Departments = append(t.Departments, d)
			}
		}
		out = append(out, t)
	}
	return out, nil
}
