package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"effidx/indices"
	"effidx/rules"
	"effidx/warehouse"
)

// benchComputeDB is the benchmark's own database: never the service's.
const benchComputeDB = "effidx_bench_compute"

// benchComputeGenerator names the generator below; a kept data set made by
// another generator is regenerated, not measured.
const benchComputeGenerator = "bench-compute/1"

// benchCompute times the index computation (every computed indicator, for
// every department, region and the city) over generated cases, for one
// month and for a year, against a bare one-pass scan of the same events.
func benchCompute(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench compute", stderr, "bench compute [flags]: all indicators for a month and a year over generated cases, against a bare GROUP BY scan")
	cases := fs.Int("cases", 10_000_000, "cases to generate (all kinds, 40 departments, 9 regions, accepted in 2025)")
	chunk := fs.Int("chunk", 1_000_000, "cases per INSERT ... SELECT")
	runs := fs.Int("runs", 3, "runs of each measurement; medians are reported")
	keep := fs.Bool("keep", false, "keep the generated data (database effidx_bench_compute; the embedded ClickHouse under <data-dir>/bench-compute) and reuse it when --cases matches; without it the database is dropped")
	touch := fs.Int("touch", 2_000, "events received again before the measured runs (the generated city receives about 500 in 5 minutes): what one refresh of the stored facts costs")
	month := fs.String("month", "2025-06", "the month period to compute")
	year := fs.String("year", "2025", "the year period to compute")
	layouts := shardList{1}
	fs.Var(&layouts, "shards", shardsUsage+"; each layout generates its own data")
	settings := chgo.Settings{}
	fs.Func("set", "a ClickHouse setting name=value for the measured queries, e.g. max_memory_usage=8000000000 (repeatable)", func(v string) error {
		name, val, ok := strings.Cut(v, "=")
		if !ok || name == "" {
			return fmt.Errorf("want name=value, got %q", v)
		}
		// clickhouse-go sends int, bool and string settings.
		if n, err := strconv.Atoi(val); err == nil {
			settings[name] = n
		} else {
			settings[name] = val
		}
		return nil
	})
	load := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := load()
	if err != nil {
		return usageError{err}
	}
	if *cases < 1 || *chunk < 1 || *runs < 1 {
		return usageError{errors.New("bench compute: --cases, --chunk and --runs must be positive")}
	}
	monthP, err := indices.ParsePeriod(*month)
	if err != nil {
		return usageError{fmt.Errorf("--month: %w", err)}
	}
	yearP, err := indices.ParsePeriod(*year)
	if err != nil {
		return usageError{fmt.Errorf("--year: %w", err)}
	}
	log := newLogger(stderr, "warn")
	loc, err := rules.LoadLocation(cfg.Timezone)
	if err != nil {
		return err
	}
	calendars, err := rules.NewLoader(cfg.Rules, loc, log)
	if err != nil {
		return err
	}
	cal, err := calendars.Current()
	if err != nil {
		return err
	}
	cat, err := indices.Default()
	if err != nil {
		return err
	}

	// query_log is off in the embedded server's profile: switch it on for
	// the measured queries only.
	names := make([]string, 0, len(settings))
	for name := range settings {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(stdout, "setting %s = %v for the measured queries\n", name, settings[name])
	}
	settings["log_queries"] = 1
	logged := chgo.Context(ctx, chgo.WithSettings(settings))
	b := &computeBench{cases: *cases, chunk: *chunk, runs: *runs, touch: *touch, keep: *keep, month: monthP, year: yearP,
		loc: loc, cal: cal, cat: cat, logged: logged, log: log, stdout: stdout}
	var figures []map[string]any
	var failed []string
	for _, n := range layouts {
		if len(layouts) > 1 {
			fmt.Fprintf(stdout, "\n== %s ==\n", layoutName(n))
		}
		res, fails, err := b.run(ctx, cfg, n)
		if err != nil {
			return fmt.Errorf("bench compute, %s: %w", layoutName(n), err)
		}
		line, err := json.Marshal(res)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(line))
		figures = append(figures, res)
		for _, f := range fails {
			failed = append(failed, layoutName(n)+": "+f)
		}
	}
	// Every layout computes the same index from the same generated cases:
	// a difference is a sharding bug, not a figure.
	if len(layouts) > 1 && len(b.cities) == len(layouts) {
		for i, c := range b.cities[1:] {
			if c != b.cities[0] {
				failed = append(failed, fmt.Sprintf("%s computed other city values for %s than %s", layoutName(layouts[i+1]), b.year, layoutName(layouts[0])))
			}
		}
		if failed == nil {
			fmt.Fprintf(stdout, "\ncity values for %s: the same in every layout\n", b.year)
		}
	}
	if len(layouts) > 1 {
		if err := printSideBySide(stdout, "compute", layouts, figures, []string{"cases", "events", "parts", "generate_s", "optimize_s",
			"facts_build_s", "facts_refresh_s", "floor_scan_s", "month_s", "month_rows_read", "month_rows_read_per_s",
			"year_s", "year_rows_read", "rows_read_per_s", "ratio"}); err != nil {
			return err
		}
	}
	if failed != nil {
		return fmt.Errorf("bench compute: %s", strings.Join(failed, "; "))
	}
	return nil
}

// computeBench is one bench compute invocation: what every layout
// generates and measures alike.
type computeBench struct {
	cases, chunk, runs, touch int
	keep                      bool
	month, year               indices.Period
	loc                       *time.Location
	cal                       *rules.Calendar
	cat                       *indices.Catalog
	logged                    context.Context // the measured queries' context: their settings, query_log on
	log                       *slog.Logger
	stdout                    io.Writer
	cities                    []string // each layout's city values for the year, in order
}

// run measures one layout (shards servers) and returns its figures, and
// the computations that failed (a result too: shown with their query_log
// lines, named in the figures). err is for what stopped the measurement.
func (b *computeBench) run(ctx context.Context, cfg Config, shards int) (res map[string]any, failed []string, err error) {
	stdout, log, loc, cal, cat, logged := b.stdout, b.log, b.loc, b.cal, b.cat, b.logged
	wh, stop, err := benchComputeWarehouse(ctx, &cfg, b.keep, shards, log)
	if err != nil {
		return nil, nil, err
	}
	defer stop()
	conn := wh.Conn()
	db := wh.Database()

	// Generate, or reuse what a --keep run left.
	genS, mergeS := -1.0, -1.0
	reuse, err := benchComputeKept(ctx, wh, b.cases)
	if err != nil {
		return nil, nil, err
	}
	if reuse {
		fmt.Fprintf(stdout, "reusing the %d kept cases in %s\n", b.cases, db)
	} else if genS, mergeS, err = benchComputeGenerate(ctx, wh, b.cases, b.chunk, loc, stdout); err != nil {
		return nil, nil, err
	}
	var events, parts uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".events").Scan(&events); err != nil {
		return nil, nil, fmt.Errorf("count events: %w", err)
	}
	err = wh.EachHost(ctx, func(conn driver.Conn, _ warehouse.ClusterHost) error {
		var n uint64
		err := conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE database = ? AND table = ? AND active", db, wh.LocalTable("events")).Scan(&n)
		parts += n
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("count parts: %w", err)
	}
	fmt.Fprintf(stdout, "data: %d cases, %d events (%.1f per case) in %d active parts on %d server(s); ClickHouse %s; %d source queries at once (indices.parallel)\n",
		b.cases, events, float64(events)/float64(b.cases), parts, shards, wh.ServerVersion(), cfg.Indices.Parallel)

	// The floor: touching every event once.
	floorQ := "SELECT department, count() FROM " + db + ".events GROUP BY department"
	var floor []float64
	for i := range b.runs {
		start := time.Now()
		rows, err := conn.Query(logged, floorQ)
		if err != nil {
			return nil, nil, fmt.Errorf("floor scan: %w", err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("floor scan: %w", err)
		}
		floor = append(floor, time.Since(start).Seconds())
		fmt.Fprintf(stdout, "floor scan %d/%d: %d departments in %.3fs\n", i+1, b.runs, n, floor[i])
	}

	// A fixed "now" after every generated event: every window has closed,
	// so repeated runs compute the same thing.
	now := time.Date(b.year.End(loc).Year()+1, time.March, 1, 0, 0, 0, 0, loc)
	comp := indices.NewComputer(wh, cat).WithParallel(cfg.Indices.Parallel)

	// The stored facts: built once over the whole table (or brought up to
	// date when kept), then refreshed for what arrives. Every computation
	// below refreshes them first, as the jobs do.
	start := time.Now()
	if err := comp.Refresh(ctx, cal); err != nil {
		return nil, nil, fmt.Errorf("build the stored facts: %w", err)
	}
	buildS := time.Since(start).Seconds()
	var caseRows, stepRows, eventRows uint64
	if err := conn.QueryRow(ctx, "SELECT (SELECT count() FROM "+db+".case_facts), (SELECT count() FROM "+db+".step_facts), (SELECT count() FROM "+db+".event_facts)").Scan(&caseRows, &stepRows, &eventRows); err != nil {
		return nil, nil, fmt.Errorf("count stored facts: %w", err)
	}
	fmt.Fprintf(stdout, "stored facts: %d case rows, %d step rows, %d event count rows, built or brought up to date in %.2fs\n", caseRows, stepRows, eventRows, buildS)
	// What a job's refresh costs after new events: copies of b.touch events
	// received now, versioned as the collector versions them (they
	// collapse into the originals, the facts they re-derive are the same).
	cols := warehouse.EventColumnList()
	sel := strings.Split(cols, ", ")
	for i, c := range sel {
		switch c {
		case "received_at":
			sel[i] = "toDateTime(@received)"
		case "ver":
			sel[i] = "toUInt64(@ver)"
		}
	}
	touchQ := "INSERT INTO " + db + ".events (" + cols + ")\nSELECT " + strings.Join(sel, ", ") +
		"\nFROM " + db + ".events WHERE cityHash64(event_id) % 1000 = 7 LIMIT " + strconv.Itoa(b.touch)
	received := time.Now().Truncate(time.Second)
	if err := conn.Exec(ctx, touchQ, chgo.Named("received", received.Unix()), chgo.Named("ver", warehouse.Version(received))); err != nil {
		return nil, nil, fmt.Errorf("touch events: %w", err)
	}
	start = time.Now()
	if err := comp.Refresh(ctx, cal); err != nil {
		return nil, nil, fmt.Errorf("refresh the stored facts: %w", err)
	}
	refreshS := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "stored facts refreshed after %d events received again in %.2fs\n", b.touch, refreshS)
	sources, err := newSourceMatcher(cat, db)
	if err != nil {
		return nil, nil, err
	}
	// A failed computation (say, over the memory limit) is a result too:
	// it is shown with its query_log lines, not repeated, and named in the
	// figures; the command then fails.
	measure := func(p indices.Period) ([]computeRun, error) {
		var out []computeRun
		for i := range b.runs {
			r, err := benchComputeOnce(logged, wh, comp, sources, cal, p, now)
			if err != nil && r.queries == nil {
				return nil, err
			}
			if err != nil {
				fmt.Fprintf(stdout, "compute %s %d/%d FAILED after %.2fs: %v\n", p, i+1, b.runs, r.seconds, err)
			} else {
				fmt.Fprintf(stdout, "compute %s %d/%d: %.2fs, %d queries, %d results, read %d rows (%.0f MB), %.0f rows/s\n",
					p, i+1, b.runs, r.seconds, r.stats.Queries, r.results, r.stats.RowsRead, float64(r.stats.BytesRead)/1e6,
					float64(r.stats.RowsRead)/r.seconds)
			}
			for _, q := range r.queries {
				fmt.Fprintf(stdout, "    %-10s %7.2fs  read %11d rows %7.0f MB  memory %6.0f MB  cpu %6.2fs  %6d result rows%s\n",
					q.source, q.seconds, q.readRows, float64(q.readBytes)/1e6, float64(q.memory)/1e6, q.cpu, q.resultRows, q.failed)
			}
			if err != nil {
				return out, err
			}
			out = append(out, r)
		}
		return out, nil
	}
	res = map[string]any{
		"bench":        "compute",
		"shards":       shards,
		"parts":        parts,
		"cases":        b.cases,
		"events":       events,
		"floor_scan_s": round3(median(floor)),
		"runs":         b.runs,
		"parallel":     cfg.Indices.Parallel,
		"clickhouse":   wh.ServerVersion(),
	}
	if genS >= 0 {
		res["generate_s"], res["optimize_s"] = round2(genS), round2(mergeS)
	}
	res["facts_build_s"], res["facts_refresh_s"], res["touched_events"] = round2(buildS), round2(refreshS), b.touch
	for _, m := range []struct {
		name string
		p    indices.Period
	}{{"month", b.month}, {"year", b.year}} {
		rs, err := measure(m.p)
		if err != nil {
			res[m.name+"_error"] = err.Error()
			failed = append(failed, fmt.Sprintf("%s %s: %v", m.name, m.p, err))
			continue
		}
		mr := medianRun(rs)
		res[m.name+"_s"] = round2(mr.seconds)
		res[m.name+"_rows_read"] = mr.stats.RowsRead
		if m.name == "year" {
			floorS := median(floor)
			rowsPerS := float64(mr.stats.RowsRead) / mr.seconds
			res["ratio"] = round2(mr.seconds / floorS)
			res["rows_read_per_s"] = int(rowsPerS)
			fmt.Fprintf(stdout, "year %s: median %.2fs of %d runs (target 30s); ratio = year / floor scan (%.3fs) = %.1f; read %.0f rows/s (%d rows per run, %.1f times the events)\n",
				m.p, mr.seconds, b.runs, floorS, mr.seconds/floorS, rowsPerS, mr.stats.RowsRead, float64(mr.stats.RowsRead)/float64(events))
			// The city's values say whether the generated city is a plausible one.
			var city []string
			for _, x := range rs[0].city {
				city = append(city, fmt.Sprintf("%s %.3f", x.Indicator, x.Value))
			}
			fmt.Fprintf(stdout, "city %s: %s\n", m.p, strings.Join(city, ", "))
			b.cities = append(b.cities, strings.Join(city, ", "))
		} else {
			res["month_rows_read_per_s"] = int(float64(mr.stats.RowsRead) / mr.seconds)
			fmt.Fprintf(stdout, "month %s: median %.2fs of %d runs (target 10s); %.1f times the floor scan\n",
				m.p, mr.seconds, b.runs, mr.seconds/median(floor))
		}
	}
	return res, failed, nil
}

// computeRun is one timed computation and what query_log says of it.
type computeRun struct {
	seconds float64
	stats   indices.Stats
	results int
	queries []sourceQuery
	city    []indices.Result
}

// sourceQuery is one finished source query from system.query_log.
type sourceQuery struct {
	source, failed                          string
	seconds, cpu                            float64
	readRows, readBytes, memory, resultRows uint64
}

// benchComputeOnce runs one computation and reads its source queries back
// from query_log, failed ones included (then with the computation's error;
// without queries when query_log could not be read). The runs are a second
// apart so that each one's query_start_time window holds its own queries
// only.
func benchComputeOnce(ctx context.Context, wh *warehouse.Warehouse, comp *indices.Computer, sources sourceMatcher, cal *rules.Calendar, p indices.Period, now time.Time) (computeRun, error) {
	var r computeRun
	conn := wh.Conn()
	var t0, t1 time.Time
	if err := conn.QueryRow(ctx, "SELECT now()").Scan(&t0); err != nil {
		return r, fmt.Errorf("server time: %w", err)
	}
	start := time.Now()
	res, st, compErr := comp.ComputeStats(ctx, cal, p, now)
	r.seconds, r.stats, r.results = time.Since(start).Seconds(), st, len(res)
	for _, x := range res {
		if x.SubjectType == indices.SubjectCity {
			r.city = append(r.city, x)
		}
	}
	if err := conn.QueryRow(ctx, "SELECT now()").Scan(&t1); err != nil {
		return r, errors.Join(compErr, fmt.Errorf("server time: %w", err))
	}
	if err := conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		return r, errors.Join(compErr, fmt.Errorf("flush query_log: %w", err))
	}
	// type 2 = finished, 3 and 4 = failed before or while running. On a
	// cluster the initial query only: its read figures include the shards'
	// (their progress), its memory and cpu are the connected server's.
	rows, err := conn.Query(ctx, `
SELECT query_duration_ms, read_rows, read_bytes, memory_usage, result_rows,
    ProfileEvents.Values[indexOf(ProfileEvents.Names, 'UserTimeMicroseconds')] + ProfileEvents.Values[indexOf(ProfileEvents.Names, 'SystemTimeMicroseconds')] AS cpu_us,
    type, query
FROM system.query_log
WHERE type IN (2, 3, 4) AND is_initial_query AND event_date >= yesterday()
  AND query_start_time >= toDateTime(?) AND query_start_time <= toDateTime(?)
  AND (position(query, 'GROUP BY f_dept, f_region') > 0 OR position(query, 'INSERT INTO') = 1)
  AND position(query, ?) > 0 AND position(query, 'system.query_log') = 0
ORDER BY query_start_time, event_time`, t0.Unix(), t1.Unix(), wh.Database()+".")
	if err != nil {
		return r, errors.Join(compErr, fmt.Errorf("read query_log: %w", err))
	}
	defer rows.Close()
	queries := []sourceQuery{}
	for rows.Next() {
		var q sourceQuery
		var ms, cpuUS uint64
		var typ uint8
		var text string
		if err := rows.Scan(&ms, &q.readRows, &q.readBytes, &q.memory, &q.resultRows, &cpuUS, &typ, &text); err != nil {
			return r, errors.Join(compErr, fmt.Errorf("read query_log: %w", err))
		}
		q.seconds, q.cpu, q.source = float64(ms)/1000, float64(cpuUS)/1e6, sources.source(text)
		if typ != 2 {
			q.failed = "  FAILED"
		}
		queries = append(queries, q)
	}
	if err := rows.Err(); err != nil {
		return r, errors.Join(compErr, fmt.Errorf("read query_log: %w", err))
	}
	r.queries = queries
	// Keep the next run's window clear of this one's queries.
	time.Sleep(1100 * time.Millisecond)
	return r, compErr
}

// sourceMatcher names the source of a logged computation query: the
// query_log text is the SQL of indices.ComputeSQL with its parameters bound,
// so each source's SQL with every @name as a wildcard matches its own
// queries only.
type sourceMatcher []struct {
	name string
	re   *regexp.Regexp
}

var benchParam = regexp.MustCompile(`@[A-Za-z_][A-Za-z0-9_]*`)

func newSourceMatcher(cat *indices.Catalog, db string) (sourceMatcher, error) {
	qs, err := indices.ComputeSQL(cat, db)
	if err != nil {
		return nil, err
	}
	var m sourceMatcher
	for _, q := range qs {
		pieces := benchParam.Split(strings.TrimSpace(q.SQL), -1)
		for i := range pieces {
			pieces[i] = regexp.QuoteMeta(pieces[i])
		}
		re, err := regexp.Compile("(?s)" + strings.Join(pieces, ".*?"))
		if err != nil {
			return nil, fmt.Errorf("match the %s query: %w", q.Source, err)
		}
		m = append(m, struct {
			name string
			re   *regexp.Regexp
		}{q.Source, re})
	}
	return m, nil
}

func (m sourceMatcher) source(query string) string {
	if table, ok := strings.CutPrefix(query, "INSERT INTO "); ok {
		table, _, _ = strings.Cut(table, " ")
		return "refresh " + table[strings.IndexByte(table, '.')+1:]
	}
	for _, s := range m {
		if s.re.MatchString(query) {
			return s.name
		}
	}
	return "?"
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// medianRun is the run of median duration (its stats go with it).
func medianRun(rs []computeRun) computeRun {
	s := append([]computeRun(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].seconds < s[j].seconds })
	return s[len(s)/2]
}

func round3(f float64) float64 { return float64(int(f*1000+0.5)) / 1000 }

// benchComputeWarehouse opens the benchmark database: migrated, and empty
// unless keep (then a data set of an earlier --keep run may be reused).
// With an embedded server, keep puts it under <data-dir>/bench-compute, else
// in a temporary directory. Without keep the database is dropped at the end,
// since ten million cases are gigabytes on a shared server.
func benchComputeWarehouse(ctx context.Context, cfg *Config, keep bool, shards int, log *slog.Logger) (*warehouse.Warehouse, func(), error) {
	tmp := ""
	// Shards are always the benchmark's own servers, and fresh unless kept.
	own := cfg.ClickHouse.Addr == "" || shards > 1
	if own {
		if keep {
			dir := "bench-compute"
			if shards > 1 {
				dir = fmt.Sprintf("bench-compute-%dshards", shards)
			}
			cfg.DataDir = filepath.Join(cfg.DataDir, dir)
		} else {
			var err error
			if tmp, err = os.MkdirTemp("", "effidx-bench-compute-"); err != nil {
				return nil, nil, err
			}
			cfg.DataDir = tmp
		}
	}
	stopShards := func() {}
	if shards > 1 {
		var err error
		if stopShards, err = benchShards(ctx, cfg, shards, cfg.DataDir, log); err != nil {
			if tmp != "" {
				os.RemoveAll(tmp)
			}
			return nil, nil, err
		}
	}
	cfg.ClickHouse.Database = benchComputeDB
	wh, stopCH, err := clickhouse(ctx, cfg, log)
	if err != nil {
		stopShards()
		if tmp != "" {
			os.RemoveAll(tmp)
		}
		return nil, nil, err
	}
	stop := func() {
		// New shards go with their directory; a single server may be shared.
		if !keep && shards == 1 {
			// A fresh context: the run's may be cancelled by now.
			if err := wh.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+benchComputeDB); err != nil {
				log.Warn("drop the benchmark database", "err", err)
			}
		}
		stopCH()
		stopShards()
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}
	if !keep && shards == 1 {
		if err := wh.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+benchComputeDB); err != nil {
			stop()
			return nil, nil, fmt.Errorf("drop %s: %w", benchComputeDB, err)
		}
	}
	if _, err := wh.Migrate(ctx); err != nil {
		stop()
		return nil, nil, err
	}
	if err := wh.Conn().Exec(ctx, "CREATE TABLE IF NOT EXISTS "+benchComputeDB+
		".bench_generated (cases UInt64, generator String, generated_at DateTime) ENGINE = TinyLog"); err != nil {
		stop()
		return nil, nil, fmt.Errorf("create %s.bench_generated: %w", benchComputeDB, err)
	}
	return wh, stop, nil
}

// benchComputeKept reports whether the database holds a complete data set
// of n cases from this generator.
func benchComputeKept(ctx context.Context, wh *warehouse.Warehouse, n int) (bool, error) {
	var c uint64
	err := wh.Conn().QueryRow(ctx, "SELECT count() FROM "+benchComputeDB+".bench_generated WHERE cases = ? AND generator = ?",
		uint64(n), benchComputeGenerator).Scan(&c)
	if err != nil {
		return false, fmt.Errorf("look for kept data: %w", err)
	}
	return c > 0, nil
}

// benchComputeGenerate fills events, light_changes and rejected_events with
// n cases inside ClickHouse (INSERT ... SELECT, chunk cases per insert) and
// merges the parts, so that every measurement sees the same layout. It
// returns the seconds spent inserting and merging.
func benchComputeGenerate(ctx context.Context, wh *warehouse.Warehouse, n, chunk int, loc *time.Location, stdout io.Writer) (genS, mergeS float64, err error) {
	conn, db := wh.Conn(), wh.Database()
	// bench_generated is the connected server's own table.
	if err := onEveryShard(ctx, wh, "TRUNCATE TABLE %s", "events", "light_changes", "rejected_events"); err != nil {
		return 0, 0, err
	}
	if err := conn.Exec(ctx, "TRUNCATE TABLE "+db+".bench_generated"); err != nil {
		return 0, 0, fmt.Errorf("empty bench_generated: %w", err)
	}
	base := time.Date(2025, time.January, 1, 0, 0, 0, 0, loc).Unix()
	start := time.Now()
	fmt.Fprintf(stdout, "generating %d cases in ClickHouse, %d per insert...\n", n, chunk)
	for lo := 0; lo < n; lo += chunk {
		cnt := min(chunk, n-lo)
		t := time.Now()
		q := "INSERT INTO " + db + ".events (" + warehouse.EventColumnList() + ")\n" + benchEventsSQL(benchCasesSQL(lo, cnt, base))
		if err := conn.Exec(ctx, q); err != nil {
			return 0, 0, fmt.Errorf("generate cases %d..%d: %w", lo, lo+cnt, err)
		}
		fmt.Fprintf(stdout, "  cases %d..%d inserted in %.1fs (%.0fs so far)\n", lo, lo+cnt, time.Since(t).Seconds(), time.Since(start).Seconds())
	}
	// Red lights: the late and the open cases turned red a little after
	// their limit (in calendar days), as the lights job would record.
	red := fmt.Sprintf(`INSERT INTO %s.light_changes (kind, case_id, item, department, light, since, observed_at, calendar, ver)
SELECT kname, case_id, '', dept, 'red', toDateTime(toUInt32(acc + red_off)), toDateTime(toUInt32(acc + red_off + 120)), 'bench',
    toUInt64(9223372036854775807) - toUInt64(acc + red_off + 120) * 1000000000
FROM (%s)
WHERE k != 5 AND lim > 0 AND (open OR done_off > red_off)`, db, benchCasesSQL(0, n, base))
	if err := conn.Exec(ctx, red); err != nil {
		return 0, 0, fmt.Errorf("generate light changes: %w", err)
	}
	// Rejected events: one per fifty cases, over the year.
	rejected := fmt.Sprintf(`INSERT INTO %s.rejected_events (received_at, source, request_id, idx, department, error, raw, ver)
SELECT toDateTime(toUInt32(%d + cityHash64(number, 70) %% (365 * 86400))) AS recv,
    ['hall', 'internal', 'scenario', '12345', 'tasks'][1 + cityHash64(number, 71) %% 5],
    concat('req-', toString(intDiv(number, 100))), toUInt32(number %% 100),
    concat('D', if(cityHash64(number, 72) %% 40 < 9, '0', ''), toString(1 + cityHash64(number, 72) %% 40)),
    'at: want RFC 3339 with an offset',
    concat('{"event_id":"bad-', toString(number), '","kind":"service","type":"accepted","at":"yesterday","case_id":"X', toString(number), '"}'),
    toUInt64(9223372036854775807) - toUInt64(recv) * 1000000000
FROM numbers(%d)`, db, base, max(1, n/50))
	if err := conn.Exec(ctx, rejected); err != nil {
		return 0, 0, fmt.Errorf("generate rejected events: %w", err)
	}
	genS = time.Since(start).Seconds()
	fmt.Fprintf(stdout, "generated in %.1fs; merging parts (OPTIMIZE ... FINAL)...\n", genS)
	// One merged layout, so that background merges do not run under the
	// measurements and every run reads the same parts.
	t := time.Now()
	if err := onEveryShard(ctx, wh, "OPTIMIZE TABLE %s FINAL", "events", "light_changes", "rejected_events"); err != nil {
		return 0, 0, err
	}
	mergeS = time.Since(t).Seconds()
	fmt.Fprintf(stdout, "merged in %.1fs\n", mergeS)
	if err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s.bench_generated (cases, generator, generated_at) SELECT %d, '%s', now()",
		db, n, benchComputeGenerator)); err != nil {
		return 0, 0, fmt.Errorf("record the data set: %w", err)
	}
	return genS, mergeS, nil
}

// benchHash expands H(salt) in the generator SQL: a pseudo-random Int64
// in [0, 2^32) drawn for case n. Signed, because 18.16 finds no common type
// for UInt64 and the signed columns in if and multiIf.
var benchHash = regexp.MustCompile(`\bH\((\d+)\)`)

// benchModulo: 18.16 types Int64 % 150 as Int8 (the divisor's width, signed),
// so 149 wraps to -107; an Int64 divisor keeps the result Int64.
var benchModulo = regexp.MustCompile(`% (\d+)\b`)

func benchSQL(q string, vars ...string) string {
	q = benchModulo.ReplaceAllString(q, "% toInt64($1)")
	q = benchHash.ReplaceAllString(q, "toInt64(cityHash64(n, $1) % 4294967296)")
	return strings.NewReplacer(vars...).Replace(q)
}

// benchCasesSQL is one row per case lo..lo+cnt-1 with everything its events
// are made of. Pseudo-random but deterministic: every draw is
// cityHash64(case number, salt), so a case is the same in every chunking
// and in the light_changes insert. Offsets are seconds after acceptance;
// base is 2025-01-01 00:00 in the schema's zone.
//
// Shares: 0.03% reform tasks, 3% scenario events, 20% 12345 tickets, 15%
// internal matters, the rest service cases; 3% left open.
func benchCasesSQL(lo, cnt int, base int64) string {
	return benchSQL(`SELECT
    number AS n,
    H(1) % 10000 AS kr,
    toUInt8(multiIf(kr < 3, 5, kr < 303, 3, kr < 2303, 4, kr < 3803, 2, 1)) AS k,
    ['service', 'internal', 'scenario', 'ticket', 'task'][k] AS kname,
    concat(['SV', 'IN', 'SC', 'TK', 'RT'][k], toString(1000000000 + n)) AS case_id,
    H(2) % 40 AS d,
    concat('D', if(d < 9, '0', ''), toString(d + 1)) AS dept,
    concat('R', toString(1 + H(3) % 9)) AS region,
    concat(dept, '-M', toString(H(50) % 25)) AS matter,
    H(4) % 365 AS day0,
    (day0 + 2) % 7 AS dow,
    -- Nine in ten cases are accepted on a weekday (2025-01-01 is a Wednesday).
    toInt64(day0 + if(k != 3 AND H(5) % 10 < 9, multiIf(dow = 5, 2, dow = 6, 1, 0), 0)) AS day,
    toInt64({base}) + day * 86400 + 30600 + H(6) % 32400 AS acc,
    H(7) % 100 AS chr,
    toUInt8(if(k = 1, multiIf(chr < 30, 1, chr < 65, 2, chr < 95, 3, 4), 0)) AS ch,
    H(8) % 100 AS pr,
    toInt32(multiIf(k IN (1, 2), multiIf(pr < 2, -1, pr < 12, 0, pr < 20, 1, pr < 40, 3, pr < 60, 5, pr < 80, 10, pr < 92, 15, 20),
        k = 3, 1 + H(9) % 5, k = 4, 5, -1)) AS promised,
    toInt32(multiIf(k IN (1, 2), if(pr < 2, -1, if(promised = 0, 5, least(60, promised * 2 + 5))), k = 4, 15, -1)) AS legal,
    if(promised >= 0, promised, legal) AS lim,
    toInt32(if(k = 1, 2 + H(10) % 8, -1)) AS mt,
    toInt32(if(k = 1, intDiv(mt * (H(11) % 100), 100), -1)) AS ms,
    H(12) % 100 < 3 AS open,
    -- Working time: limit 0 the same day, else up to 1.6 x the limit in
    -- calendar days (about one case in eight late), no limit up to 20 days.
    toInt64(multiIf(lim = 0, 600 + H(13) % 14400,
        k = 3, H(13) % (greatest(1, lim) * 86400),
        lim > 0, (H(13) % greatest(1, intDiv(lim * 8, 5) + 1)) * 86400 + H(14) % 28800,
        (H(13) % 20) * 86400 + H(14) % 28800)) AS durb,
    k IN (1, 2) AND lim > 0 AND H(15) % 100 < 3 AS susp,
    intDiv(durb, 3) AS s_off,
    toInt64(1 + H(16) % 10) * 86400 AS s_len,
    -- Steps: a quarter of service cases, most internal matters and every
    -- scenario event go through 2-3 departments (step 1 is the owner's);
    -- one ticket in ten is handed on. Half run steps 2 and 3 in parallel.
    toUInt8(multiIf(k = 1, if(H(17) % 100 < 25, 2 + H(18) % 2, 0),
        k = 2, if(H(17) % 100 < 70, 2 + H(18) % 2, 0),
        k = 3, 2 + H(18) % 2,
        k = 4, if(H(17) % 100 < 10, 1, 0), 0)) AS ns,
    H(19) % 100 < 50 AS par,
    (d + 1 + H(20) % 39) % 40 AS d2,
    (d + 1 + H(21) % 39) % 40 AS d3,
    concat('D', if(d2 < 9, '0', ''), toString(d2 + 1)) AS dept2,
    concat('D', if(d3 < 9, '0', ''), toString(d3 + 1)) AS dept3,
    multiIf(k = 2, 'consult', k = 1, 'approve', 'handle') AS st2,
    multiIf(k = 2, 'countersign', k = 1, 'consult', 'handle') AS st3,
    toInt32(if(k = 2, 1, 2)) AS l2,
    toInt32(multiIf(k = 2, 3, k = 1, 1, 2)) AS l3,
    -- Scenario events are handled in hours, the others in days.
    if(k = 3, 7200, 86400) AS unit,
    toInt64(600) AS s1,
    s1 + (H(22) % 2) * unit + H(25) % 28800 AS e1,
    e1 + 600 AS s2,
    s2 + (H(23) % (intDiv(l2 * 8, 5) + 1)) * unit + H(26) % 28800 AS e2,
    if(par, s2, e2 + 600) AS s3,
    s3 + (H(24) % (intDiv(l3 * 8, 5) + 1)) * unit + H(27) % 28800 AS e3,
    multiIf(ns = 0, toInt64(0), ns = 1, e1, ns = 2, e2, greatest(e2, e3)) AS steps_end,
    -- Reform tasks: due 30-180 days after acceptance, two milestones.
    day + 30 + H(45) % 150 AS due_d,
    day + intDiv(due_d - day, 3) AS m1_d,
    day + intDiv(2 * (due_d - day), 3) AS m2_d,
    H(47) % 100 < 85 AS m1_met,
    H(48) % 100 < 85 AS m2_met,
    toInt64(if(k = 5, (due_d - day + H(46) % 20 - 15) * 86400 + 36000,
        greatest(durb + if(susp, s_len, 0), steps_end + 3600))) AS done_off,
    toUInt8(multiIf(k = 1, multiIf(ch = 1, if(H(30) % 100 < 80, 1, 2), ch = 4, 1, if(H(30) % 100 < 10, 1, 0)),
        k = 2, if(H(30) % 100 < 30, 1, 0), 0)) AS nv,
    k = 1 AND ch IN (2, 3) AS sub,
    NOT open AND (k = 1 AND H(32) % 100 < 40 OR k = 4 AND H(32) % 100 < 50) AS rt,
    H(33) % 100 AS rr,
    toInt8(multiIf(rr < 2, 1, rr < 4, 2, rr < 10, 3, rr < 30, 4, 5)) AS rtg,
    done_off + H(34) % (3 * 86400) AS rated_off,
    rt AND rtg <= 2 AND H(35) % 100 < 75 AS rect,
    NOT open AND (k = 4 AND H(39) % 100 < 95 OR k = 3 AND H(39) % 100 < 90) AS fb,
    toInt8(if(k = 4, if(H(41) % 100 < 80, 1, 0), -1)) AS rsv,
    k != 5 AND H(42) % 1000 < 15 AS rem,
    rem AND H(43) % 100 < 85 AS resp,
    greatest(toInt64(3600), intDiv(done_off, 2)) AS rem_off,
    toInt64((intDiv(lim * 7, 5) + 1) * 86400) AS red_off
FROM numbers({lo}, {cnt})`, "{base}", fmt.Sprint(base), "{lo}", fmt.Sprint(lo), "{cnt}", fmt.Sprint(cnt))
}

// benchEventsSQL turns the cases of casesSQL into their events, in the
// order of the events table's columns: each case has up to 23 event slots,
// kept when the case has that event.
func benchEventsSQL(casesSQL string) string {
	return benchSQL(`SELECT
    concat(case_id, '-', toString(slot)) AS event_id,
    kname AS kind,
    case_id,
    ['submitted', 'accepted', 'visit', 'visit', 'suspended', 'resumed', 'step_started', 'step_finished', 'step_started', 'step_finished',
     'step_started', 'step_finished', 'completed', 'rated', 'rectified', 'signed', 'feedback', 'reminded', 'responded',
     'milestone_due', 'milestone_met', 'milestone_due', 'milestone_met'][slot + 1] AS type,
    toDateTime(toUInt32(acc + off)) AS at,
    multiIf(slot IN (8, 9), dept2, slot IN (10, 11), dept3, dept) AS department,
    region,
    matter,
    if(slot = 1, concat('事项 ', matter), '') AS matter_name,
    if(slot = 1, ['', 'window', 'online', 'mobile', 'self_service'][ch + 1], '') AS channel,
    if(slot = 1, legal, -1) AS legal_days,
    if(slot = 1, promised, -1) AS promised_days,
    if(slot = 1, mt, -1) AS materials_total,
    if(slot = 1, ms, -1) AS materials_shared,
    multiIf(slot IN (6, 7), 'S1', slot IN (8, 9), 'S2', slot IN (10, 11), 'S3', slot IN (17, 18), 'R1', slot IN (19, 20), 'M1', slot IN (21, 22), 'M2', '') AS step,
    multiIf(slot IN (6, 7), 'handle', slot IN (8, 9), st2, slot IN (10, 11), st3, '') AS step_type,
    toInt32(multiIf(slot = 6, 2, slot = 8, l2, slot = 10, l3, -1)) AS limit_days,
    '' AS joint_id,
    if(slot = 13, rtg, toInt8(0)) AS rating,
    if(slot = 12, rsv, toInt8(-1)) AS resolved,
    if(k = 5 AND slot IN (1, 19, 21), toDate('2025-01-01') + multiIf(slot = 1, due_d, slot = 19, m1_d, m2_d), toDate('1970-01-01')) AS due,
    if(slot IN (1, 17), concat('经办人', toString(H(52) % 500)), '') AS responsible,
    ['hall', 'internal', 'scenario', '12345', 'tasks'][k] AS source,
    toDateTime(toUInt32(acc + off + if(cityHash64(n, slot, 53) % 100 < 97, 5 + cityHash64(n, slot, 54) % 1800, 3600 + cityHash64(n, slot, 54) % 86400))) AS received_at,
    toUInt64(9223372036854775807) - toUInt64(received_at) * 1000000000 AS ver
FROM
(
    SELECT *, toInt64(multiIf(
        slot = 0, -600 - H(31) % 86400,
        slot = 1, 0,
        slot = 2, 60,
        slot = 3, done_off - 60,
        slot = 4, s_off,
        slot = 5, s_off + s_len,
        slot = 6, s1, slot = 7, e1, slot = 8, s2, slot = 9, e2, slot = 10, s3, slot = 11, e3,
        slot = 12, done_off,
        slot = 13, rated_off,
        slot = 14, rated_off + (1 + H(36) % 20) * 86400,
        slot = 15, if(H(37) % 100 < 93, 300 + H(38) % 72000, 86400 + H(38) % 172800),
        slot = 16, done_off + 600 + H(40) % 86400,
        slot = 17, rem_off,
        slot = 18, rem_off + H(44) % (2 * 86400),
        slot = 19, 120,
        slot = 20, (m1_d - day + H(49) % 10 - 7) * 86400 + 36000,
        slot = 21, 120,
        (m2_d - day + H(51) % 10 - 7) * 86400 + 36000)) AS off
    FROM
    (
        -- The lambda sees only its arguments: 18.16 drops the subquery
        -- columns that a lambda alone refers to.
        SELECT *, arrayJoin(arrayFilter((i, has) -> has, range(23), [
            sub, 1, nv >= 1, nv >= 2, susp, susp, ns >= 1, ns >= 1, ns >= 2, ns >= 2, ns >= 3, ns >= 3,
            NOT open, rt, rect, k = 4, fb, rem, resp, k = 5, k = 5 AND m1_met, k = 5, k = 5 AND m2_met])) AS slot
        FROM ({cases})
    )
)`, "{cases}", casesSQL)
}
