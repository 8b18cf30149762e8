package main

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"effidx/indices"
	"effidx/rules"
	"effidx/simulate"
	"effidx/warehouse/chtest"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

func TestTheRecordedTestsUseTheCheckServer(t *testing.T) {
	if testAddrEnv != chtest.AddrEnv {
		t.Fatalf("testAddrEnv = %q, chtest.AddrEnv = %q", testAddrEnv, chtest.AddrEnv)
	}
}

// Statements the service can send that its packages' own tests do not
// reach: the formulas a catalog may name beyond the default one's, the
// deductions drill-down of every indicator, the three lines of a matter,
// the readiness count of pending migrations. compat records this test with
// the others, so both engines answer them too; here they must run on 18.16
// over a simulated month.
func TestEveryFormulaAndDrillDownRunsOnASimulatedMonth(t *testing.T) {
	wh := chtest.Warehouse(t)
	ctx := context.Background()
	sc := simulate.DefaultConfig()
	sc.Days, sc.CasesPerDay, sc.MalformedShare = 20, 60, 0
	chtest.LoadSimulated(t, wh, sc)
	db := wh.Database()

	cal, err := rules.DefaultCalendar()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := indices.Default()
	if err != nil {
		t.Fatal(err)
	}
	p, err := indices.ParsePeriod("2026-07")
	if err != nil {
		t.Fatal(err)
	}
	loc := cal.Location()
	params := indices.CalendarParams(cal, p.Start(loc), p.End(loc), time.Date(2026, 8, 20, 12, 0, 0, 0, loc))
	var dept, matter string
	if err := wh.Conn().QueryRow(ctx, "SELECT any(department), anyIf(matter, matter != '') FROM "+db+".events").Scan(&dept, &matter); err != nil {
		t.Fatal(err)
	}
	args := func(extra map[string]any) []any {
		var out []any
		for k, v := range params {
			out = append(out, clickhouse.Named(k, v))
		}
		for k, v := range extra {
			out = append(out, clickhouse.Named(k, v))
		}
		return out
	}

	type probe struct {
		name, sql string
		args      []any
	}
	var probes []probe
	for _, q := range indices.AllFormulasSQL(db) {
		probes = append(probes, probe{"every formula: " + q.Source, q.SQL, args(nil)})
	}
	items, err := indices.ItemsSQL(cat, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range items {
		probes = append(probes, probe{"deductions: " + q.Source, q.SQL, args(map[string]any{"dept": dept, "limit": 20, "offset": 0})})
	}
	probes = append(probes, probe{"three lines", indices.LinesSQL(db), args(map[string]any{"matter": matter})})
	if len(probes) < 3 {
		t.Fatalf("only %d statements to probe", len(probes))
	}
	for _, pr := range probes {
		t.Run(pr.name, func(t *testing.T) {
			rows, err := wh.Conn().Query(ctx, pr.sql, pr.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, pr.sql)
			}
			defer rows.Close()
			for rows.Next() {
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("%v\n%s", err, pr.sql)
			}
		})
	}
	if n, err := wh.Pending(ctx); err != nil || n != 0 {
		t.Fatalf("Pending = %d, %v; want 0 after Migrate", n, err)
	}
}

// A fresh installation catches up from its first event (the index job's
// start); with none there is nothing to compute.
func TestCatchUpOnAFreshInstallationFindsNoEventAndComputesNothing(t *testing.T) {
	wh := chtest.Warehouse(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	cal, err := rules.DefaultCalendar()
	if err != nil {
		t.Fatal(err)
	}
	cats, err := indices.NewCatalogSource("", log)
	if err != nil {
		t.Fatal(err)
	}
	j := indices.NewJob(wh, cats, func() (*rules.Calendar, error) { return cal, nil }, indices.DefaultConfig(), prometheus.NewRegistry(), log)
	if err := j.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	runs, err := j.Store().Runs(ctx)
	if err != nil || len(runs) != 0 {
		t.Fatalf("runs after catching up with no events: %v, %v; want none", runs, err)
	}
}
