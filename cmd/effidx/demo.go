package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

func cmdDemo(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr, "demo [flags]: embedded ClickHouse, a simulated city through the real collector, then serve")
	var sf simFlags
	sf.bind(fs, 90, 2000)
	exit := fs.Bool("exit", false, "stop after loading instead of serving (for scripts and tests)")
	load := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := load()
	if err != nil {
		return usageError{err}
	}
	// The demo posts to itself over loopback: dev mode, no tokens.
	cfg.Collector.Tokens = nil
	simCfg, err := sf.config(cfg.Timezone)
	if err != nil {
		return usageError{err}
	}
	log := newLogger(stderr, cfg.LogLevel)
	wh, stop, err := clickhouse(ctx, &cfg, log)
	if err != nil {
		return err
	}
	defer stop()
	if _, err := wh.Migrate(ctx); err != nil {
		return err
	}
	s, err := newServer(cfg, wh, log)
	if err != nil {
		return err
	}
	sctx, stopServer := context.WithCancel(ctx)
	defer stopServer()
	served := make(chan error, 1)
	go func() { served <- s.run(sctx) }()

	fmt.Fprintf(stdout, "effidx demo: simulating %d days of the city (seed %d) into %s\n", simCfg.Days, simCfg.Seed, s.URL())
	start := time.Now()
	p := newPoster(s.URL()+"/api/v1/events", "", 1000, 4, 0)
	st, err := postSimulation(ctx, simCfg, p)
	if err != nil {
		stopServer()
		<-served
		return fmt.Errorf("demo ingest: %w", err)
	}
	for s.spool.Used() > 0 && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(start)
	var stored uint64
	q := fmt.Sprintf("SELECT count() FROM %s.events FINAL", wh.Database())
	if err := wh.Conn().QueryRow(ctx, q).Scan(&stored); err != nil {
		log.Warn("count events", "err", err)
	}
	fmt.Fprintf(stdout, "effidx demo: %d events sent (%d malformed) in %.1fs (%.0f events/s): accepted %d, rejected %d, in ClickHouse %d\n",
		st.Events, st.Malformed, took.Seconds(), float64(st.Events)/took.Seconds(), p.accepted.Load(), p.rejected.Load(), stored)
	if err := s.lights.RunOnce(ctx); err != nil {
		log.Warn("lights", "err", err)
	} else {
		g, y, r := s.lights.Counts()
		fmt.Fprintf(stdout, "effidx demo: lights of the open items: %d red, %d yellow, %d green (%s/api/v1/lights?level=red)\n", r, y, g, s.URL())
	}
	cstart := time.Now()
	n, err := s.indices.ComputeSince(ctx, simCfg.Start)
	if err != nil {
		log.Warn("index", "err", err)
	} else {
		fmt.Fprintf(stdout, "effidx demo: index computed for %d periods since %s in %.1fs (%s/api/v1/scores?period=%s)\n",
			n, simCfg.Start.Format(time.DateOnly), time.Since(cstart).Seconds(), s.URL(), time.Now().In(simCfg.Location).Format("2006-01"))
	}
	if *exit {
		stopServer()
		return <-served
	}
	fmt.Fprintf(stdout, "effidx demo: serving on %s (API %s/api/v1/events, metrics %s/metrics); Ctrl-C stops\n", s.URL(), s.URL(), s.URL())
	return <-served
}
