package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"effidx/access"
	"effidx/collector"
	"effidx/dashboard"
	"effidx/indices"
	"effidx/lights"
	"effidx/remind"
	"effidx/rules"
	"effidx/warehouse"
)

// Config is the whole process configuration: defaults, then the YAML file,
// then EFFIDX_* environment variables, then flags. Each setting has one
// name in three spellings: YAML clickhouse.addr, env EFFIDX_CLICKHOUSE_ADDR,
// flag --clickhouse-addr.
type Config struct {
	Listen     string           `yaml:"listen"`
	DataDir    string           `yaml:"data_dir"`
	Timezone   string           `yaml:"timezone"`
	LogLevel   string           `yaml:"log_level"`
	Roles      string           `yaml:"roles"` // what `serve` runs: collector, jobs, dashboard (comma-separated)
	ClickHouse warehouse.Config `yaml:"clickhouse"`
	Collector  collector.Config `yaml:"collector"`
	Rules      rules.Config     `yaml:"rules"`
	Lights     lights.Config    `yaml:"lights"`
	Indices    indices.Config   `yaml:"indices"`
	Access     access.Config    `yaml:"access"`
	Dashboard  dashboard.Config `yaml:"dashboard"`
	Remind     remind.Config    `yaml:"remind"`
}

func defaultConfig() Config {
	return Config{
		Listen:     "127.0.0.1:8080",
		DataDir:    "./data",
		Timezone:   "Asia/Shanghai",
		LogLevel:   "info",
		Roles:      "collector,jobs,dashboard",
		ClickHouse: warehouse.DefaultConfig(),
		Collector:  collector.DefaultConfig(),
		Lights:     lights.DefaultConfig(),
		Indices:    indices.DefaultConfig(),
		Access:     access.DefaultConfig(),
		Dashboard:  dashboard.DefaultConfig(),
		Remind:     remind.DefaultConfig(),
	}
}

// setting is one configurable value reachable from env and flags.
type setting struct {
	name  string // flag name; env is EFFIDX_ + upper(name with - as _)
	usage string
	ptr   *string
}

func (s setting) env() string {
	return "EFFIDX_" + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
}

// configFlags binds the common settings to fs. The returned load function
// applies file, env and flags in order (call it after fs.Parse).
func configFlags(fs *flag.FlagSet) func() (Config, error) {
	var v struct{ config, listen, dataDir, chAddr, chDB, chUser, chPassword, chTLS, cluster, replicated, tz, logLevel, roles string }
	settings := []setting{
		{"listen", "address to serve HTTP on (default 127.0.0.1:8080)", &v.listen},
		{"data-dir", "directory for the spool and the embedded ClickHouse (default ./data)", &v.dataDir},
		{"clickhouse-addr", "host:port of ClickHouse's native protocol; empty = start an embedded clickhouse-server", &v.chAddr},
		{"clickhouse-database", "ClickHouse database (default effidx)", &v.chDB},
		{"clickhouse-user", "ClickHouse user (default default)", &v.chUser},
		{"clickhouse-password", "ClickHouse password", &v.chPassword},
		{"clickhouse-tls", "true to connect to ClickHouse over TLS", &v.chTLS},
		{"clickhouse-cluster", "ClickHouse cluster name: ON CLUSTER DDL and Distributed tables", &v.cluster},
		{"clickhouse-replicated", "with a cluster: true = Replicated* tables and ON CLUSTER DDL (needs Keeper), false = plain local tables migrated host by host (default true)", &v.replicated},
		{"timezone", "time zone of the working-day rules and the schema (default Asia/Shanghai)", &v.tz},
		{"log-level", "debug, info, warn or error (default info)", &v.logLevel},
		{"roles", "what serve runs, comma-separated: collector (POST /api/v1/events), jobs (index and lights jobs), dashboard (read API; runs the lights job too) (default collector,jobs,dashboard)", &v.roles},
	}
	fs.StringVar(&v.config, "config", "", "YAML configuration file (env EFFIDX_CONFIG)")
	for _, s := range settings {
		fs.StringVar(s.ptr, s.name, "", s.usage+" (env "+s.env()+")")
	}
	return func() (Config, error) {
		cfg := defaultConfig()
		path := v.config
		if path == "" {
			path = os.Getenv("EFFIDX_CONFIG")
		}
		if path != "" {
			if err := loadYAML(path, &cfg); err != nil {
				return cfg, err
			}
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		tls, replicated := "", ""
		targets := map[string]*string{
			"clickhouse-tls": &tls, "clickhouse-replicated": &replicated,
			"listen": &cfg.Listen, "data-dir": &cfg.DataDir, "clickhouse-addr": &cfg.ClickHouse.Addr,
			"clickhouse-database": &cfg.ClickHouse.Database, "clickhouse-user": &cfg.ClickHouse.User,
			"clickhouse-password": &cfg.ClickHouse.Password, "clickhouse-cluster": &cfg.ClickHouse.Cluster,
			"timezone": &cfg.Timezone, "log-level": &cfg.LogLevel, "roles": &cfg.Roles,
		}
		for _, s := range settings {
			if e, ok := os.LookupEnv(s.env()); ok {
				*targets[s.name] = e
			}
			if set[s.name] {
				*targets[s.name] = *s.ptr
			}
		}
		if e := os.Getenv("EFFIDX_INGEST_TOKENS"); e != "" {
			toks, err := collector.ParseTokens(e)
			if err != nil {
				return cfg, fmt.Errorf("EFFIDX_INGEST_TOKENS: %w", err)
			}
			cfg.Collector.Tokens = toks
		}
		// The reminder secrets, like the ingest tokens, by environment only:
		// never a flag (visible in ps), preferably not the file.
		for env, dst := range map[string]*string{
			"EFFIDX_REMIND_WEBHOOK_SECRET": &cfg.Remind.Webhook.Secret, "EFFIDX_REMIND_ACK_SECRET": &cfg.Remind.AckSecret,
			"EFFIDX_REMIND_SMTP_PASSWORD": &cfg.Remind.SMTP.Password, "EFFIDX_REMIND_EVENTS_TOKEN": &cfg.Remind.EventsToken,
		} {
			if e := os.Getenv(env); e != "" {
				*dst = e
			}
		}
		if tls != "" {
			b, err := strconv.ParseBool(tls)
			if err != nil {
				return cfg, fmt.Errorf("clickhouse-tls %q: want true or false", tls)
			}
			cfg.ClickHouse.TLS = b
		}
		if replicated != "" {
			b, err := strconv.ParseBool(replicated)
			if err != nil {
				return cfg, fmt.Errorf("clickhouse-replicated %q: want true or false", replicated)
			}
			cfg.ClickHouse.Replicated = b
		}
		cfg.ClickHouse.Timezone = cfg.Timezone
		if cfg.Collector.Spool.Dir == "" {
			cfg.Collector.Spool.Dir = filepath.Join(cfg.DataDir, "spool")
		}
		return cfg, cfg.Validate()
	}
}

// loadYAML decodes path strictly: an unknown or misspelt key is an error
// with its line number, not a silently ignored setting.
func loadYAML(path string, cfg *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// io.EOF: an empty file sets nothing.
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Validate checks every component and reports all problems at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen is empty (want host:port, e.g. 127.0.0.1:8080)"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is empty"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel))
	}
	if len(c.roles()) == 0 {
		errs = append(errs, fmt.Errorf("roles %q: want one or more of collector, jobs, dashboard, comma-separated", c.Roles))
	}
	for _, r := range strings.Split(c.Roles, ",") {
		if r = strings.TrimSpace(r); r != "" && r != roleCollector && r != roleJobs && r != roleDashboard {
			errs = append(errs, fmt.Errorf("roles: unknown role %q (want collector, jobs or dashboard)", r))
		}
	}
	if err := c.ClickHouse.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Collector.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Rules.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Lights.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Indices.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Access.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Dashboard.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Remind.Validate(); err != nil {
		errs = append(errs, err)
	}
	// The reminder job's reminded/responded events must reach a collector.
	if roles := c.roles(); c.Remind.Enabled && roles[roleJobs] && !roles[roleCollector] && c.Remind.EventsURL == "" {
		errs = append(errs, errors.New("remind events_url: required when reminders are enabled in a process without the collector role (the reminded and responded events go to a collector)"))
	}
	return errors.Join(errs...)
}

// Roles of `serve`: one process runs all three by default; a scaled-out
// deployment runs stateless collector and dashboard replicas and the jobs
// apart (jobs are idempotent, so two jobs replicas are harmless, only
// wasted work).
const (
	roleCollector = "collector" // POST /api/v1/events
	roleJobs      = "jobs"      // the index job's schedule, catch-up and recomputes, the lights job and the reminders
	roleDashboard = "dashboard" // the read API; it runs the lights job too, whose memory answers /api/v1/lights
)

func (c *Config) roles() map[string]bool {
	m := map[string]bool{}
	for _, r := range strings.Split(c.Roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			m[r] = true
		}
	}
	return m
}

// roleFilter answers 404 for the routes of roles this process does not
// run; /metrics, /healthz and /readyz are always served. Filtering in
// front of the mux leaves route registration alone: a new page or API
// route belongs to the dashboard role without further wiring.
func roleFilter(roles map[string]bool, next http.Handler) http.Handler {
	if roles[roleCollector] && roles[roleDashboard] {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/metrics" || p == "/healthz" || p == "/readyz":
		case p == "/api/v1/events":
			if !roles[roleCollector] {
				http.Error(w, "this effidx runs without the collector role (--roles)", http.StatusNotFound)
				return
			}
		case !roles[roleDashboard]:
			http.Error(w, "this effidx runs without the dashboard role (--roles)", http.StatusNotFound)
			return
		}
		next.ServeHTTP(w, r)
	})
}
