package rules

import (
	"math/rand/v2"
	"testing"
	"time"
)

// Hand-checked against the State Council notices (via holiday-cn): the
// adjusted working weekends count, the holidays do not, the acceptance day
// never does.
func TestDueAcrossNationalDayAndSpringFestival(t *testing.T) {
	c := defaultCal(t)
	for _, tc := range []struct {
		name     string
		accepted string
		days     int
		want     string
	}{
		{"2024 National Day: Friday before, 5 days (adjusted Sunday 09-29 counts)", "2024-09-27T10:00:00+08:00", 5, "2024-10-10T23:59:59+08:00"},
		{"2024 accepted on the adjusted working Sunday, 1 day", "2024-09-29T09:00:00+08:00", 1, "2024-09-30T23:59:59+08:00"},
		{"2024 accepted on the adjusted working Sunday, 2 days jump the holiday", "2024-09-29T09:00:00+08:00", 2, "2024-10-08T23:59:59+08:00"},
		{"2024 accepted on the adjusted working Sunday, instant: that day", "2024-09-29T16:30:00+08:00", 0, "2024-09-29T23:59:59+08:00"},
		{"2024 accepted on a holiday, 1 day", "2024-10-03T11:00:00+08:00", 1, "2024-10-08T23:59:59+08:00"},
		{"2024 accepted on a holiday, instant: next working day", "2024-10-03T11:00:00+08:00", 0, "2024-10-08T23:59:59+08:00"},
		{"2024 instant on an ordinary Saturday: Monday", "2024-10-19T10:00:00+08:00", 0, "2024-10-21T23:59:59+08:00"},
		{"2024 instant on the adjusted working Saturday 10-12: that day", "2024-10-12T10:00:00+08:00", 0, "2024-10-12T23:59:59+08:00"},
		{"2024 instant on a working Friday: that day", "2024-09-27T18:00:00+08:00", 0, "2024-09-27T23:59:59+08:00"},
		{"2019 National Day: Friday before, 3 days", "2019-09-27T10:00:00+08:00", 3, "2019-10-08T23:59:59+08:00"},
		{"2020 National Day (8 days off): Friday before, 2 days", "2020-09-25T10:00:00+08:00", 2, "2020-09-28T23:59:59+08:00"},
		{"2020 National Day: Wednesday before, 1 day", "2020-09-30T10:00:00+08:00", 1, "2020-10-09T23:59:59+08:00"},
		{"2020 National Day: adjusted Saturday 10-10 counts", "2020-09-30T10:00:00+08:00", 2, "2020-10-10T23:59:59+08:00"},
		{"2021 National Day: adjusted Saturday 10-09 counts", "2021-09-30T10:00:00+08:00", 2, "2021-10-09T23:59:59+08:00"},
		{"2022 National Day: adjusted Saturday and Sunday right after", "2022-09-30T10:00:00+08:00", 2, "2022-10-09T23:59:59+08:00"},
		{"2023 Mid-Autumn + National Day from 09-29: adjusted Saturday 10-07", "2023-09-28T10:00:00+08:00", 1, "2023-10-07T23:59:59+08:00"},
		{"2023 National Day, 3 days", "2023-09-28T10:00:00+08:00", 3, "2023-10-09T23:59:59+08:00"},
		{"2025 National Day (8 days off): adjusted Sunday 09-28", "2025-09-26T10:00:00+08:00", 1, "2025-09-28T23:59:59+08:00"},
		{"2025 National Day: adjusted Saturday 10-11", "2025-09-30T10:00:00+08:00", 3, "2025-10-11T23:59:59+08:00"},
		{"2026 National Day: adjusted Sunday 09-20, not 09-27", "2026-09-18T10:00:00+08:00", 1, "2026-09-20T23:59:59+08:00"},
		{"2026 National Day: Wednesday before, 2 days", "2026-09-30T10:00:00+08:00", 2, "2026-10-09T23:59:59+08:00"},
		{"2019 Spring Festival: adjusted weekend 02-02/03 before the break", "2019-02-01T10:00:00+08:00", 3, "2019-02-11T23:59:59+08:00"},
		{"2020 Spring Festival (extended to 02-02): Thursday before", "2020-01-23T10:00:00+08:00", 1, "2020-02-03T23:59:59+08:00"},
		{"2021 Spring Festival: adjusted Saturday 02-20", "2021-02-10T10:00:00+08:00", 3, "2021-02-20T23:59:59+08:00"},
		{"2022 Spring Festival: accepted on adjusted Saturday 01-29", "2022-01-29T10:00:00+08:00", 1, "2022-01-30T23:59:59+08:00"},
		{"2023 Spring Festival: adjusted weekend after the break", "2023-01-20T10:00:00+08:00", 2, "2023-01-29T23:59:59+08:00"},
		{"2024 Spring Festival: adjusted Sundays 02-04 and 02-18", "2024-02-02T10:00:00+08:00", 1, "2024-02-04T23:59:59+08:00"},
		{"2024 Spring Festival: 02-05..02-09 then 02-18", "2024-02-04T10:00:00+08:00", 6, "2024-02-18T23:59:59+08:00"},
		{"2025 Spring Festival: adjusted Sunday 01-26, 3 days", "2025-01-24T10:00:00+08:00", 3, "2025-02-05T23:59:59+08:00"},
		{"2026 Spring Festival (9 days off): adjusted Saturday 02-14", "2026-02-13T10:00:00+08:00", 1, "2026-02-14T23:59:59+08:00"},
		{"2026 Spring Festival: 02-14, 02-24..02-27, then adjusted Saturday 02-28", "2026-02-13T10:00:00+08:00", 6, "2026-02-28T23:59:59+08:00"},
		{"2023 New Year off 2022-12-31 (in the 2023 file)", "2022-12-30T10:00:00+08:00", 1, "2023-01-03T23:59:59+08:00"},
		{"2026 New Year: adjusted Sunday 01-04 (into the covered 2026)", "2025-12-24T10:00:00+08:00", 10, "2026-01-08T23:59:59+08:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := c.Due(at(t, tc.accepted), tc.days, nil)
			if got := d.Due.Format(time.RFC3339); got != tc.want {
				t.Errorf("Due(%s, %d) = %s, want %s", tc.accepted, tc.days, got, tc.want)
			}
			if d.Provisional || d.Stopped || d.NoLimit || d.Calendar != c.Version() {
				t.Errorf("deadline flags %+v, want covered, running, version %s", d, c.Version())
			}
			if d.Date.String() != tc.want[:10] {
				t.Errorf("Date = %s, want %s", d.Date, tc.want[:10])
			}
		})
	}
}

// Exhaustive: every acceptance date of 2019..2026 (plus the margins) and
// every limit 0..25 against the naive day-by-day reading of the source.
func TestDueAgreesWithDayByDayOracleEveryDay2019To2026(t *testing.T) {
	facts, _ := sourceFacts(t)
	o := oracle(facts)
	c := defaultCal(t)
	for a := NewDate(2018, 12, 1); a <= NewDate(2026, 11, 30); a++ {
		start := c.StartOfDay(a).Add(13 * time.Hour)
		for n := 0; n <= 25; n++ {
			want := o.due(a, n)
			d := c.Due(start, n, nil)
			if d.Date != want || !d.Due.Equal(c.EndOfDay(want)) {
				t.Fatalf("Due(%s, %d) = %s, want %s", a, n, d.Due, want)
			}
		}
	}
}

func TestDueWithSuspensions(t *testing.T) {
	c := defaultCal(t)
	accepted := at(t, "2024-09-27T10:00:00+08:00")
	for _, tc := range []struct {
		name string
		susp []Suspension
		want string
	}{
		{"none", nil, "2024-10-10"},
		{"spanning National Day: WD(10-08)-WD(09-30) = 1", []Suspension{{at(t, "2024-09-30T15:00:00+08:00"), at(t, "2024-10-08T09:00:00+08:00")}}, "2024-10-11"},
		{"from Saturday 09-28 to 10-09: 4 working days", []Suspension{{at(t, "2024-09-28T15:00:00+08:00"), at(t, "2024-10-09T09:00:00+08:00")}}, "2024-10-15"},
		{"inside the holiday: nothing", []Suspension{{at(t, "2024-10-02T15:00:00+08:00"), at(t, "2024-10-06T09:00:00+08:00")}}, "2024-10-10"},
		{"same day: nothing", []Suspension{{at(t, "2024-10-09T09:00:00+08:00"), at(t, "2024-10-09T17:00:00+08:00")}}, "2024-10-10"},
		{"two, out of order", []Suspension{
			{at(t, "2024-10-10T09:00:00+08:00"), at(t, "2024-10-11T09:00:00+08:00")},
			{at(t, "2024-09-30T09:00:00+08:00"), at(t, "2024-10-08T09:00:00+08:00")},
		}, "2024-10-12"},
		{"overlapping count once", []Suspension{
			{at(t, "2024-09-30T09:00:00+08:00"), at(t, "2024-10-09T09:00:00+08:00")},
			{at(t, "2024-10-08T09:00:00+08:00"), at(t, "2024-10-10T09:00:00+08:00")},
		}, "2024-10-14"},
		{"before acceptance counts from acceptance", []Suspension{{at(t, "2024-09-20T09:00:00+08:00"), at(t, "2024-09-29T09:00:00+08:00")}}, "2024-10-11"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := c.Due(accepted, 5, tc.susp)
			if d.Stopped || d.Date.String() != tc.want {
				t.Errorf("due %s (stopped %v), want %s", d.Date, d.Stopped, tc.want)
			}
		})
	}
}

// An open suspension stops the clock: no due instant, Met always true.
func TestOpenSuspensionStopsTheClock(t *testing.T) {
	c := defaultCal(t)
	accepted := at(t, "2024-09-27T10:00:00+08:00")
	susp := []Suspension{
		{at(t, "2024-09-30T09:00:00+08:00"), at(t, "2024-10-08T09:00:00+08:00")},
		{From: at(t, "2024-10-09T09:00:00+08:00")},
	}
	d := c.Due(accepted, 5, susp)
	if !d.Stopped || !d.Due.IsZero() || !d.Met(at(t, "2030-01-01T00:00:00Z")) || d.Calendar != c.Version() {
		t.Fatalf("open suspension: %+v, want stopped with no due instant", d)
	}
	// Completing ends it: suspended 10-09 -> completed 10-16 adds 5.
	out := c.Outcome(accepted, at(t, "2024-10-16T10:00:00+08:00"), 5, susp)
	if out.Deadline.Date.String() != "2024-10-18" || !out.OnTime || out.Used != 3 {
		t.Errorf("outcome %+v, want due 2024-10-18, on time, 3 days used", out)
	}
}

func TestOnTimeBoundaryIs235959(t *testing.T) {
	c := defaultCal(t)
	accepted := at(t, "2024-09-27T10:00:00+08:00")
	for _, tc := range []struct {
		completed string
		onTime    bool
		used      int
	}{
		{"2024-10-10T23:59:59+08:00", true, 5},
		{"2024-10-10T15:59:59Z", true, 5},
		{"2024-10-11T00:00:00+08:00", false, 6},
		{"2024-10-10T16:00:00Z", false, 6},
		{"2024-09-27T10:00:01+08:00", true, 0},
	} {
		out := c.Outcome(accepted, at(t, tc.completed), 5, nil)
		if out.OnTime != tc.onTime || out.Used != tc.used {
			t.Errorf("completed %s: on time %v, used %d; want %v, %d", tc.completed, out.OnTime, out.Used, tc.onTime, tc.used)
		}
		if d := c.Due(accepted, 5, nil); d.Met(at(t, tc.completed)) != tc.onTime {
			t.Errorf("Met(%s) = %v, want %v", tc.completed, !tc.onTime, tc.onTime)
		}
	}
	// Sub-second: still the last second of the day.
	if !c.Due(accepted, 5, nil).Met(at(t, "2024-10-10T23:59:59+08:00").Add(999 * time.Millisecond)) {
		t.Error("23:59:59.999 counted as late")
	}
	// Due Friday 10-25, completed Saturday 10-26: late with used == limit.
	out := c.Outcome(at(t, "2024-10-18T10:00:00+08:00"), at(t, "2024-10-26T10:00:00+08:00"), 5, nil)
	if out.OnTime || out.Used != 5 || out.Deadline.Date.String() != "2024-10-25" {
		t.Errorf("Saturday after due: %+v, want late with 5 used", out)
	}
}

// The same instant written in UTC or +08:00 gives the same deadline, also
// when its UTC calendar date differs from the local one.
func TestDueIsTheSameForAnInstantInAnyOffset(t *testing.T) {
	c := defaultCal(t)
	for _, tc := range []struct {
		local, utc string
		days       int
		want       string
	}{
		{"2024-09-27T10:00:00+08:00", "2024-09-27T02:00:00Z", 5, "2024-10-10T23:59:59+08:00"},
		// 01:00 Monday local is still Sunday (an adjusted working day) in UTC.
		{"2024-09-30T01:00:00+08:00", "2024-09-29T17:00:00Z", 1, "2024-10-08T23:59:59+08:00"},
		{"2024-09-30T01:00:00+08:00", "2024-09-29T17:00:00Z", 0, "2024-09-30T23:59:59+08:00"},
		// 23:30 Friday in UTC is Saturday local.
		{"2024-10-19T07:30:00+08:00", "2024-10-18T23:30:00Z", 0, "2024-10-21T23:59:59+08:00"},
	} {
		l := c.Due(at(t, tc.local), tc.days, nil)
		u := c.Due(at(t, tc.utc), tc.days, nil)
		if got := u.Due.Format(time.RFC3339); got != tc.want || !l.Due.Equal(u.Due) {
			t.Errorf("%s / %s + %d: %s and %s, want %s", tc.local, tc.utc, tc.days, l.Due.Format(time.RFC3339), got, tc.want)
		}
	}
	// Suspension instants given in UTC count by their local dates too.
	s1 := []Suspension{{at(t, "2024-09-30T15:00:00+08:00"), at(t, "2024-10-08T09:00:00+08:00")}}
	s2 := []Suspension{{at(t, "2024-09-30T07:00:00Z"), at(t, "2024-10-08T01:00:00Z")}}
	if a, b := c.Due(at(t, "2024-09-27T02:00:00Z"), 5, s1), c.Due(at(t, "2024-09-27T10:00:00+08:00"), 5, s2); !a.Due.Equal(b.Due) {
		t.Errorf("suspension in UTC: %s vs %s", a.Due, b.Due)
	}
	// The slow path (a zone with DST) agrees with the fixed-offset fast path.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata")
	}
	nyc := newCal(t, CalendarOptions{Location: ny})
	if nyc.fixed {
		t.Fatal("New York treated as fixed-offset")
	}
	d := nyc.Due(at(t, "2024-11-02T01:30:00-04:00"), 1, nil) // Saturday before DST ends
	if got := d.Due.Format(time.RFC3339); got != "2024-11-04T23:59:59-05:00" {
		t.Errorf("New York due %s, want 2024-11-04T23:59:59-05:00", got)
	}
}

func TestDeadlineReachingAnUncoveredYearIsProvisional(t *testing.T) {
	partial := newCal(t, CalendarOptions{Years: yearsUpTo(t, 2025)})
	full := defaultCal(t)
	accepted := at(t, "2025-12-24T10:00:00+08:00")
	p := partial.Due(accepted, 10, nil)
	f := full.Due(accepted, 10, nil)
	// Without 2026 data, 01-01 and 01-02 (holidays) count and the adjusted
	// Sunday 01-04 does not: 01-07 instead of 01-08.
	if p.Date.String() != "2026-01-07" || !p.Provisional || p.Calendar != partial.Version() {
		t.Errorf("partial calendar: %+v, want 2026-01-07, provisional", p)
	}
	if f.Date.String() != "2026-01-08" || f.Provisional {
		t.Errorf("full calendar: %+v, want 2026-01-08, not provisional", f)
	}
	if p.Calendar == f.Calendar {
		t.Error("same version with and without 2026")
	}
	// Within the covered years: not provisional in either.
	if d := partial.Due(at(t, "2025-12-01T10:00:00+08:00"), 10, nil); d.Provisional || d.Date.String() != "2025-12-15" {
		t.Errorf("covered span: %+v", d)
	}
	// The full calendar is provisional into 2027 (the weekday rule: 2027-01-01 counts).
	if d := full.Due(at(t, "2026-12-24T10:00:00+08:00"), 6, nil); !d.Provisional || d.Date.String() != "2027-01-01" {
		t.Errorf("into 2027: %+v, want 2027-01-01 provisional", d)
	}
	if d := full.Due(at(t, "2007-01-10T10:00:00+08:00"), 1, nil); d.Provisional {
		t.Errorf("2007 is covered: %+v", d)
	}
	if d := full.Due(at(t, "2006-12-29T10:00:00+08:00"), 1, nil); !d.Provisional || d.Date.String() != "2006-12-30" {
		t.Errorf("from 2006 (only its adjusted December days are known): %+v, want 2006-12-30 provisional", d)
	}
	out := partial.Outcome(accepted, at(t, "2026-01-05T10:00:00+08:00"), 10, nil)
	if !out.Deadline.Provisional || out.Used != 8 {
		t.Errorf("outcome into 2026 on the partial calendar: %+v, want provisional, 8 used", out)
	}
}

func TestNoLimitAndLimitBounds(t *testing.T) {
	c := defaultCal(t)
	d := c.Due(at(t, "2024-09-27T10:00:00+08:00"), NoLimit, nil)
	if !d.NoLimit || !d.Due.IsZero() || !d.Met(at(t, "2099-01-01T00:00:00Z")) {
		t.Errorf("NoLimit: %+v", d)
	}
	out := c.Outcome(at(t, "2024-09-27T10:00:00+08:00"), at(t, "2024-10-10T10:00:00+08:00"), NoLimit, nil)
	if !out.OnTime || out.Used != 5 || !out.Deadline.NoLimit {
		t.Errorf("NoLimit outcome: %+v", out)
	}
	huge := c.Due(at(t, "2024-09-27T10:00:00+08:00"), 1<<40, nil)
	if capped := c.Due(at(t, "2024-09-27T10:00:00+08:00"), MaxDays, nil); !huge.Due.Equal(capped.Due) || !huge.Provisional {
		t.Errorf("huge limit %s, MaxDays %s", huge.Due, capped.Due)
	}
}

func TestUsedWorkdaysSubtractSuspensions(t *testing.T) {
	c := defaultCal(t)
	accepted := at(t, "2024-09-27T10:00:00+08:00")
	for _, tc := range []struct {
		name      string
		completed string
		susp      []Suspension
		used      int
		onTime    bool
	}{
		{"same day", "2024-09-27T16:00:00+08:00", nil, 0, true},
		{"across the holiday", "2024-10-14T10:00:00+08:00", nil, 8, false},
		{"suspension of 4 working days (10-08..10-11)", "2024-10-14T10:00:00+08:00", []Suspension{{at(t, "2024-09-30T10:00:00+08:00"), at(t, "2024-10-11T10:00:00+08:00")}}, 4, true},
		{"open at completion ends there", "2024-10-14T10:00:00+08:00", []Suspension{{From: at(t, "2024-09-30T10:00:00+08:00")}}, 2, true},
		{"starting after completion is ignored", "2024-10-14T10:00:00+08:00", []Suspension{{From: at(t, "2024-10-15T10:00:00+08:00")}}, 8, false},
		{"completed before acceptance (bad data): 0", "2024-09-26T10:00:00+08:00", nil, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := c.Outcome(accepted, at(t, tc.completed), 5, tc.susp)
			if out.Used != tc.used || out.OnTime != tc.onTime {
				t.Errorf("used %d, on time %v; want %d, %v (due %s)", out.Used, out.OnTime, tc.used, tc.onTime, out.Deadline.Date)
			}
		})
	}
}

// Random suspensions against the formula read literally, with overlaps
// merged: on time iff used <= limit, except completion on a day off after
// the due date, and an instant (0-day) case accepted on a day off, which
// uses the working day it is due on.
func TestOutcomeAgreesWithOracleOnRandomCases(t *testing.T) {
	facts, _ := sourceFacts(t)
	o := oracle(facts)
	c := defaultCal(t)
	rng := rand.New(rand.NewPCG(1, 2))
	base := NewDate(2019, 1, 1)
	for i := 0; i < 20000; i++ {
		a := base + Date(rng.IntN(2800))
		n := rng.IntN(30)
		var susp []Suspension
		covered := map[Date]bool{}
		s := a
		for k := rng.IntN(3); k > 0; k-- {
			s += Date(rng.IntN(10))
			r := s + Date(rng.IntN(12))
			susp = append(susp, Suspension{c.StartOfDay(s).Add(10 * time.Hour), c.StartOfDay(r).Add(11 * time.Hour)})
			for d := s + 1; d <= r; d++ {
				covered[d] = true
			}
			s = r
		}
		done := a + Date(rng.IntN(60))
		// The oracle: suspensions end at completion at the latest; their
		// working days up to then extend the limit and are not "used".
		clipped := 0
		for d := range covered {
			if o.work(d) && d <= done {
				clipped++
			}
		}
		want := o.due(a, n+clipped)
		if n == 0 && clipped > 0 && !o.work(a) {
			want = o.due(o.due(a, 0), clipped)
		}
		out := c.Outcome(c.StartOfDay(a).Add(9*time.Hour), c.StartOfDay(done).Add(15*time.Hour), n, susp)
		used := max(o.count(a, done)-clipped, 0)
		if out.Used != used || out.Deadline.Date != want || out.OnTime != (done <= want) {
			t.Fatalf("a=%s n=%d done=%s susp=%v: got used %d due %s on time %v; want %d, %s, %v",
				a, n, done, susp, out.Used, out.Deadline.Date, out.OnTime, used, want, done <= want)
		}
		if out.OnTime != (used <= n) && o.work(done) && (n > 0 || o.work(a)) {
			t.Fatalf("a=%s n=%d done=%s: on time %v but used %d", a, n, done, out.OnTime, used)
		}
	}
}

func TestWithinOneAndThreeWorkingDays(t *testing.T) {
	c := defaultCal(t)
	for _, tc := range []struct {
		name       string
		start, end string
		days       int
		want       bool
	}{
		{"consult started Friday before National Day, answered on the adjusted Sunday", "2024-09-27T16:00:00+08:00", "2024-09-29T11:00:00+08:00", 1, true},
		{"consult answered Monday 09-30 is a day late", "2024-09-27T16:00:00+08:00", "2024-09-30T09:00:00+08:00", 1, false},
		{"consult started on a holiday, answered 10-08", "2024-10-03T10:00:00+08:00", "2024-10-08T23:59:59+08:00", 1, true},
		{"countersign within 3: 09-29, 09-30, 10-08", "2024-09-27T16:00:00+08:00", "2024-10-08T18:00:00+08:00", 3, true},
		{"countersign 10-09 is late", "2024-09-27T16:00:00+08:00", "2024-10-09T08:00:00+08:00", 3, false},
	} {
		if got := c.Within(at(t, tc.start), at(t, tc.end), tc.days); got != tc.want {
			t.Errorf("%s: Within = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNaturalHoursIgnoreHolidays(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		hours    float64
		within24 bool
	}{
		{"2024-09-30T18:00:00+08:00", "2024-10-01T18:00:00+08:00", 24, true}, // inclusive
		{"2024-09-30T18:00:00+08:00", "2024-10-01T18:00:01+08:00", 24 + 1.0/3600, false},
		{"2024-09-30T18:00:00+08:00", "2024-10-01T02:00:00Z", 16, true},
		{"2024-10-01T00:00:00+08:00", "2024-10-03T12:00:00+08:00", 60, false},
	} {
		f, to := at(t, tc.from), at(t, tc.to)
		if got := NaturalHours(f, to); got != tc.hours {
			t.Errorf("NaturalHours(%s, %s) = %v, want %v", tc.from, tc.to, got, tc.hours)
		}
		if got := WithinHours(f, to, 24); got != tc.within24 {
			t.Errorf("WithinHours(%s, %s, 24) = %v, want %v", tc.from, tc.to, got, tc.within24)
		}
	}
}

func TestCalendarDateDeadlineIsEndOfDueDate(t *testing.T) {
	c := defaultCal(t)
	d := c.DateDeadline(day(t, "2024-10-01")) // a holiday: calendar dates do not care
	if got := d.Due.Format(time.RFC3339); got != "2024-10-01T23:59:59+08:00" || d.Provisional {
		t.Errorf("DateDeadline = %s (provisional %v)", got, d.Provisional)
	}
	if !d.Met(at(t, "2024-10-01T15:59:59Z")) || d.Met(at(t, "2024-10-01T16:00:00Z")) {
		t.Error("date deadline boundary wrong")
	}
	if got := c.DateDeadline(day(t, "2031-05-01")).Due.Format(time.RFC3339); got != "2031-05-01T23:59:59+08:00" {
		t.Errorf("outside the table: %s", got)
	}
}
