package indices

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"effidx/rules"
	"effidx/simulate"
	"effidx/warehouse"
	"effidx/warehouse/chtest"
)

// smallCity is 40 days of a simulated city from 2026-09-01 (about 80k
// events), loaded once per test.
func smallCity(t *testing.T) *warehouse.Warehouse {
	t.Helper()
	wh := chtest.Warehouse(t)
	cfg := simulate.DefaultConfig()
	cfg.Start = time.Date(2026, 9, 1, 0, 0, 0, 0, cfg.Location)
	cfg.Days, cfg.CasesPerDay, cfg.MalformedShare = 40, 250, 0
	chtest.LoadSimulated(t, wh, cfg)
	return wh
}

func newTestJob(t *testing.T, wh *warehouse.Warehouse, catalogFile string, now time.Time) (*Job, *prometheus.Registry) {
	t.Helper()
	cal, err := rules.DefaultCalendar()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	cats, err := NewCatalogSource(catalogFile, log)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	j := NewJob(wh, cats, func() (*rules.Calendar, error) { return cal, nil }, DefaultConfig(), reg, log)
	j.now = func() time.Time { return now }
	return j, reg
}

// table renders a period's stored results as sorted text, so that two
// runs compare exactly (NaN included).
func table(t *testing.T, s *Store, p Period) string {
	t.Helper()
	c, ok, err := s.Read(context.Background(), p)
	if err != nil || !ok {
		t.Fatalf("read %s: ok=%v err=%v", p, ok, err)
	}
	lines := make([]string, len(c.Results))
	for i, r := range c.Results {
		lines[i] = fmt.Sprintf("%s %s %s %v %v %v", r.SubjectType, r.Subject, r.Indicator, r.Numerator, r.Denominator, r.Value)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestRunningTheJobTwiceOrOnTwoProcessesAtOnceGivesIdenticalResults(t *testing.T) {
	wh := smallCity(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))
	p := mustPeriod(t, "2026-09")

	j1, _ := newTestJob(t, wh, "", now)
	if _, _, err := j1.ComputePeriod(ctx, p); err != nil {
		t.Fatal(err)
	}
	once := table(t, j1.Store(), p)
	if n := strings.Count(once, "\n") + 1; n < 36*3 {
		t.Fatalf("only %d result rows for a month of a city", n)
	}

	if _, _, err := j1.ComputePeriod(ctx, p); err != nil {
		t.Fatal(err)
	}
	if twice := table(t, j1.Store(), p); twice != once {
		t.Fatalf("a second run changed the results:\n%s", firstDiff(once, twice))
	}

	// Two processes: two jobs with their own connections, at once.
	cfg := warehouse.DefaultConfig()
	cfg.Addr, cfg.Database = wh.Config().Addr, wh.Database()
	wh2, err := warehouse.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wh2.Close()
	j2, _ := newTestJob(t, wh2, "", now)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, j := range []*Job{j1, j2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = j.ComputePeriod(ctx, p)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if both := table(t, j1.Store(), p); both != once {
		t.Fatalf("two processes at once changed the results:\n%s", firstDiff(once, both))
	}
	// Every run is kept apart, never added up: the latest run has exactly
	// one row per subject and indicator.
	var rows, keys uint64
	q := fmt.Sprintf(`SELECT count(), uniqExact(subject_type, subject, indicator) FROM %s.indicator_results
WHERE period = '2026-09' AND run = (SELECT max(run) FROM %s.indicator_results WHERE period = '2026-09')`, wh.Database(), wh.Database())
	if err := wh.Conn().QueryRow(ctx, q).Scan(&rows, &keys); err != nil {
		t.Fatal(err)
	}
	if rows != keys {
		t.Fatalf("latest run has %d rows for %d keys", rows, keys)
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return "before: " + al[i] + "\nafter:  " + bl[i]
		}
	}
	return fmt.Sprintf("%d lines before, %d after", len(al), len(bl))
}

func TestCatchUpComputesThePeriodsMissedWhileDown(t *testing.T) {
	wh := smallCity(t)
	ctx := context.Background()
	loc := time.FixedZone("CST", 8*3600)
	// Up until 2026-09-20 10:00, then down until 2026-10-03 08:00.
	j, reg := newTestJob(t, wh, "", time.Date(2026, 9, 20, 10, 0, 0, 0, loc))
	if err := j.RunCurrent(ctx); err != nil {
		t.Fatal(err)
	}
	j.now = func() time.Time { return time.Date(2026, 10, 3, 8, 0, 0, 0, loc) }
	if err := j.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	runs, err := j.Store().Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for name, r := range runs {
		if r.ComputedAt.Equal(j.now()) {
			got = append(got, name)
		}
	}
	sort.Strings(got)
	// Every day from the 20th (computed before its end) to the 2nd, the
	// month of September and the third quarter; not October, 2026 or
	// the 3rd, which have not ended (the regular run computes them).
	want := []string{"2026-09", "2026-09-20", "2026-09-21", "2026-09-22", "2026-09-23", "2026-09-24", "2026-09-25",
		"2026-09-26", "2026-09-27", "2026-09-28", "2026-09-29", "2026-09-30", "2026-10-01", "2026-10-02", "2026-Q3"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("caught up on\n%v\nwant\n%v", got, want)
	}
	if v := testutil.ToFloat64(j.metrics.lastSuccess); v <= 0 {
		t.Errorf("last success %v after a successful catch-up", v)
	}
	if v := testutil.ToFloat64(j.metrics.rowsRead); v <= 0 {
		t.Errorf("rows read %v: ClickHouse's progress was not counted", v)
	}
	if n, err := testutil.GatherAndCount(reg, "effidx_index_periods_computed_total"); err != nil || n != 4 {
		t.Errorf("periods computed by kind: %d series, %v", n, err)
	}

	// A second catch-up finds nothing to do.
	j.now = func() time.Time { return time.Date(2026, 10, 3, 9, 0, 0, 0, loc) }
	if err := j.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	runs, _ = j.Store().Runs(ctx)
	for name, r := range runs {
		if r.ComputedAt.Equal(j.now()) {
			t.Errorf("%s computed again by a second catch-up", name)
		}
	}
}

func TestACatalogChangeRecomputesOpenPeriodsAndRecordsWhatMoved(t *testing.T) {
	wh := smallCity(t)
	ctx := context.Background()
	loc := time.FixedZone("CST", 8*3600)
	file := filepath.Join(t.TempDir(), "catalog.yaml")
	orig, err := os.ReadFile("catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	j, _ := newTestJob(t, wh, file, time.Date(2026, 10, 2, 10, 0, 0, 0, loc))
	// September is closing (ended a day ago), October is current.
	for _, p := range []string{"2026-09", "2026-10"} {
		if _, _, err := j.ComputePeriod(ctx, mustPeriod(t, p)); err != nil {
			t.Fatal(err)
		}
	}
	oldVersion := j.Catalog().Version()

	// S1.1's target goes down from 1.00 to 0.98: every department scores
	// higher on it, and so on up the levels.
	edited := strings.Replace(string(orig), "            floor: 0.90\n            target: 1.00\n            weight: 5\n            kind: service\n            query: on_time_completion",
		"            floor: 0.90\n            target: 0.98\n            weight: 5\n            kind: service\n            query: on_time_completion", 1)
	if edited == string(orig) {
		t.Fatal("test setup: S1.1 not found in catalog.yaml")
	}
	if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	// A different size guarantees the file is seen as changed.
	if err := os.WriteFile(file, []byte(edited+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	j.now = func() time.Time { return time.Date(2026, 10, 2, 10, 5, 0, 0, loc) }
	if err := j.RunCurrent(ctx); err != nil {
		t.Fatal(err)
	}
	newVersion := j.Catalog().Version()
	if newVersion == oldVersion {
		t.Fatal("the edited catalog was not picked up")
	}
	sep, _, err := j.Store().Read(ctx, mustPeriod(t, "2026-09"))
	if err != nil || sep.Catalog != newVersion {
		t.Fatalf("September (still open) not recomputed with the new catalog: %s, %v", sep.Catalog, err)
	}
	changes, err := j.Store().ScoreChanges(ctx, mustPeriod(t, "2026-09"))
	if err != nil {
		t.Fatal(err)
	}
	levels := map[string]int{}
	for _, c := range changes {
		if c.CatalogBefore != oldVersion || c.CatalogAfter != newVersion {
			t.Fatalf("change recorded with versions %s -> %s", c.CatalogBefore, c.CatalogAfter)
		}
		if c.Level == "S1.1" && c.SubjectType == SubjectCity {
			// The city's S1.1 value v scores (v-0.9)/0.1 before and
			// (v-0.9)/0.08 after (both clamped to 0..100).
			r := lookupResult(sep.Results, SubjectCity, CityID, "S1.1")
			before := math.Min(100, math.Max(0, (r.Value-0.9)/0.1*100))
			after := math.Min(100, math.Max(0, (r.Value-0.9)/0.08*100))
			if math.Abs(c.Before-before) > 1e-6 || math.Abs(c.After-after) > 1e-6 {
				t.Errorf("city S1.1 recorded %v -> %v, want %v -> %v (value %v)", c.Before, c.After, before, after, r.Value)
			}
		}
		levels[c.Level]++
	}
	for _, l := range []string{"S1.1", "S1", "S", "total"} {
		if levels[l] == 0 {
			t.Errorf("no recorded change of %s (changes: %v)", l, levels)
		}
	}
	if levels["C1.1"] != 0 {
		t.Errorf("C1.1 recorded as changed although nothing about it changed")
	}
	// August was never computed and is closed: nothing to record there.
	if cs, _ := j.Store().ScoreChanges(ctx, mustPeriod(t, "2026-08")); len(cs) != 0 {
		t.Errorf("changes recorded for August: %d", len(cs))
	}
}

func lookupResult(rs []Result, typ, subj, id string) Result {
	for _, r := range rs {
		if r.SubjectType == typ && r.Subject == subj && r.Indicator == id {
			return r
		}
	}
	return Result{Value: math.NaN()}
}

func TestClosingPeriodsAreThoseEndedLessThanCloseAfterAgo(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	tests := []struct {
		name       string
		now        time.Time
		closeAfter time.Duration
		want       string
	}{
		{"two days into a month, the previous month and the two days before today", time.Date(2026, 10, 2, 10, 0, 0, 0, loc), 48 * time.Hour,
			"2026-Q3 2026-09 2026-09-30 2026-10-01"},
		{"mid-month with three days, only days", time.Date(2026, 10, 15, 10, 0, 0, 0, loc), 72 * time.Hour,
			"2026-10-12 2026-10-13 2026-10-14"},
		{"new year's day, the previous year too", time.Date(2027, 1, 1, 3, 0, 0, 0, loc), time.Hour * 24,
			"2026 2026-Q4 2026-12 2026-12-31"},
		{"nothing stays open with close_after 0", time.Date(2026, 10, 2, 10, 0, 0, 0, loc), 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range Closing(tt.now, tt.closeAfter) {
				got = append(got, p.String())
			}
			if strings.Join(got, " ") != tt.want {
				t.Fatalf("got %q, want %q", strings.Join(got, " "), tt.want)
			}
		})
	}
}
