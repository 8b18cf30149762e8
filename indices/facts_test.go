package indices

import (
	"context"
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"effidx/event"
	"effidx/rules"
	"effidx/simulate"
	"effidx/warehouse"
	"effidx/warehouse/chtest"
)

// sameResults fails t unless a and b hold the same numerators and
// denominators for the same subjects and indicators.
func sameResults(t *testing.T, what string, a, b []Result) {
	t.Helper()
	key := func(r Result) string { return r.SubjectType + "/" + r.Subject + "/" + r.Indicator }
	m := map[string]Result{}
	for _, r := range b {
		m[key(r)] = r
	}
	var diffs []string
	for _, r := range a {
		o, ok := m[key(r)]
		delete(m, key(r))
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s only in the stored path", key(r)))
		} else if math.Abs(r.Numerator-o.Numerator) > 1e-9 || math.Abs(r.Denominator-o.Denominator) > 1e-9 {
			diffs = append(diffs, fmt.Sprintf("%s: stored %v/%v, events %v/%v", key(r), r.Numerator, r.Denominator, o.Numerator, o.Denominator))
		}
	}
	for k := range m {
		diffs = append(diffs, k+" only in the events path")
	}
	sort.Strings(diffs)
	if len(diffs) > 10 {
		diffs = append(diffs[:10], fmt.Sprintf("... and %d more", len(diffs)-10))
	}
	for _, d := range diffs {
		t.Errorf("%s: %s", what, d)
	}
}

// computeBoth computes p from the stored facts and from the events.
func computeBoth(t *testing.T, wh *warehouse.Warehouse, cal *rules.Calendar, p Period, now time.Time) (stored, events []Result) {
	t.Helper()
	cat, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	comp := NewComputer(wh, cat)
	if stored, err = comp.Compute(context.Background(), cal, p, now); err != nil {
		t.Fatalf("stored facts, %s: %v", p, err)
	}
	if events, err = comp.FromEvents().Compute(context.Background(), cal, p, now); err != nil {
		t.Fatalf("from the events, %s: %v", p, err)
	}
	return stored, events
}

func cityResult(rs []Result, id string) Result { return lookupResult(rs, SubjectCity, CityID, id) }

func TestStoredFactsGiveWhatTheEventsGiveForEveryPeriodKind(t *testing.T) {
	wh := chtest.Warehouse(t)
	cfg := simulate.DefaultConfig()
	cfg.Days, cfg.CasesPerDay, cfg.MalformedShare = 60, 200, 0
	chtest.LoadSimulated(t, wh, cfg)
	// The build in chunks of cases: a case split between two, or left
	// out, would show below.
	defer func(v uint64) { chunkEvents = v }(chunkEvents)
	var n uint64
	if err := wh.Conn().QueryRow(context.Background(), "SELECT count() FROM "+wh.Database()+".events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	chunkEvents = n/7 + 1
	t.Logf("%d events: the stored facts are built in 7 chunks", n)
	cal, err := rules.DefaultCalendar()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, cal.Location())
	for _, period := range []string{"2026-08", "2026-08-14", "2026-Q3", "2026"} {
		p, err := ParsePeriod(period)
		if err != nil {
			t.Fatal(err)
		}
		stored, events := computeBoth(t, wh, cal, p, now)
		if r := cityResult(stored, "S1.1"); r.Denominator == 0 {
			t.Fatalf("%s: no service case completed in the period: the comparison proves nothing", p)
		}
		sameResults(t, period, stored, events)
	}
}

func TestARefreshPicksUpWhatArrivedSinceTheLastOne(t *testing.T) {
	defer func(v float64) { finalAbove = v }(finalAbove)
	for _, x := range []struct {
		name  string
		above float64
	}{{"sorting out the refreshed items", 2}, {"reading FINAL", -1}} {
		t.Run(x.name, func(t *testing.T) {
			finalAbove = x.above
			testRefresh(t)
		})
	}
}

func testRefresh(t *testing.T) {
	wh := chtest.Warehouse(t)
	cal, err := rules.DefaultCalendar()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	write := func(evs ...event.Stored) {
		t.Helper()
		if err := wh.WriteBatch(ctx, &event.Batch{Events: evs}); err != nil {
			t.Fatal(err)
		}
	}
	// Received now: what the collector stamps on what arrives.
	recvNow := func(s *event.Stored) { s.ReceivedAt = time.Now() }
	a := fxCase{"service", "R-A", "D01", "R1"}
	b := fxCase{"service", "R-B", "D01", "R1"}
	write(
		a.ev("accepted", "2026-10-12 09:00:00", fxLegal(5), fxPromised(3)),
		a.ev("completed", "2026-10-13 10:00:00"),
		b.ev("accepted", "2026-10-12 09:00:00", fxLegal(5), fxPromised(3)),
	)
	p, _ := ParsePeriod("2026-10")
	now := time.Date(2026, 11, 20, 0, 0, 0, 0, cal.Location())
	first, events := computeBoth(t, wh, cal, p, now)
	sameResults(t, "first build", first, events)
	if r := cityResult(first, "S1.1"); r.Numerator != 1 || r.Denominator != 1 {
		t.Fatalf("S1.1 before = %v/%v, want 1/1", r.Numerator, r.Denominator)
	}

	// B completes late, A is rated badly, and a step of A by another
	// department arrives: each changes stored facts of a case already
	// built.
	write(
		b.ev("completed", "2026-10-30 10:00:00", recvNow),
		a.ev("rated", "2026-10-14 10:00:00", fxRating(1), recvNow),
		a.by("D02").ev("step_started", "2026-10-12 10:00:00", fxStep("s1", "consult", 1), recvNow),
		a.by("D02").ev("step_finished", "2026-10-13 09:00:00", fxStep("s1", "consult", 1), recvNow),
	)
	second, events := computeBoth(t, wh, cal, p, now)
	sameResults(t, "after new events", second, events)
	want := map[string][2]float64{
		"S1.1": {1, 2}, // B was late
		"S5.1": {0, 1}, // A's rating is bad
		"C3.1": {1, 1}, // the consult step, credited to D02
	}
	for id, w := range want {
		if r := cityResult(second, id); r.Numerator != w[0] || r.Denominator != w[1] {
			t.Errorf("%s after the refresh = %v/%v, want %v/%v", id, r.Numerator, r.Denominator, w[0], w[1])
		}
	}
	if r := lookupResult(second, SubjectDepartment, "D02", "C3.1"); r.Denominator != 1 {
		t.Errorf("D02 C3.1 = %v/%v, want the step credited to D02", r.Numerator, r.Denominator)
	}

	// An event stored late, stamped as received shortly before the last
	// refresh (within refreshMargin), is still picked up.
	c := fxCase{"service", "R-C", "D01", "R1"}
	early := func(s *event.Stored) { s.ReceivedAt = time.Now().Add(-refreshMargin / 2) }
	write(c.ev("accepted", "2026-10-20 09:00:00", fxLegal(5), early), c.ev("completed", "2026-10-21 09:00:00", early))
	third, events := computeBoth(t, wh, cal, p, now)
	sameResults(t, "after a late store", third, events)
	if r := cityResult(third, "S1.1"); r.Numerator != 2 || r.Denominator != 3 {
		t.Errorf("S1.1 after a late store = %v/%v, want 2/3", r.Numerator, r.Denominator)
	}
	var rows, versions uint64
	if err := wh.Conn().QueryRow(ctx, "SELECT (SELECT count() FROM "+wh.Database()+".case_facts FINAL), (SELECT count() FROM "+wh.Database()+".case_facts)").Scan(&rows, &versions); err != nil {
		t.Fatal(err)
	}
	if rows != 3 || versions <= rows {
		t.Errorf("case_facts holds %d cases in %d rows, want 3 cases in more rows (refreshed ones not merged yet)", rows, versions)
	}

	// A compaction moves the mark past every row: the same results, now
	// without sorting out refreshed cases.
	cat, _ := Default()
	comp := NewComputer(wh, cat)
	for _, table := range []string{"case_facts", "step_facts"} {
		if err := comp.compact(ctx, table, cal.Version()); err != nil {
			t.Fatal(err)
		}
	}
	states, err := comp.factsStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var maxVer uint64
	if err := wh.Conn().QueryRow(ctx, "SELECT max(ver) FROM "+wh.Database()+".case_facts").Scan(&maxVer); err != nil {
		t.Fatal(err)
	}
	if got := states["case_facts"].compacted; got != maxVer {
		t.Errorf("compaction mark %d, want the latest version %d (one part after OPTIMIZE FINAL)", got, maxVer)
	}
	compacted, events := computeBoth(t, wh, cal, p, now)
	sameResults(t, "after a compaction", compacted, events)
	sameResults(t, "compacted vs not", compacted, third)
}

func TestANewCalendarRebuildsTheStoredFacts(t *testing.T) {
	wh := chtest.Warehouse(t)
	before, err := rules.DefaultCalendar()
	if err != nil {
		t.Fatal(err)
	}
	// Wednesday 2026-10-14 becomes a day off: a case due that week by the
	// national calendar is then due a day later.
	after, err := rules.NewCalendar(rules.CalendarOptions{Overrides: []rules.Source{{
		Name: "closure.yaml", Data: []byte("name: test\nclosed:\n  - 2026-10-14\n"),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	c := fxCase{"service", "K-1", "D01", "R1"}
	// Accepted Monday 12th with 3 working days: due Thursday 15th, or
	// Friday 16th without the 14th; completed on Friday.
	if err := wh.WriteBatch(context.Background(), &event.Batch{Events: []event.Stored{
		c.ev("accepted", "2026-10-12 09:00:00", fxLegal(5), fxPromised(3)),
		c.ev("completed", "2026-10-16 15:00:00"),
	}}); err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePeriod("2026-10")
	now := time.Date(2026, 11, 20, 0, 0, 0, 0, before.Location())
	for _, x := range []struct {
		cal    *rules.Calendar
		onTime float64
	}{{before, 0}, {after, 1}, {before, 0}} {
		stored, events := computeBoth(t, wh, x.cal, p, now)
		sameResults(t, "calendar "+x.cal.Version(), stored, events)
		if r := cityResult(stored, "S1.1"); r.Numerator != x.onTime || r.Denominator != 1 {
			t.Errorf("calendar %s: S1.1 = %v/%v, want %v/1", x.cal.Version(), r.Numerator, r.Denominator, x.onTime)
		}
	}
	// Three calendars in turn: the case facts were built three times, the
	// event counts, which count no working days, once.
	builds := map[string]uint64{}
	rows, err := wh.Conn().Query(context.Background(), "SELECT table_name, count() FROM "+wh.Database()+".facts_builds WHERE what = 'built' GROUP BY table_name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var n uint64
		if err := rows.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		builds[name] = n
	}
	if want := map[string]uint64{"case_facts": 3, "step_facts": 3, "event_facts": 1}; fmt.Sprint(builds) != fmt.Sprint(want) {
		t.Errorf("builds per table = %v, want %v", builds, want)
	}
}

func TestAResentEventCountsOnceWhenItsFirstCopyWasReceived(t *testing.T) {
	wh := chtest.Warehouse(t)
	cal, err := rules.DefaultCalendar()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := fxCase{"service", "RS-1", "D01", "R1"}
	// accepted: received 10 minutes after it happened, on 10-31, and
	// resent two days later, in November. completed: received two hours
	// late, once. Each copy in its own insert, so they are not merged.
	accepted := c.ev("accepted", "2026-10-31 23:30:00", fxLegal(5), fxReceived("2026-10-31 23:40:00"))
	resent := accepted
	resent.ReceivedAt = fxAt("2026-11-02 09:00:00")
	completed := c.ev("completed", "2026-10-30 10:00:00", fxReceived("2026-10-30 12:00:00"))
	for _, e := range []event.Stored{accepted, completed, resent} {
		if err := wh.WriteBatch(ctx, &event.Batch{Events: []event.Stored{e}}); err != nil {
			t.Fatal(err)
		}
	}
	now := fxAt("2026-11-20 12:00")
	for _, x := range []struct {
		period                 string
		e51num, e51den, e53den float64 // E5.3's numerator is its denominator: nothing rejected
	}{
		// October: both happened and were first received in it; the
		// completed event was late.
		{"2026-10", 1, 2, 2},
		// November: the resent copy is neither an event that happened
		// nor one first received in it.
		{"2026-11", 0, 0, 0},
	} {
		p, _ := ParsePeriod(x.period)
		stored, events := computeBoth(t, wh, cal, p, now)
		sameResults(t, x.period, stored, events)
		e51, e53 := lookupResult(stored, SubjectDepartment, "D01", "E5.1"), lookupResult(stored, SubjectDepartment, "D01", "E5.3")
		if e51.Numerator != x.e51num || e51.Denominator != x.e51den || e53.Numerator != x.e53den || e53.Denominator != x.e53den {
			t.Errorf("%s: E5.1 = %v/%v, E5.3 = %v/%v; want %v/%v and %v/%v", x.period,
				e51.Numerator, e51.Denominator, e53.Numerator, e53.Denominator, x.e51num, x.e51den, x.e53den, x.e53den)
		}
	}
	// October's deductions of E5.1 list the completed event alone: the
	// resent copy of the accepted one was late, its first copy was not.
	p, _ := ParsePeriod("2026-10")
	args := append(calendarArgs(cal, p.Start(cal.Location()), p.End(cal.Location()), now),
		clickhouse.Named("dept", "D01"), clickhouse.Named("limit", 10), clickhouse.Named("offset", 0))
	rows, err := wh.Conn().Query(ctx, eventItemsSQL(wh.Database(), "reported_within_1h", false), args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var listed []string
	for rows.Next() {
		var id, typ, matter string
		var start, end time.Time
		var n, d float64
		if err := rows.Scan(&id, &typ, &matter, &start, &end, &n, &d); err != nil {
			t.Fatal(err)
		}
		listed = append(listed, typ+" received "+end.In(cal.Location()).Format("01-02 15:04"))
	}
	if want := []string{"completed received 10-30 12:00"}; fmt.Sprint(listed) != fmt.Sprint(want) {
		t.Errorf("E5.1 deductions of D01 in October = %q, want %q", listed, want)
	}
}
