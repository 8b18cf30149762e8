package indices

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// PeriodKind is the length of a period.
type PeriodKind int8

// Period kinds; the values are the period_kind Enum8 of the schema.
const (
	Day PeriodKind = iota + 1
	Month
	Quarter
	Year
)

var periodKindNames = [...]string{"", "day", "month", "quarter", "year"}

func (k PeriodKind) String() string {
	if k >= Day && k <= Year {
		return periodKindNames[k]
	}
	return "period_kind(" + strconv.Itoa(int(k)) + ")"
}

// Period is a day, month, quarter or year in the calendar's zone, written
// as in the API: 2026-10-05, 2026-10, 2026-Q4, 2026.
type Period struct {
	Kind PeriodKind
	Y    int
	N    int // month 1..12, quarter 1..4, unused for a year
	D    int // day of month, for a day
}

var periodRE = regexp.MustCompile(`^(\d{4})(?:-(?:Q([1-4])|(\d{2})(?:-(\d{2}))?))?$`)

// ParsePeriod reads 2026-10-05, 2026-10, 2026-Q4 or 2026.
func ParsePeriod(s string) (Period, error) {
	m := periodRE.FindStringSubmatch(s)
	if m == nil {
		return Period{}, fmt.Errorf("period %q: want a day 2026-10-05, a month 2026-10, a quarter 2026-Q4 or a year 2026", s)
	}
	y, _ := strconv.Atoi(m[1])
	switch {
	case m[2] != "":
		q, _ := strconv.Atoi(m[2])
		return Period{Kind: Quarter, Y: y, N: q}, nil
	case m[4] != "":
		mo, _ := strconv.Atoi(m[3])
		d, _ := strconv.Atoi(m[4])
		t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
		if mo < 1 || mo > 12 || t.Day() != d {
			return Period{}, fmt.Errorf("period %q: no such day", s)
		}
		return Period{Kind: Day, Y: y, N: mo, D: d}, nil
	case m[3] != "":
		mo, _ := strconv.Atoi(m[3])
		if mo < 1 || mo > 12 {
			return Period{}, fmt.Errorf("period %q: month %d is not 01..12", s, mo)
		}
		return Period{Kind: Month, Y: y, N: mo}, nil
	}
	return Period{Kind: Year, Y: y}, nil
}

// PeriodOf is the period of the given kind that holds t (in t's zone).
func PeriodOf(kind PeriodKind, t time.Time) Period {
	y, m, d := t.Date()
	switch kind {
	case Day:
		return Period{Kind: Day, Y: y, N: int(m), D: d}
	case Month:
		return Period{Kind: Month, Y: y, N: int(m)}
	case Quarter:
		return Period{Kind: Quarter, Y: y, N: (int(m)-1)/3 + 1}
	}
	return Period{Kind: Year, Y: y}
}

func (p Period) String() string {
	switch p.Kind {
	case Day:
		return fmt.Sprintf("%04d-%02d-%02d", p.Y, p.N, p.D)
	case Month:
		return fmt.Sprintf("%04d-%02d", p.Y, p.N)
	case Quarter:
		return fmt.Sprintf("%04d-Q%d", p.Y, p.N)
	}
	return fmt.Sprintf("%04d", p.Y)
}

// MarshalText writes the period as in the API.
func (p Period) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Start is the first instant of the period in loc.
func (p Period) Start(loc *time.Location) time.Time {
	switch p.Kind {
	case Day:
		return time.Date(p.Y, time.Month(p.N), p.D, 0, 0, 0, 0, loc)
	case Month:
		return time.Date(p.Y, time.Month(p.N), 1, 0, 0, 0, 0, loc)
	case Quarter:
		return time.Date(p.Y, time.Month(3*p.N-2), 1, 0, 0, 0, 0, loc)
	}
	return time.Date(p.Y, 1, 1, 0, 0, 0, 0, loc)
}

// End is the first instant after the period in loc.
func (p Period) End(loc *time.Location) time.Time { return p.Next().Start(loc) }

// Next is the period of the same kind that follows p.
func (p Period) Next() Period { return p.add(1) }

// Previous is the period of the same kind before p (the one a change is
// measured against).
func (p Period) Previous() Period { return p.add(-1) }

func (p Period) add(n int) Period {
	switch p.Kind {
	case Day:
		t := time.Date(p.Y, time.Month(p.N), p.D+n, 0, 0, 0, 0, time.UTC)
		return PeriodOf(Day, t)
	case Month:
		t := time.Date(p.Y, time.Month(p.N+n), 1, 0, 0, 0, 0, time.UTC)
		return PeriodOf(Month, t)
	case Quarter:
		i := p.Y*4 + p.N - 1 + n
		return Period{Kind: Quarter, Y: i / 4, N: i%4 + 1}
	}
	return Period{Kind: Year, Y: p.Y + n}
}

// Before says whether p starts before q (both of the same kind).
func (p Period) Before(q Period) bool {
	return p.Start(time.UTC).Before(q.Start(time.UTC))
}
