package rules

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The national calendar: holiday-cn's per-year files, verbatim (see
// calendar/cn/README.md for the source and licence).
//
//go:embed calendar/cn/*.json
var calendarFS embed.FS

// DefaultTimezone is the zone of the time rules unless configured.
const DefaultTimezone = "Asia/Shanghai"

// LoadLocation loads a time zone by IANA name ("" = DefaultTimezone).
// Asia/Shanghai falls back to a fixed UTC+8 zone named CST when the host
// has no tzdata: it has had no DST since 1991, so every date after that
// comes out the same.
func LoadLocation(name string) (*time.Location, error) {
	if name == "" {
		name = DefaultTimezone
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		if name == DefaultTimezone {
			return time.FixedZone("CST", 8*3600), nil
		}
		return nil, fmt.Errorf("time zone %q: %w", name, err)
	}
	return loc, nil
}

// Source is one input file of a calendar: its name (for messages) and
// bytes (for parsing and for the version hash).
type Source struct {
	Name string
	Data []byte
}

// ReadSource reads a file into a Source.
func ReadSource(file string) (Source, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return Source{}, err
	}
	return Source{Name: file, Data: b}, nil
}

// EmbeddedYears returns the embedded national year files, sorted by name.
func EmbeddedYears() []Source {
	ents, err := fs.ReadDir(calendarFS, "calendar/cn")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	var out []Source
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := calendarFS.ReadFile(path.Join("calendar/cn", e.Name()))
		if err != nil {
			panic(err)
		}
		out = append(out, Source{Name: "rules/calendar/cn/" + e.Name(), Data: b})
	}
	return out
}

// CalendarOptions says what a calendar is built from.
type CalendarOptions struct {
	Location  *time.Location // nil: LoadLocation(DefaultTimezone)
	Years     []Source       // holiday-cn JSON year files; nil: EmbeddedYears(), empty: none
	Overrides []Source       // local override YAML files, applied in order (later wins)
	Logger    *slog.Logger   // nil: slog.Default()
}

// Calendar answers working-day questions in one time zone. It is
// immutable after NewCalendar and safe for concurrent use.
//
// Internally every date of the covered span [lo, hi] (whole years: from the
// first year any input mentions to the last) has a prefix sum of working
// days, so WD is one array read and "the k-th working day" one read of the
// inverse table. Outside the span only the weekday rule applies, and both
// have closed forms, so no date is out of range.
type Calendar struct {
	loc *time.Location
	// Over local dates [fixLo, fixHi] the zone keeps the offset off (seconds
	// east of UTC), so a date is (unix+off)/86400 with no zone lookup.
	// Asia/Shanghai: every date since its last DST change in 1991.
	fixLo, fixHi Date
	off          int64
	fixed        bool // the whole table is inside [fixLo, fixHi]

	lo, hi Date
	wdBase int32   // WD(lo-1)
	wd     []int32 // wd[i] = WD(lo+i)
	unc    []int32 // unc[i] = days of uncovered years in [lo, lo+i]
	inv    []Date  // inv[j] = the working day d with WD(d) = wdBase+1+j

	firstYear int    // first year of the table
	covered   []bool // covered[y-firstYear]: the year has national data
	until     int
	years     []int

	version string
	log     *slog.Logger
	logged  [yearBits / 64]atomic.Uint64 // years already logged as uncovered
}

const yearBits = 10048 // years 0..10047 are logged individually; others share one bit

// NewCalendar builds a calendar. Every problem in every input is reported
// at once.
func NewCalendar(o CalendarOptions) (*Calendar, error) {
	loc := o.Location
	if loc == nil {
		var err error
		if loc, err = LoadLocation(DefaultTimezone); err != nil {
			return nil, err
		}
	}
	years := o.Years
	if years == nil {
		years = EmbeddedYears()
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}

	var errs []error
	facts := map[Date]bool{} // date -> working day
	factSrc := map[Date]string{}
	coveredYears := map[int]bool{}
	yearSrc := map[int]string{}
	type hashed struct {
		year int
		src  Source
	}
	var hashYears []hashed
	for _, s := range years {
		yf, err := parseYearFile(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, ok := yearSrc[yf.year]; ok {
			errs = append(errs, fmt.Errorf("%s: year %d already given by %s", s.Name, yf.year, prev))
			continue
		}
		yearSrc[yf.year] = s.Name
		hashYears = append(hashYears, hashed{yf.year, s})
		// holiday-cn publishes an empty file for next year before the State
		// Council notice is out: that is "no data", not "no holidays".
		if len(yf.days) > 0 {
			coveredYears[yf.year] = true
		}
		for _, d := range yf.days {
			if w, ok := facts[d.date]; ok && w != d.work {
				errs = append(errs, fmt.Errorf("%s: %s contradicts %s", s.Name, d.date, factSrc[d.date]))
				continue
			}
			facts[d.date], factSrc[d.date] = d.work, s.Name
		}
	}
	var ovs []Override
	for _, s := range o.Overrides {
		ov, err := ParseOverride(s.Name, s.Data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ovs = append(ovs, ov)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, ov := range ovs {
		for _, d := range ov.Closed {
			facts[d] = false
		}
		for _, d := range ov.Open {
			facts[d] = true
		}
	}

	c := &Calendar{loc: loc, log: log}
	minY, maxY := 0, 0
	first := true
	widen := func(y int) {
		if first || y < minY {
			minY = y
		}
		if first || y > maxY {
			maxY = y
		}
		first = false
	}
	for d := range facts {
		widen(d.Year())
	}
	for y := range coveredYears {
		widen(y)
	}
	if first {
		minY, maxY = 2000, 2000 // no data at all: a token table, all weekday rule
	}
	c.lo, c.hi = NewDate(minY, 1, 1), NewDate(maxY, 12, 31)
	c.firstYear = minY
	c.covered = make([]bool, maxY-minY+1)
	for y := range coveredYears {
		c.covered[y-minY] = true
		c.years = append(c.years, y)
	}
	sort.Ints(c.years)
	if len(c.years) > 0 {
		c.until = c.years[0]
		for _, y := range c.years[1:] {
			if y != c.until+1 {
				break
			}
			c.until = y
		}
	}

	n := int(c.hi-c.lo) + 1
	c.wd = make([]int32, n)
	c.unc = make([]int32, n)
	c.wdBase = int32(w0(c.lo - 1))
	c.inv = make([]Date, 0, n*3/4)
	cum, unc := c.wdBase, int32(0)
	for i := 0; i < n; i++ {
		d := c.lo + Date(i)
		work, ok := facts[d]
		if !ok {
			work = weekdayRule(d)
		}
		if work {
			cum++
			c.inv = append(c.inv, d)
		}
		if !c.covered[d.Year()-minY] {
			unc++
		}
		c.wd[i], c.unc[i] = cum, unc
	}

	c.fixLo, c.fixHi, c.off = fixedSpan(loc, c.lo)
	c.fixed = c.fixLo <= c.lo && c.hi <= c.fixHi
	c.version = calendarVersion(loc, c.lo, c.hi, func(h func(kind string, b []byte)) {
		sort.Slice(hashYears, func(i, j int) bool { return hashYears[i].year < hashYears[j].year })
		for _, y := range hashYears {
			h("year", y.src.Data)
		}
		for _, s := range o.Overrides {
			h("override", s.Data)
		}
	})
	return c, nil
}

var defaultCalendar = sync.OnceValues(func() (*Calendar, error) { return NewCalendar(CalendarOptions{}) })

// DefaultCalendar is the embedded national calendar in Asia/Shanghai with no
// overrides, built once.
func DefaultCalendar() (*Calendar, error) { return defaultCalendar() }

// Version is a short hex content hash of everything the calendar was built
// from: the year files, the overrides and the zone's UTC offsets. Adding a
// year's file or changing an override changes it, so a stored deadline
// whose version differs from the current one is stale.
func (c *Calendar) Version() string { return c.version }

// Location is the calendar's time zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// CoveredUntil is the last year of national data with every year before
// it, back to the first one, also present (0: none). Deadlines reaching
// past it are provisional.
func (c *Calendar) CoveredUntil() int { return c.until }

// CoveredYears lists the years with national data.
func (c *Calendar) CoveredYears() []int { return append([]int(nil), c.years...) }

// Covered says whether year y has national data.
func (c *Calendar) Covered(y int) bool {
	i := y - c.firstYear
	return i >= 0 && i < len(c.covered) && c.covered[i]
}

// DateOf is the date of instant t in the calendar's zone.
func (c *Calendar) DateOf(t time.Time) Date {
	if d := floorDiv(t.Unix()+c.off, 86400); d >= int64(c.fixLo) && d <= int64(c.fixHi) {
		return Date(d)
	}
	y, m, d := t.In(c.loc).Date()
	return civilToDays(y, int(m), d)
}

// EndOfDay is 23:59:59 of d in the calendar's zone: the due instant of a
// deadline falling on d.
func (c *Calendar) EndOfDay(d Date) time.Time {
	if d >= c.fixLo && d <= c.fixHi {
		return time.Unix(int64(d)*86400+86399-c.off, 0).In(c.loc)
	}
	y, m, dd := d.YMD()
	return time.Date(y, m, dd, 23, 59, 59, 0, c.loc)
}

// StartOfDay is 00:00:00 of d in the calendar's zone.
func (c *Calendar) StartOfDay(d Date) time.Time {
	if d >= c.fixLo && d <= c.fixHi {
		return time.Unix(int64(d)*86400-c.off, 0).In(c.loc)
	}
	y, m, dd := d.YMD()
	return time.Date(y, m, dd, 0, 0, 0, 0, c.loc)
}

// WD is the number of working days up to and including d, counted from
// Monday 1970-01-05. Only differences are meaningful: WD(b) - WD(a) is the
// number of working days after a up to and including b.
func (c *Calendar) WD(d Date) int {
	switch {
	case d < c.lo:
		return int(w0(d)) // wdBase == w0(lo-1): the weekday rule continues below the table
	case d > c.hi:
		return int(c.wd[len(c.wd)-1]) + int(w0(d)-w0(c.hi))
	}
	return int(c.wd[d-c.lo])
}

// Workdays is the number of working days after from up to and including
// to (negative when to is before from).
func (c *Calendar) Workdays(from, to Date) int { return c.WD(to) - c.WD(from) }

// IsWorkday says whether d is a working day, and whether that is only the
// weekday rule because d's year has no national data.
func (c *Calendar) IsWorkday(d Date) (workday, provisional bool) {
	return c.isWork(d), !c.Covered(d.Year())
}

func (c *Calendar) isWork(d Date) bool {
	if d < c.lo || d > c.hi {
		return weekdayRule(d)
	}
	i := d - c.lo
	prev := c.wdBase
	if i > 0 {
		prev = c.wd[i-1]
	}
	return c.wd[i] != prev
}

// nth is the working day d with WD(d) == k (the smallest d with WD(d) >= k).
func (c *Calendar) nth(k int) Date {
	if k <= int(c.wdBase) {
		return nthW0(int64(k))
	}
	last := int(c.wd[len(c.wd)-1])
	if k > last {
		return nthW0(int64(k-last) + w0(c.hi))
	}
	return c.inv[k-int(c.wdBase)-1]
}

// uncovered says whether any date in [a, b] lies in a year without national
// data (dates outside the table always do).
func (c *Calendar) uncovered(a, b Date) bool {
	if a > b {
		a, b = b, a
	}
	if a < c.lo || b > c.hi {
		return true
	}
	prev := int32(0)
	if a > c.lo {
		prev = c.unc[a-c.lo-1]
	}
	return c.unc[b-c.lo] != prev
}

// provisional reports whether [a, b] reaches an uncovered year, logging each
// such year once per calendar.
func (c *Calendar) provisional(a, b Date) bool {
	if !c.uncovered(a, b) {
		return false
	}
	if a > b {
		a, b = b, a
	}
	ya, yb := a.Year(), b.Year()
	if yb-ya > 10 {
		yb = ya + 10 // absurd spans (limits of centuries): the first years say enough
	}
	for y := ya; y <= yb; y++ {
		if c.Covered(y) {
			continue
		}
		bit := y
		if bit < 0 || bit >= yearBits {
			bit = yearBits - 1
		}
		w, m := &c.logged[bit/64], uint64(1)<<(bit%64)
		for {
			old := w.Load()
			if old&m != 0 {
				break
			}
			if w.CompareAndSwap(old, old|m) {
				c.log.Warn("calendar has no holiday data for this year: deadlines reaching into it count Monday to Friday as working days and are provisional",
					"year", y, "covered_until", c.until, "calendar", c.version)
				break
			}
		}
	}
	return true
}

func weekdayRule(d Date) bool {
	wd := d.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// w0 is the number of Mondays-to-Fridays in [1970-01-05, n] (negative
// before): the weekday-only WD.
func w0(n Date) int64 {
	k := int64(n) - 4 // 1970-01-05 (Date 4) is a Monday
	q := floorDiv(k, 7)
	r := k - 7*q
	return 5*q + min(r+1, 5)
}

// nthW0 is the smallest n with w0(n) >= k.
func nthW0(k int64) Date {
	q := floorDiv(k-1, 5)
	r := k - 1 - 5*q
	return Date(4 + 7*q + r)
}

// fixedSpan finds the zone period around date lo: the local dates wholly
// inside it (a day of margin at each end) and its offset. An empty span
// (fixLo > fixHi) just means every conversion takes the slow path.
func fixedSpan(loc *time.Location, lo Date) (fixLo, fixHi Date, off int64) {
	t := time.Unix(int64(lo)*86400+12*3600, 0).In(loc)
	_, o := t.Zone()
	off = int64(o)
	start, end := t.ZoneBounds()
	fixLo, fixHi = math.MinInt32+1, math.MaxInt32-1
	if !start.IsZero() {
		fixLo = Date(floorDiv(start.Unix()+off, 86400) + 1)
	}
	if !end.IsZero() {
		fixHi = Date(floorDiv(end.Unix()+off, 86400) - 1)
	}
	return fixLo, fixHi, off
}

func calendarVersion(loc *time.Location, lo, hi Date, inputs func(h func(kind string, b []byte))) string {
	h := sha256.New()
	var n [8]byte
	put := func(kind string, b []byte) {
		h.Write([]byte(kind))
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	put("effidx-calendar", []byte("1"))
	// The zone enters as its offsets, not its name: Asia/Shanghai and the
	// fixed +08:00 fallback give the same deadlines and the same version.
	t := time.Unix(int64(lo-1)*86400, 0).In(loc)
	limit := time.Unix(int64(hi+1)*86400, 0).AddDate(30, 0, 0)
	for i := 0; i < 1000; i++ {
		_, off := t.Zone()
		var rec [16]byte
		binary.BigEndian.PutUint64(rec[:8], uint64(t.Unix()))
		binary.BigEndian.PutUint64(rec[8:], uint64(int64(off)))
		if i == 0 {
			binary.BigEndian.PutUint64(rec[:8], 0) // the first record is "from the start"
		}
		put("zone", rec[:])
		_, end := t.ZoneBounds()
		if end.IsZero() || end.After(limit) {
			break
		}
		t = end.In(loc)
	}
	inputs(put)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

type yearDay struct {
	date Date
	work bool
}

type parsedYear struct {
	year int
	days []yearDay
}

// parseYearFile reads one holiday-cn file strictly.
func parseYearFile(s Source) (parsedYear, error) {
	var f struct {
		Schema string   `json:"$schema"`
		ID     string   `json:"$id"`
		Year   int      `json:"year"`
		Papers []string `json:"papers"`
		Days   []struct {
			Name     string `json:"name"`
			Date     string `json:"date"`
			IsOffDay *bool  `json:"isOffDay"`
		} `json:"days"`
	}
	dec := json.NewDecoder(bytes.NewReader(s.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return parsedYear{}, fmt.Errorf("%s: %w", s.Name, err)
	}
	if dec.More() {
		return parsedYear{}, fmt.Errorf("%s: data after the JSON object", s.Name)
	}
	var errs []error
	if f.Year < 1949 || f.Year > 9999 {
		errs = append(errs, fmt.Errorf("%s: year %d out of range", s.Name, f.Year))
	}
	out := parsedYear{year: f.Year}
	seen := map[Date]bool{}
	for i, d := range f.Days {
		dt, err := ParseDate(d.Date)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: days[%d]: %w", s.Name, i, err))
			continue
		}
		// A December date may sit in the next year's file (adjusted working
		// days before New Year's Day are announced with the next year).
		if y, m, _ := dt.YMD(); y != f.Year && (y != f.Year-1 || m != time.December) {
			errs = append(errs, fmt.Errorf("%s: days[%d]: %s is not in %d (or the December before)", s.Name, i, d.Date, f.Year))
		}
		if d.IsOffDay == nil {
			errs = append(errs, fmt.Errorf("%s: days[%d] (%s): isOffDay missing", s.Name, i, d.Date))
			continue
		}
		if seen[dt] {
			errs = append(errs, fmt.Errorf("%s: days[%d]: %s listed twice", s.Name, i, d.Date))
			continue
		}
		seen[dt] = true
		out.days = append(out.days, yearDay{dt, !*d.IsOffDay})
	}
	return out, errors.Join(errs...)
}
