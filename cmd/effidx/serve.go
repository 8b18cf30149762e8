package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"effidx/access"
	"effidx/collector"
	"effidx/collector/spool"
	"effidx/dashboard"
	"effidx/event"
	"effidx/indices"
	"effidx/lights"
	"effidx/remind"
	"effidx/rules"
	"effidx/warehouse"
)

// clickhouse connects to the configured ClickHouse, or starts the embedded
// one under data-dir when no address is set. stop releases both.
func clickhouse(ctx context.Context, cfg *Config, log *slog.Logger) (wh *warehouse.Warehouse, stop func(), err error) {
	var srv *warehouse.Server
	stop = func() {}
	if cfg.ClickHouse.Addr == "" {
		srv, err = warehouse.StartServer(ctx, warehouse.ServerConfig{
			Dir: filepath.Join(cfg.DataDir, "clickhouse"), Timezone: cfg.Timezone, Logger: log,
		})
		if err != nil {
			return nil, stop, fmt.Errorf("start embedded ClickHouse (or set --clickhouse-addr): %w", err)
		}
		cfg.ClickHouse.Addr = srv.Addr()
		stop = func() {
			if err := srv.Stop(); err != nil {
				log.Warn("stop embedded ClickHouse", "err", err)
			}
		}
	}
	wh, err = warehouse.Open(ctx, cfg.ClickHouse, log)
	if err != nil {
		stop()
		return nil, func() {}, err
	}
	closeAll := stop
	stop = func() {
		wh.Close()
		closeAll()
	}
	return wh, stop, nil
}

// server is a running effidx process: collector, writer and HTTP.
type server struct {
	cfg     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	wh      *warehouse.Warehouse
	spool   *spool.Spool
	col     *collector.Collector
	writer  *collector.Writer
	lights  *lights.Job
	indices *indices.Job
	remind  *remind.Job // nil: reminders are off
	http    *http.Server
	ln      net.Listener
}

func newServer(cfg Config, wh *warehouse.Warehouse, log *slog.Logger) (*server, error) {
	s := &server{cfg: cfg, log: log, wh: wh, reg: prometheus.NewRegistry()}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sp, err := spool.Open(cfg.Collector.Spool, log)
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	s.spool = sp
	m := collector.NewMetrics(s.reg)
	collector.RegisterSpoolGauges(s.reg, cfg.Collector.Spool.MaxBytes, func() float64 { return float64(sp.Used()) }, func() float64 {
		if t := sp.Oldest(); !t.IsZero() {
			return time.Since(t).Seconds()
		}
		return 0
	})
	s.col = collector.New(cfg.Collector, sp, m, log)
	s.writer = collector.NewWriter(cfg.Collector, sp, wh, m, log)

	loc, err := rules.LoadLocation(cfg.Timezone)
	if err != nil {
		sp.Close()
		return nil, err
	}
	calendars, err := rules.NewLoader(cfg.Rules, loc, log)
	if err != nil {
		sp.Close()
		return nil, fmt.Errorf("load calendar: %w", err)
	}
	lightRules, err := cfg.Rules.LightRules()
	if err != nil {
		sp.Close()
		return nil, fmt.Errorf("load light rules: %w", err)
	}
	s.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "effidx_calendar_covered_until_year", Help: "Last year with holiday data; deadlines beyond it are provisional (weekends only).",
	}, func() float64 {
		cal, _ := calendars.Current()
		return float64(cal.CoveredUntil())
	}))
	s.lights = lights.NewJob(wh, &lights.RulesJudge{Calendar: calendars.Current, Rules: lightRules}, cfg.Lights, s.reg, log)
	catalogs, err := indices.NewCatalogSource(cfg.Indices.Catalog, log)
	if err != nil {
		sp.Close()
		return nil, fmt.Errorf("load indicator catalog: %w", err)
	}
	s.indices = indices.NewJob(wh, catalogs, calendars.Current, cfg.Indices, s.reg, log)
	api := indices.NewAPI(s.indices, indices.NewManual(wh, catalogs.Current(), nil), log)

	// Ingest has its own tokens; everything a person reads or writes goes
	// through the access middleware (SPEC 7).
	auth := access.New(cfg.Access, log)
	mux := http.NewServeMux()
	if cfg.Remind.Enabled {
		if s.remind, err = newRemind(cfg, wh, s.lights, calendars.Current, s.col, s.reg, log); err != nil {
			sp.Close()
			return nil, err
		}
		// The acknowledgement links (public: signed) and the reminders API.
		s.remind.Register(func(pattern string, h http.Handler) {
			_, path, _ := strings.Cut(pattern, " ")
			if i := strings.Index(path, "/{"); i >= 0 {
				path = path[:i]
			}
			mux.Handle(pattern, m.Instrument(path, h))
		}, auth.Middleware)
	}
	mux.Handle("POST /api/v1/events", m.Instrument("/api/v1/events", s.col))
	mux.Handle("GET /api/v1/lights", m.Instrument("/api/v1/lights", auth.Middleware(s.lights)))
	api.Register(func(pattern string, h http.Handler) {
		_, path, _ := strings.Cut(pattern, " ")
		if i := strings.Index(path, "/{"); i >= 0 {
			path = path[:i]
		}
		mux.Handle(pattern, m.Instrument(path, auth.Middleware(h)))
	})
	// The pages: behind the same access middleware (dashboard.Options.Auth),
	// with their security headers on every answer; /assets/ is public.
	dopts := dashboard.Options{API: api, Lights: s.lights, Auth: auth.Middleware, Log: log}
	if s.remind != nil {
		dopts.Reminders = s.remind
	}
	dash, err := dashboard.New(cfg.Dashboard, dopts)
	if err != nil {
		sp.Close()
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	dash.Register(func(pattern string, h http.Handler) {
		// The route label is the pattern's path, wildcards unexpanded: a
		// bounded set of labels whatever the ids asked for.
		_, path, _ := strings.Cut(pattern, " ")
		mux.Handle(pattern, m.Instrument(strings.TrimSuffix(path, "{$}"), h))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.Handle("GET /healthz", m.Instrument("/healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})))
	mux.Handle("GET /readyz", m.Instrument("/readyz", http.HandlerFunc(s.ready)))
	// Timeouts bound what a stalled client can hold; a 32 MiB body still
	// fits in ReadTimeout on a slow link.
	s.http = &http.Server{Handler: secureHeaders(roleFilter(cfg.roles(), mux)), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		sp.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	s.ln = ln
	return s, nil
}

// newRemind builds the reminder job: rules, directory, channels, and the
// way its events reach a collector (this process's, or events_url's).
func newRemind(cfg Config, wh *warehouse.Warehouse, lt *lights.Job, cal func() (*rules.Calendar, error), col *collector.Collector,
	reg prometheus.Registerer, log *slog.Logger) (*remind.Job, error) {
	rr, err := cfg.Rules.ReminderRules()
	if err != nil {
		return nil, fmt.Errorf("load reminder rules: %w", err)
	}
	dir, err := remind.LoadDirectory(cfg.Remind.Directory)
	if err != nil {
		return nil, fmt.Errorf("load reminder directory: %w", err)
	}
	var sink remind.EventSink
	switch {
	case cfg.roles()[roleCollector]:
		sink = remind.SinkFunc(func(ctx context.Context, evs []event.Event) error {
			_, err := col.Ingest(ctx, "effidx-remind", evs)
			return err
		})
	case cfg.Remind.EventsURL != "":
		sink = &remind.PostSink{URL: cfg.Remind.EventsURL, Token: cfg.Remind.EventsToken}
	}
	if cfg.Remind.BaseURL == "" {
		log.Warn("remind base_url is not set: messages carry no links to the item and no acknowledgement link (the API still acknowledges)")
	}
	log.Info("reminders on", "rules", rr.Version, "directory", dir.Version, "people", len(dir.People), "quiet", rr.Quiet.String())
	return remind.New(cfg.Remind, remind.Options{Warehouse: wh, Lights: lt, Calendar: cal, Rules: rr, Directory: dir, Events: sink, Registerer: reg, Log: log})
}

// ready answers 200 when ClickHouse answers and the schema is current.
func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.wh.Ping(ctx); err != nil {
		http.Error(w, "ClickHouse does not answer: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if n, err := s.wh.Pending(ctx); err != nil || n > 0 {
		http.Error(w, fmt.Sprintf("%d migrations pending (run `effidx migrate`)", n), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// URL is the base URL the server listens on.
func (s *server) URL() string { return "http://" + s.ln.Addr().String() }

// run serves until ctx is done, then shuts down in order: stop taking
// requests and finish in-flight ones, drain the spool into ClickHouse,
// close the spool.
func (s *server) run(ctx context.Context) error {
	jobs, stopJobs := context.WithCancel(context.Background())
	defer stopJobs()
	roles := s.cfg.roles()
	if roles[roleJobs] || roles[roleDashboard] {
		if err := s.lights.Start(jobs); err != nil {
			return err
		}
	}
	if roles[roleJobs] {
		if err := s.indices.Start(jobs); err != nil {
			return err
		}
		if s.remind != nil {
			if err := s.remind.Start(jobs); err != nil {
				return err
			}
		}
	}
	wctx, stopWriter := context.WithCancel(context.Background())
	writerDone := make(chan error, 1)
	go func() { writerDone <- s.writer.Run(wctx, 15*time.Second) }()
	httpDone := make(chan error, 1)
	go func() { httpDone <- s.http.Serve(s.ln) }()
	var runErr error
	select {
	case <-ctx.Done():
	case err := <-httpDone:
		runErr = fmt.Errorf("http server: %w", err)
	case err := <-writerDone:
		runErr = fmt.Errorf("spool writer stopped: %w", err)
		writerDone <- nil
	}
	s.log.Info("shutting down: finishing in-flight requests and draining the spool")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.http.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Warn("http shutdown", "err", err)
	}
	stopJobs()
	stopWriter()
	if err := <-writerDone; err != nil && runErr == nil {
		runErr = err
	}
	if err := s.spool.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

func cmdServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr, "serve [flags]: run the collector, jobs and /metrics in one process")
	migrate := fs.Bool("migrate", true, "apply pending migrations at start")
	load := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := load()
	if err != nil {
		return usageError{err}
	}
	log := newLogger(stderr, cfg.LogLevel)
	wh, stop, err := clickhouse(ctx, &cfg, log)
	if err != nil {
		return err
	}
	defer stop()
	if *migrate {
		if _, err := wh.Migrate(ctx); err != nil {
			return err
		}
	}
	s, err := newServer(cfg, wh, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "effidx: listening on %s\n", s.URL())
	log.Info("serving", "url", s.URL(), "roles", cfg.Roles, "clickhouse", cfg.ClickHouse.Addr, "clickhouse_version", wh.ServerVersion(), "spool", cfg.Collector.Spool.Dir)
	return s.run(ctx)
}

// secureHeaders gives every answer the headers a browser needs to treat it
// safely: no MIME sniffing, and JSON answers that run nothing and are
// framed nowhere. The pages set their own, stricter policy on top.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		if strings.HasPrefix(r.URL.Path, "/api/") {
			h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		}
		next.ServeHTTP(w, r)
	})
}
