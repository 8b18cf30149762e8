package rules

import (
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEmbeddedCalendarCovers2007To2026(t *testing.T) {
	c, err := DefaultCalendar()
	if err != nil {
		t.Fatal(err)
	}
	if c.Version() != defaultCal(t).Version() {
		t.Errorf("DefaultCalendar version %s, rebuilt %s", c.Version(), defaultCal(t).Version())
	}
	years := c.CoveredYears()
	if len(years) != 20 || years[0] != 2007 || years[19] != 2026 {
		t.Fatalf("covered years %v, want 2007..2026", years)
	}
	if got := c.CoveredUntil(); got != 2026 {
		t.Errorf("CoveredUntil() = %d, want 2026", got)
	}
	for _, y := range []int{2006, 2027, 1999} {
		if c.Covered(y) {
			t.Errorf("Covered(%d) = true, want false", y)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(c.Version()) {
		t.Errorf("Version() = %q, want 12 hex digits", c.Version())
	}
	if c.Location().String() != "Asia/Shanghai" && c.Location().String() != "CST" {
		t.Errorf("Location() = %s", c.Location())
	}
	if !c.fixed || c.off != 8*3600 {
		t.Errorf("Asia/Shanghai not on the fixed-offset fast path (fixed %v, offset %d)", c.fixed, c.off)
	}
}

// Every day of 2019..2026 against the upstream files, read independently:
// listed days as listed, all others by the weekday rule.
func TestIsWorkdayAgreesWithSourceData2019To2026(t *testing.T) {
	facts, _ := sourceFacts(t)
	c := defaultCal(t)
	o := oracle(facts)
	listed := 0
	for d := NewDate(2019, 1, 1); d <= NewDate(2026, 12, 31); d++ {
		got, prov := c.IsWorkday(d)
		if prov {
			t.Fatalf("%s: provisional, want covered", d)
		}
		want, ok := facts[d]
		if ok {
			listed++
		} else {
			want = d.Weekday() != time.Saturday && d.Weekday() != time.Sunday
		}
		if got != want || o.work(d) != want {
			t.Fatalf("IsWorkday(%s) = %v, want %v (listed in source: %v)", d, got, want, ok)
		}
	}
	if listed < 250 {
		t.Fatalf("only %d listed days in 2019..2026: source data incomplete?", listed)
	}
}

// The embedded files are the upstream files byte for byte, so the
// attribution stays true and an update is a plain copy.
func TestEmbeddedYearFilesAreVerbatimCopies(t *testing.T) {
	_, files := sourceFacts(t)
	up := map[string]bool{}
	for _, f := range files {
		up[f[strings.LastIndex(f, "/")+1:]] = true
	}
	for _, s := range EmbeddedYears() {
		name := s.Name[strings.LastIndex(s.Name, "/")+1:]
		if !up[name] {
			t.Errorf("%s has no upstream file", s.Name)
		}
		want, err := ReadSource(sourceDir + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if string(want.Data) != string(s.Data) {
			t.Errorf("%s differs from %s/%s", s.Name, sourceDir, name)
		}
	}
}

// WD and its inverse against the oracle, across the table edges (2006 and
// 2026) and far outside them.
func TestWDAndNthAgreeWithDayByDayCount(t *testing.T) {
	facts, _ := sourceFacts(t)
	o := oracle(facts)
	c := defaultCal(t)
	from, to := NewDate(1998, 1, 1), NewDate(2035, 12, 31)
	for d := from; d < to; d++ {
		if got, want := c.WD(d+1)-c.WD(d), b2i(o.work(d+1)); got != want {
			t.Fatalf("WD(%s)-WD(%s) = %d, want %d", d+1, d, got, want)
		}
		if c.isWork(d) != o.work(d) {
			t.Fatalf("isWork(%s) = %v", d, c.isWork(d))
		}
		if o.work(d) && c.nth(c.WD(d)) != d {
			t.Fatalf("nth(WD(%s)) = %s", d, c.nth(c.WD(d)))
		}
	}
	for _, tc := range []struct{ from, to string }{
		{"2024-09-27", "2024-10-14"}, {"2006-12-29", "2007-01-05"}, {"1990-03-01", "2040-07-01"}, {"2026-12-31", "2027-01-04"},
	} {
		a, b := day(t, tc.from), day(t, tc.to)
		if got, want := c.Workdays(a, b), o.count(a, b); got != want {
			t.Errorf("Workdays(%s, %s) = %d, want %d", a, b, got, want)
		}
	}
	if got := c.Workdays(day(t, "2024-09-27"), day(t, "2024-10-14")); got != 8 {
		// 09-29 (adjusted Sunday), 09-30, 10-08..10-11, 10-12 (adjusted Saturday), 10-14
		t.Errorf("Workdays(2024-09-27, 2024-10-14) = %d, want 8", got)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestWeekdayClosedFormsAreConsistent(t *testing.T) {
	for n := Date(-3000); n < 3000; n++ {
		wd := n.Weekday()
		want := int64(0)
		if wd != time.Saturday && wd != time.Sunday {
			want = 1
		}
		if got := w0(n) - w0(n-1); got != want {
			t.Fatalf("w0(%s)-w0(%s) = %d, want %d", n, n-1, got, want)
		}
		if want == 1 && nthW0(w0(n)) != n {
			t.Fatalf("nthW0(w0(%s)) = %s", n, nthW0(w0(n)))
		}
	}
}

func TestCalendarWithoutLaterYearsIsProvisionalThere(t *testing.T) {
	c := newCal(t, CalendarOptions{Years: yearsUpTo(t, 2025)})
	if got := c.CoveredUntil(); got != 2025 {
		t.Fatalf("CoveredUntil() = %d, want 2025", got)
	}
	// 2026-01-02 is a holiday in the real calendar; without 2026 data it
	// is an ordinary Friday, flagged provisional.
	if w, p := c.IsWorkday(day(t, "2026-01-02")); !w || !p {
		t.Errorf("IsWorkday(2026-01-02) = %v, %v; want true, provisional", w, p)
	}
	if w, p := c.IsWorkday(day(t, "2025-10-08")); w || p {
		t.Errorf("IsWorkday(2025-10-08) = %v, %v; want false, not provisional", w, p)
	}
	// No data at all: every year is provisional, weekday rule throughout.
	empty := newCal(t, CalendarOptions{Years: []Source{}})
	if empty.CoveredUntil() != 0 {
		t.Errorf("empty calendar CoveredUntil() = %d, want 0", empty.CoveredUntil())
	}
	if w, p := empty.IsWorkday(day(t, "2024-10-01")); !w || !p {
		t.Errorf("empty calendar IsWorkday(2024-10-01) = %v, %v; want true, provisional", w, p)
	}
}

func TestEmptyYearFileIsNotCoverage(t *testing.T) {
	next := Source{Name: "2027.json", Data: []byte(`{"year":2027,"papers":[],"days":[]}`)}
	c := newCal(t, CalendarOptions{Years: append(EmbeddedYears(), next)})
	if c.CoveredUntil() != 2026 || c.Covered(2027) {
		t.Errorf("with an empty 2027 file: CoveredUntil() = %d, Covered(2027) = %v; want 2026, false", c.CoveredUntil(), c.Covered(2027))
	}
	if c.Version() == defaultCal(t).Version() {
		t.Error("adding a file did not change the version")
	}
}

func TestUncoveredYearIsLoggedOncePerYear(t *testing.T) {
	var sink logSink
	c := newCal(t, CalendarOptions{Logger: sink.logger()})
	c.Due(at(t, "2026-12-24T10:00:00+08:00"), 10, nil) // into 2027
	c.Due(at(t, "2026-12-28T10:00:00+08:00"), 10, nil) // 2027 again
	c.Due(at(t, "2027-12-28T10:00:00+08:00"), 10, nil) // 2027 and 2028
	c.Due(at(t, "2026-06-01T10:00:00+08:00"), 10, nil) // covered: no log
	lines := sink.lines()
	if len(lines) != 2 || !strings.Contains(lines[0], "year=2027") || !strings.Contains(lines[1], "year=2028") {
		t.Fatalf("log lines %q, want one for 2027 then one for 2028", lines)
	}
	if !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "covered_until=2026") || !strings.Contains(lines[0], "calendar="+c.Version()) {
		t.Errorf("log line %q lacks level, covered_until or calendar", lines[0])
	}
}

func TestUncoveredYearIsLoggedOnceUnderConcurrentUse(t *testing.T) {
	var sink logSink
	c := newCal(t, CalendarOptions{Logger: sink.logger()})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 200; i++ {
				c.Due(at(t, "2026-12-24T10:00:00+08:00"), 10+i%5, nil)
			}
		})
	}
	wg.Wait()
	if n := len(sink.lines()); n != 1 {
		t.Errorf("%d log lines for 2027, want 1", n)
	}
}

func TestVersionIsContentHashOfInputs(t *testing.T) {
	full := newCal(t, CalendarOptions{})
	again := newCal(t, CalendarOptions{})
	partial := newCal(t, CalendarOptions{Years: yearsUpTo(t, 2025)})
	if full.Version() != again.Version() {
		t.Errorf("same inputs, versions %s and %s", full.Version(), again.Version())
	}
	if full.Version() == partial.Version() {
		t.Error("adding 2026 did not change the version")
	}
	// The zone enters by its offsets: the tzdata-less fallback has the same
	// version as Asia/Shanghai, UTC does not.
	fixed := newCal(t, CalendarOptions{Location: time.FixedZone("CST", 8*3600)})
	utc := newCal(t, CalendarOptions{Location: time.UTC})
	if fixed.Version() != full.Version() {
		t.Errorf("fixed +08:00 version %s, Asia/Shanghai %s: want equal", fixed.Version(), full.Version())
	}
	if utc.Version() == full.Version() {
		t.Error("UTC calendar has the Asia/Shanghai version")
	}
}

func TestLoadLocation(t *testing.T) {
	loc, err := LoadLocation("")
	if err != nil {
		t.Fatal(err)
	}
	if _, off := time.Date(2024, 7, 1, 0, 0, 0, 0, loc).Zone(); off != 8*3600 {
		t.Errorf("default zone offset %d, want +08:00", off)
	}
	if _, err := LoadLocation("Mars/Olympus_Mons"); err == nil {
		t.Error("LoadLocation of an unknown zone succeeded")
	}
}

func TestBadYearFilesAreRejectedAllAtOnce(t *testing.T) {
	bad := []Source{
		{Name: "a.json", Data: []byte(`{"year":2030,"days":[{"name":"x","date":"2030-13-01","isOffDay":true},{"name":"x","date":"2028-05-01","isOffDay":true},{"name":"x","date":"2030-05-01"}]}`)},
		{Name: "b.json", Data: []byte(`{"year":2031,"extra":1,"days":[]}`)},
		{Name: "c.json", Data: []byte(`{"year":2024,"days":[{"name":"x","date":"2024-10-01","isOffDay":false}]}`)},
		{Name: "d.json", Data: []byte(`{"year":2040,"days":[{"name":"x","date":"2039-12-31","isOffDay":false},{"name":"x","date":"2040-01-01","isOffDay":true}]}`)},
		{Name: "f.json", Data: []byte(`{"year":2041,"days":[{"name":"x","date":"2041-01-01","isOffDay":true},{"name":"x","date":"2041-01-01","isOffDay":true}]}`)},
		{Name: "e.json", Data: []byte(`{"year":2039,"days":[{"name":"x","date":"2039-12-31","isOffDay":true}]}`)},
	}
	_, err := NewCalendar(CalendarOptions{Years: append(EmbeddedYears(), bad...)})
	if err == nil {
		t.Fatal("bad year files accepted")
	}
	for _, want := range []string{
		`a.json: days[0]: date "2030-13-01": want YYYY-MM-DD`,
		`a.json: days[1]: 2028-05-01 is not in 2030 (or the December before)`,
		`a.json: days[2] (2030-05-01): isOffDay missing`,
		`b.json: json: unknown field "extra"`,
		`c.json: year 2024 already given by rules/calendar/cn/2024.json`,
		`f.json: days[1]: 2041-01-01 listed twice`,
		`e.json: 2039-12-31 contradicts d.json`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = NewCalendar(CalendarOptions{Years: []Source{
		{Name: "x.json", Data: []byte(`{"year":2030,"days":[{"name":"x","date":"2030-05-01","isOffDay":true}]}`)},
		{Name: "y.json", Data: []byte(`{"year":2031,"days":[{"name":"x","date":"2030-12-31","isOffDay":true}]}`)},
		{Name: "z.json", Data: []byte(`{"year":2029,"days":[]}`)},
		{Name: "w.json", Data: []byte(`{"year":2032,"days":[{"name":"x","date":"2031-12-31","isOffDay":true}]}`)},
		{Name: "v.json", Data: []byte(`{"year":2033,"days":[{"name":"x","date":"2032-12-31","isOffDay":false}]}`)},
	}})
	if err != nil {
		t.Fatalf("valid files rejected: %v", err)
	}
	_, err = NewCalendar(CalendarOptions{Years: []Source{
		{Name: "x.json", Data: []byte(`{"year":2031,"days":[{"name":"x","date":"2031-01-01","isOffDay":true}]}`)},
		{Name: "y.json", Data: []byte(`{"year":2032,"days":[{"name":"x","date":"2031-12-31","isOffDay":true}]}`)},
		{Name: "z.json", Data: []byte(`{"year":2031,"days":[]}`)},
	}})
	var target interface{ Unwrap() []error }
	if !errors.As(err, &target) || !strings.Contains(err.Error(), "z.json: year 2031 already given by x.json") {
		t.Errorf("duplicate year: %v", err)
	}
}

// The fixed-offset fast path and the zone lookup agree, inside and outside
// the period it covers (Asia/Shanghai had DST until 1991), and the same for
// a zone with DST today.
func TestDateConversionsAgreeWithTimePackage(t *testing.T) {
	zones := []*time.Location{defaultCal(t).Location(), time.UTC}
	if ny, err := time.LoadLocation("America/New_York"); err == nil {
		zones = append(zones, ny)
	}
	for _, loc := range zones {
		c := newCal(t, CalendarOptions{Location: loc})
		from := time.Date(1985, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 0; i < 200000; i++ {
			tm := from.Add(time.Duration(i) * 7919 * time.Second) // ~50 years, all times of day
			y, m, d := tm.In(loc).Date()
			got := c.DateOf(tm)
			if want := NewDate(y, m, d); got != want {
				t.Fatalf("%s: DateOf(%s) = %s, want %s", loc, tm, got, want)
			}
			if i%97 == 0 {
				if e, w := c.EndOfDay(got), time.Date(y, m, d, 23, 59, 59, 0, loc); !e.Equal(w) {
					t.Fatalf("%s: EndOfDay(%s) = %s, want %s", loc, got, e, w)
				}
				if s, w := c.StartOfDay(got), time.Date(y, m, d, 0, 0, 0, 0, loc); !s.Equal(w) {
					t.Fatalf("%s: StartOfDay(%s) = %s, want %s", loc, got, s, w)
				}
			}
		}
	}
}
