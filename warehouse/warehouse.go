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
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// Config says which ClickHouse to use and how.
type Config struct {
	Addr        string        `yaml:"addr"` // host:port of the native protocol; "" = embedded server
	Database    string        `yaml:"database"`
	User        string        `yaml:"user"`
	Password    string        `yaml:"password"`
	TLS         bool          `yaml:"tls"`
	Cluster     string        `yaml:"cluster"`    // "" = single node; else ON CLUSTER / Distributed
	Replicated  bool          `yaml:"replicated"` // with Cluster: Replicated* tables (needs Keeper); false = plain local tables, DDL host by host
	Timezone    string        `yaml:"timezone"`   // of the DateTime columns
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ReadTimeout is how long a statement may go without the server
	// sending anything: an INSERT ... SELECT sends nothing until it ends,
	// and a full rebuild of the stored index facts takes minutes (10M
	// cases: 3 to 5 here). 0: clickhouse-go's 5 minutes.
	ReadTimeout time.Duration `yaml:"read_timeout"`
}

// DefaultConfig is the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{Database: "effidx", User: "default", Timezone: "Asia/Shanghai", Replicated: true, DialTimeout: 5 * time.Second, ReadTimeout: 30 * time.Minute}
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
	if c.ReadTimeout < 0 {
		errs = append(errs, errors.New("clickhouse read_timeout must not be negative"))
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
// server first when it is not) and checks that it answers. With a cluster
// it also checks that the queries over Distributed tables will be allowed
// (see connOptions).
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Warehouse, error) {
	if log == nil {
		log = slog.Default()
	}
	w, err := open(ctx, cfg, log, false)
	if err != nil || cfg.Cluster == "" {
		return w, err
	}
	sv, err := w.conn.ServerVersion()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("clickhouse %s: %w", cfg.Addr, err)
	}
	if sv.Revision > proto.DBMS_MIN_REVISION_WITH_SETTINGS_SERIALIZED_AS_STRINGS {
		// Servers since 19.x take string settings from the client.
		w.Close()
		if w, err = open(ctx, cfg, log, true); err != nil {
			return nil, err
		}
	}
	var mode string
	if err := w.conn.QueryRow(ctx, "SELECT value FROM system.settings WHERE name = 'distributed_product_mode'").Scan(&mode); err != nil {
		w.Close()
		return nil, fmt.Errorf("clickhouse %s: read distributed_product_mode: %w", cfg.Addr, err)
	}
	switch mode {
	case "local":
	case "deny":
		w.Close()
		return nil, fmt.Errorf("clickhouse %s (%s) answers distributed_product_mode = 'deny', which refuses the index queries over Distributed tables: "+
			"set <distributed_product_mode>local</distributed_product_mode> in the settings profile of user %q (users.xml; "+
			"servers before 19.x cannot take it from the client)", cfg.Addr, w.version, cfg.User)
	default:
		log.Warn("distributed_product_mode is not 'local': index queries will send subqueries across shards", "mode", mode, "clickhouse", cfg.Addr)
	}
	return w, nil
}

func open(ctx context.Context, cfg Config, log *slog.Logger, stringSettings bool) (*Warehouse, error) {
	conn, err := clickhouse.Open(connOptions(cfg, cfg.Addr, stringSettings))
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %s: %w", cfg.Addr, err)
	}
	w := &Warehouse{conn: conn, cfg: cfg, log: log}
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&w.version); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse %s does not answer: %w", cfg.Addr, err)
	}
	// With EFFIDX_RECORD_SQL set (compat/), every statement is recorded.
	if w.conn, err = recordIfAsked(conn, cfg, w.version); err != nil {
		conn.Close()
		return nil, err
	}
	return w, nil
}

// connOptions are the clickhouse-go options for one server of cfg.
// stringSettings: the server takes settings of type string from the
// client (clickhouse-go cannot send them to servers before 19.x).
//
// With a cluster, two settings make the queries over Distributed tables
// work. distributed_product_mode = 'local': the index and lights queries
// filter with `case_id IN (SELECT case_id FROM events ...)`, which over
// Distributed tables ClickHouse refuses by default ("Double-distributed
// IN/JOIN subqueries is denied"). The tables such subqueries read are
// sharded by the same key as the outer one (events and light_changes by
// cityHash64(case_id)), so each shard answers from its own local table and
// nothing crosses shards; GLOBAL would ship every subquery's result to
// every shard. 18.16 can take it only from the user's settings profile.
// insert_distributed_sync = 1: a Distributed insert returns once every
// shard holds its rows (by default the receiving server queues them and
// sends them later), so the collector confirms its spool only for rows the
// shards have, and a job reading right after its insert sees it.
func connOptions(cfg Config, addr string, stringSettings bool) *clickhouse.Options {
	opts := &clickhouse.Options{
		Addr:            []string{addr},
		Auth:            clickhouse.Auth{Database: "default", Username: cfg.User, Password: cfg.Password},
		DialTimeout:     cfg.DialTimeout,
		MaxOpenConns:    8,
		MaxIdleConns:    4,
		ConnMaxLifetime: time.Hour,
		Compression:     &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
		ReadTimeout:     cfg.ReadTimeout,
	}
	if cfg.TLS {
		opts.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.Cluster != "" {
		opts.Settings = clickhouse.Settings{"insert_distributed_sync": 1}
		if stringSettings {
			opts.Settings["distributed_product_mode"] = "local"
		}
	}
	return opts
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
