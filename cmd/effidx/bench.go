package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"effidx/event"
	"effidx/simulate"
	"effidx/warehouse"
)

func cmdBench(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "dashboard" {
		return benchDashboard(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "lights" {
		return benchLights(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "compute" {
		return benchCompute(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "ingest" {
		return usageError{errors.New("bench: want `effidx bench ingest`, `effidx bench lights`, `effidx bench compute` or `effidx bench dashboard`")}
	}
	fs := newFlagSet("bench ingest", stderr, "bench ingest [flags]: end-to-end ingest throughput against bare clickhouse-go inserts")
	events := fs.Int("events", 1_000_000, "events to post")
	batch := fs.Int("batch", 1000, "events per request")
	clients := fs.Int("clients", 8, "concurrent HTTP clients")
	layouts := shardList{1}
	fs.Var(&layouts, "shards", shardsUsage+"; with N shards, one collector per shard takes the clients in turn")
	load := configFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	cfg, err := load()
	if err != nil {
		return usageError{err}
	}
	log := newLogger(stderr, "warn")

	fmt.Fprintf(stdout, "generating %d events...\n", *events)
	bodies, rows, err := benchBodies(*events, *batch)
	if err != nil {
		return err
	}
	var figures []map[string]any
	for _, n := range layouts {
		if len(layouts) > 1 {
			fmt.Fprintf(stdout, "\n== %s ==\n", layoutName(n))
		}
		res, err := benchIngestOn(ctx, cfg, n, bodies, rows, *clients, *batch, stdout, stderr, log)
		if err != nil {
			return fmt.Errorf("bench ingest, %s: %w", layoutName(n), err)
		}
		res["clients"], res["batch"] = *clients, *batch
		line, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(line))
		figures = append(figures, res)
	}
	if len(layouts) > 1 {
		return printSideBySide(stdout, "ingest", layouts, figures,
			[]string{"events", "events_per_s", "landed_per_s", "baseline_rows_per_s", "ratio", "p50_ms", "p99_ms", "rss_mb"})
	}
	return nil
}

// benchIngestOn posts bodies to collectors writing to a ClickHouse of the
// given number of shards (one collector per shard), waits until every
// accepted event is in ClickHouse, and then inserts rows with bare
// clickhouse-go for the baseline. It returns the figures.
func benchIngestOn(ctx context.Context, cfg Config, shards int, bodies [][]byte, rows []event.Stored, clients, batch int,
	stdout, stderr io.Writer, log *slog.Logger) (map[string]any, error) {
	wh, tmp, stop, err := benchWarehouse(ctx, &cfg, "effidx_bench", shards, log)
	if err != nil {
		return nil, err
	}
	defer stop()
	hosts := []warehouse.ClusterHost{{Shard: 1, Addr: cfg.ClickHouse.Addr}}
	clusterArgs := []string{}
	if shards > 1 {
		if hosts, err = wh.ClusterHosts(ctx); err != nil {
			return nil, err
		}
		clusterArgs = []string{"--clickhouse-cluster", cfg.ClickHouse.Cluster, "--clickhouse-replicated=false"}
	}

	// The collectors run as child processes so that their RSS is their
	// own, not the load generator's.
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var posters []*poster
	var children []*exec.Cmd
	defer func() {
		for _, c := range children {
			_ = c.Process.Signal(os.Interrupt)
			_ = c.Wait()
		}
	}()
	for _, h := range hosts {
		child := exec.CommandContext(ctx, exe, append([]string{"serve", "--roles", "collector", "--listen", "127.0.0.1:0",
			"--data-dir", filepath.Join(tmp, fmt.Sprintf("collector-%d", h.Shard)),
			"--clickhouse-addr", h.Addr, "--clickhouse-database", "effidx_bench", "--log-level", "warn"}, clusterArgs...)...)
		child.Env = append(os.Environ(), "EFFIDX_INGEST_TOKENS=")
		child.Stderr = stderr
		out, err := child.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := child.Start(); err != nil {
			return nil, err
		}
		children = append(children, child)
		url, err := readListenURL(out)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "collector %d on %s writes through ClickHouse %s\n", h.Shard, url, h.Addr)
		posters = append(posters, newPoster(url+"/api/v1/events", "", batch, clients, 0))
	}

	fmt.Fprintf(stdout, "posting %d events in %d requests with %d clients to %d collector(s)\n", len(rows), len(bodies), clients, len(posters))
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan []byte)
	errc := make(chan error, clients)
	for i := range clients {
		p := posters[i%len(posters)]
		wg.Go(func() {
			for b := range next {
				if err := p.send(ctx, b); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	for _, b := range bodies {
		next <- b
	}
	close(next)
	wg.Wait()
	acked := time.Since(start)
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	var accepted int64
	var lat []time.Duration
	for _, p := range posters {
		accepted += p.accepted.Load()
		lat = append(lat, p.latencies...)
	}
	var landed time.Duration
	for {
		var n uint64
		if err := wh.Conn().QueryRow(ctx, "SELECT count() FROM effidx_bench.events").Scan(&n); err != nil {
			return nil, err
		}
		if n >= uint64(accepted) {
			landed = time.Since(start)
			break
		}
		if time.Since(start) > 10*time.Minute {
			return nil, fmt.Errorf("only %d of %d events landed after 10 minutes", n, accepted)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rss := 0
	for _, c := range children {
		rss += peakRSSMB(c.Process.Pid)
	}

	// Baseline: the same rows through bare PrepareBatch/Append/Send, into
	// the same (Distributed) table the collectors wrote to.
	if err := onEveryShard(ctx, wh, "TRUNCATE TABLE %s", "events"); err != nil {
		return nil, err
	}
	baseStart := time.Now()
	if err := bareInsert(ctx, wh, rows, 100_000); err != nil {
		return nil, err
	}
	base := time.Since(baseStart)

	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res := map[string]any{
		"bench":               "ingest",
		"shards":              shards,
		"events":              len(rows),
		"events_per_s":        int(float64(accepted) / acked.Seconds()),
		"landed_per_s":        int(float64(accepted) / landed.Seconds()),
		"baseline_rows_per_s": int(float64(len(rows)) / base.Seconds()),
		"p99_ms":              lat[len(lat)*99/100].Milliseconds(),
		"p50_ms":              lat[len(lat)/2].Milliseconds(),
		"rss_mb":              rss,
		"clickhouse":          wh.ServerVersion(),
	}
	res["ratio"] = float64(int(float64(res["landed_per_s"].(int))/float64(res["baseline_rows_per_s"].(int))*100)) / 100
	fmt.Fprintf(stdout, "acknowledged %d events in %.2fs, all landed in ClickHouse after %.2fs; bare clickhouse-go inserted them in %.2fs\n",
		accepted, acked.Seconds(), landed.Seconds(), base.Seconds())
	return res, nil
}

// benchWarehouse gives a benchmark an empty, migrated database: on the
// configured ClickHouse, or on an embedded one in a temporary directory, or
// for shards > 1 on that many new local shards.
// It returns the directory (for the benchmark's own files too) and a stop
// function that removes it.
func benchWarehouse(ctx context.Context, cfg *Config, db string, shards int, log *slog.Logger) (*warehouse.Warehouse, string, func(), error) {
	tmp, err := os.MkdirTemp("", "effidx-bench-")
	if err != nil {
		return nil, "", nil, err
	}
	stopShards := func() {}
	if shards > 1 {
		if stopShards, err = benchShards(ctx, cfg, shards, tmp, log); err != nil {
			os.RemoveAll(tmp)
			return nil, "", nil, err
		}
	} else if cfg.ClickHouse.Addr == "" {
		cfg.DataDir = tmp
	}
	cfg.ClickHouse.Database = db
	wh, stopCH, err := clickhouse(ctx, cfg, log)
	if err != nil {
		stopShards()
		os.RemoveAll(tmp)
		return nil, "", nil, err
	}
	stop := func() {
		stopCH()
		stopShards()
		os.RemoveAll(tmp)
	}
	// New shards are empty; a configured server may hold an earlier run.
	if shards == 1 {
		if err := wh.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			stop()
			return nil, "", nil, err
		}
	}
	if _, err := wh.Migrate(ctx); err != nil {
		stop()
		return nil, "", nil, err
	}
	return wh, tmp, stop, nil
}

// benchBodies generates n valid events as NDJSON bodies of batch events,
// and the same rows as stored events for the baseline.
func benchBodies(n, batch int) ([][]byte, []event.Stored, error) {
	cfg := simulate.DefaultConfig()
	cfg.MalformedShare = 0
	cfg.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	cfg.CasesPerDay = 5000
	cfg.Days = 400
	var buf bytes.Buffer
	w := &limitWriter{max: n, w: &buf}
	if _, err := simulate.Generate(cfg, w); err != nil && !errors.Is(err, errEnough) {
		return nil, nil, err
	}
	var bodies [][]byte
	rows := make([]event.Stored, 0, n)
	now := time.Now()
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var body bytes.Buffer
	k := 0
	for sc.Scan() {
		e, err := event.Parse(sc.Bytes(), time.Time{}, 0)
		if err != nil {
			continue
		}
		rows = append(rows, event.Stored{Event: e, ReceivedAt: now, Source: "bench"})
		body.Write(sc.Bytes())
		body.WriteByte('\n')
		if k++; k == batch {
			bodies = append(bodies, bytes.Clone(body.Bytes()))
			body.Reset()
			k = 0
		}
	}
	if k > 0 {
		bodies = append(bodies, bytes.Clone(body.Bytes()))
	}
	return bodies, rows, nil
}

var errEnough = errors.New("enough events")

// limitWriter stops the generator after max lines.
type limitWriter struct {
	max, n int
	w      io.Writer
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n >= l.max {
		return 0, errEnough
	}
	written := 0
	for len(p) > 0 && l.n < l.max {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			n, err := l.w.Write(p)
			return written + n, err
		}
		n, err := l.w.Write(p[:i+1])
		written += n
		if err != nil {
			return written, err
		}
		p = p[i+1:]
		l.n++
	}
	if len(p) > 0 {
		return written, errEnough
	}
	return written, nil
}

// bareInsert is the baseline: clickhouse-go row Append, nothing else.
func bareInsert(ctx context.Context, wh *warehouse.Warehouse, rows []event.Stored, size int) error {
	for len(rows) > 0 {
		n := min(size, len(rows))
		b, err := wh.Conn().PrepareBatch(ctx, "INSERT INTO effidx_bench.events ("+warehouse.EventColumnList()+")")
		if err != nil {
			return err
		}
		for i := range rows[:n] {
			if err := b.Append(warehouse.EventRow(&rows[i])...); err != nil {
				return err
			}
		}
		if err := b.Send(); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

func readListenURL(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "effidx: listening on "); ok {
			go func() { _, _ = io.Copy(io.Discard, r) }()
			return u, nil
		}
	}
	return "", errors.New("the collector exited before it listened")
}

// peakRSSMB reads VmHWM (peak resident set) of a process.
func peakRSSMB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb / 1024
		}
	}
	return -1
}
