package simulate

import "time"

// Working hours of the service halls, in seconds of the day.
const (
	workStart = 8*3600 + 30*60 // 08:30
	workEnd   = 17*3600 + 30*60
	workLen   = workEnd - workStart
)

// calendar maps day indexes (0 = the first day of the window) to instants
// and working days. Working days are Mon–Fri only: the generator needs a
// plausible weekly rhythm, not the statutory calendar (that lives in rules/).
// Tables grow on demand, so a long window costs a few bytes per day.
type calendar struct {
	loc      *time.Location
	y        int
	m        time.Month
	d        int
	weekday  time.Weekday
	starts   []int64 // unix second of each day's 00:00
	wd       []int32 // WD(d): working days in [0, d]
	workdays []int32 // the working days, in order
}

func newCalendar(start time.Time) calendar {
	y, m, d := start.Date()
	return calendar{loc: start.Location(), y: y, m: m, d: d, weekday: start.Weekday()}
}

func (c *calendar) grow(d int) {
	for len(c.starts) <= d+1 { // one more, so a day's length is known
		i := len(c.starts)
		c.starts = append(c.starts, time.Date(c.y, c.m, c.d+i, 0, 0, 0, 0, c.loc).Unix())
		var n int32
		if i > 0 {
			n = c.wd[i-1]
		}
		if c.isWork(i) {
			n++
			c.workdays = append(c.workdays, int32(i))
		}
		c.wd = append(c.wd, n)
	}
}

func (c *calendar) isWork(d int) bool {
	w := (int(c.weekday) + d) % 7
	return w != int(time.Saturday) && w != int(time.Sunday)
}

func (c *calendar) dayStart(d int) int64 {
	c.grow(d)
	return c.starts[d]
}

// unixAt is second sec of day d (sec may exceed a day).
func (c *calendar) unixAt(d, sec int) int64 {
	c.grow(d)
	if c.starts[d+1]-c.starts[d] == 86400 {
		return c.starts[d] + int64(sec)
	}
	// A daylight-saving day (only with a non-default Location).
	return time.Date(c.y, c.m, c.d+d, 0, 0, sec, 0, c.loc).Unix()
}

// workdayAfter is the n-th working day after day d (d itself never counts);
// n ≤ 0 gives d.
func (c *calendar) workdayAfter(d, n int) int {
	if n <= 0 {
		return d
	}
	c.grow(d + 2*n + 7) // n working days lie within 2n+7 calendar days
	return int(c.workdays[int(c.wd[d])+n-1])
}

// workdayOnOrAfter is d when it is a working day, else the next one.
func (c *calendar) workdayOnOrAfter(d int) int {
	if c.isWork(d) {
		return d
	}
	return c.workdayAfter(d, 1)
}

// dayOf is the index of the day holding unix second u (u ≥ the window start).
func (c *calendar) dayOf(u int64) int {
	c.grow(0)
	d := max(0, int((u-c.starts[0])/86400))
	c.grow(d + 1)
	for d > 0 && c.starts[d] > u {
		d--
	}
	for c.starts[d+1] <= u {
		d++
		c.grow(d + 1)
	}
	return d
}

// date is day d as a calendar date (UTC midnight, the form of event.Due).
func (c *calendar) date(d int) time.Time {
	return time.Date(c.y, c.m, c.d+d, 0, 0, 0, 0, time.UTC)
}

// dayIndex is the index of a calendar date given in any zone.
func (c *calendar) dayIndex(t time.Time) int {
	y, m, d := t.Date()
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Sub(c.date(0)).Hours() / 24)
}
