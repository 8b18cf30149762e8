// Package warehouse owns the ClickHouse side of effidx: the connection, the
// schema and its migrations, the event inserts, and the embedded
// clickhouse-server used when no external server is configured.
package warehouse

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Config says which ClickHouse to use and how.
type Config struct {
	Addr        string        `yaml:"addr"` // host:port of the native protocol; "" = embedded server
	Database    string        `yaml:"database"`
	User        string        `yaml:"user"`
	Password    string        `yaml:"password"`
	TLS         bool          `yaml:"tls"`
	Cluster     string        `yaml:"cluster"`  // "" = single node; else ON CLUSTER / Distributed
	Timezone    string        `yaml:"timezone"` // of the DateTime columns
	DialTimeout time.Duration `yaml:"dial_timeout"`
}

// DefaultConfig is the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{Database: "effidx", User: "default", Timezone: "Asia/Shanghai", DialTimeout: 5 * time.Second}
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if !identRE.MatchString(c.Database) {
		errs = append(errs, fmt.Errorf("clickhouse database %q: use letters, digits and _ (it is part of SQL text)", c.Database))
	}
	if c.Cluster != "" && !identRE.MatchString(c.Cluster) {
		errs = append(errs, fmt.Errorf("clickhouse cluster %q: use letters, digits and _", c.Cluster))
	}
	if c.Addr != "" && !strings.Contains(c.Addr, ":") {
		errs = append(errs, fmt.Errorf("clickhouse addr %q: want host:port of the native protocol (usually 9000)", c.Addr))
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		errs = append(errs, fmt.Errorf("timezone %q is not a known IANA zone (e.g. Asia/Shanghai)", c.Timezone))
	}
	if c.DialTimeout <= 0 {
		errs = append(errs, errors.New("clickhouse dial_timeout must be positive"))
	}
	return errors.Join(errs...)
}

// Warehouse is an open ClickHouse connection with the effidx schema.
type Warehouse struct {
	conn    driver.Conn
	cfg     Config
	version string
	log     *slog.Logger
}

// Open connects to ClickHouse (cfg.Addr must be set: start an embedded
// server first when it is not) and checks that it answers.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Warehouse, error) {
	if log == nil {
		log = slog.Default()
	}
	opts := &clickhouse.Options{
		Addr:            []string{cfg.Addr},
		Auth:            clickhouse.Auth{Database: "default", Username: cfg.User, Password: cfg.Password},
		DialTimeout:     cfg.DialTimeout,
		MaxOpenConns:    8,
		MaxIdleConns:    4,
		ConnMaxLifetime: time.Hour,
		Compression:     &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
	}
	if cfg.TLS {
		opts.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %s: %w", cfg.Addr, err)
	}
	w := &Warehouse{conn: conn, cfg: cfg, log: log}
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&w.version); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse %s does not answer: %w", cfg.Addr, err)
	}
	return w, nil
}

// Close closes the connection pool.
func (w *Warehouse) Close() error { return w.conn.Close() }

// Conn is the underlying connection, for the packages that query.
func (w *Warehouse) Conn() driver.Conn { return w.conn }

// Config is the configuration the warehouse was opened with.
func (w *Warehouse) Config() Config { return w.cfg }

// Database is the effidx database name.
func (w *Warehouse) Database() string { return w.cfg.Database }

// ServerVersion is what SELECT version() answered at connect time.
func (w *Warehouse) ServerVersion() string { return w.version }

// Ping checks that ClickHouse answers.
func (w *Warehouse) Ping(ctx context.Context) error { return w.conn.Ping(ctx) }
