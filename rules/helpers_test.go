package rules

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// sourceDir is the upstream holiday-cn data, at the same relative place in
// this workplace and in CI.
const sourceDir = "../../shared/data/holiday-cn"

var cst = time.FixedZone("+08", 8*3600)

// at parses an RFC 3339 instant.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// day parses a date.
func day(t testing.TB, s string) Date {
	t.Helper()
	d, err := ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// testCal is the embedded calendar with a silent logger (the provisional
// warnings of the tests are noise).
var testCal = sync.OnceValues(func() (*Calendar, error) {
	return NewCalendar(CalendarOptions{Logger: slog.New(slog.DiscardHandler)})
})

func defaultCal(t testing.TB) *Calendar {
	t.Helper()
	c, err := testCal()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// yearsUpTo is the embedded year files up to and including last.
func yearsUpTo(t testing.TB, last int) []Source {
	t.Helper()
	var out []Source
	for _, s := range EmbeddedYears() {
		y, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(s.Name), ".json"))
		if err != nil {
			t.Fatal(err)
		}
		if y <= last {
			out = append(out, s)
		}
	}
	return out
}

func newCal(t testing.TB, o CalendarOptions) *Calendar {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := NewCalendar(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sourceFacts reads the upstream files: date -> working day.
func sourceFacts(t testing.TB) (map[Date]bool, []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(sourceDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("holiday-cn source data not found at %s (from the package directory): the cross-checks need ../shared/data/holiday-cn next to the repository", sourceDir)
	}
	sort.Strings(files)
	facts := map[Date]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var y struct {
			Days []struct {
				Date     string `json:"date"`
				IsOffDay bool   `json:"isOffDay"`
			} `json:"days"`
		}
		if err := json.Unmarshal(b, &y); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, d := range y.Days {
			facts[day(t, d.Date)] = !d.IsOffDay
		}
	}
	return facts, files
}

// oracle is the naive reading of the rules, day by day, against the
// upstream files: what the tables must agree with.
type oracle map[Date]bool

func (o oracle) work(d Date) bool {
	if w, ok := o[d]; ok {
		return w
	}
	return d.Weekday() != time.Saturday && d.Weekday() != time.Sunday
}

// due is the n-th working day after a (n = 0: a, or the next working day).
func (o oracle) due(a Date, n int) Date {
	d := a
	if n == 0 {
		for !o.work(d) {
			d++
		}
		return d
	}
	for n > 0 {
		d++
		if o.work(d) {
			n--
		}
	}
	return d
}

// count is the number of working days in (a, b].
func (o oracle) count(a, b Date) int {
	n := 0
	for d := a + 1; d <= b; d++ {
		if o.work(d) {
			n++
		}
	}
	return n
}

// logSink records slog records for assertions.
type logSink struct {
	mu   sync.Mutex
	recs []string
}

func (l *logSink) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.recs = append(l.recs, string(bytes.TrimSpace(p)))
		return len(p), nil
	}), nil))
}

func (l *logSink) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.recs...)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
