package rules

import (
	"fmt"
	"time"
)

// Date is a civil date with no time zone: days since 1970-01-01. The time
// rules count whole days, so they work on Dates; instants become Dates in
// the calendar's time zone (Calendar.DateOf).
type Date int32

// NewDate is the Date of y-m-d; out-of-range values normalise as in
// time.Date (2024-02-30 is 2024-03-01).
func NewDate(y int, m time.Month, d int) Date {
	if m < 1 || m > 12 || d < 1 || d > 28 {
		t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		y, m, d = t.Date()
	}
	return civilToDays(y, int(m), d)
}

// ParseDate reads YYYY-MM-DD strictly (no time, no offset).
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	y, m, d := t.Date()
	return civilToDays(y, int(m), d), nil
}

// YMD returns the year, month and day of d.
func (d Date) YMD() (int, time.Month, int) {
	y, m, dd := daysToCivil(int64(d))
	return y, time.Month(m), dd
}

// Year is the year of d.
func (d Date) Year() int { y, _, _ := d.YMD(); return y }

// Weekday of d (1970-01-01 was a Thursday).
func (d Date) Weekday() time.Weekday {
	return time.Weekday(floorMod(int64(d)+4, 7))
}

// AddDays is d moved by n calendar days.
func (d Date) AddDays(n int) Date { return d + Date(n) }

// String is YYYY-MM-DD.
func (d Date) String() string {
	y, m, dd := d.YMD()
	return fmt.Sprintf("%04d-%02d-%02d", y, m, dd)
}

// MarshalText makes Dates readable in JSON and YAML.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses YYYY-MM-DD.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// civilToDays and daysToCivil are H. Hinnant's proleptic Gregorian
// algorithms: branch-light and allocation-free, unlike a time.Date round
// trip on the hot path.
func civilToDays(y, m, d int) Date {
	yy := int64(y)
	if m <= 2 {
		yy--
	}
	era := floorDiv(yy, 400)
	yoe := yy - era*400
	mp := int64(m+9) % 12
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return Date(era*146097 + doe - 719468)
}

func daysToCivil(z int64) (int, int, int) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return int(y), int(m), int(d)
}
