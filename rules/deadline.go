package rules

import (
	"time"
)

// NoLimit marks an absent limit (a case without legal_days or
// promised_days): no due instant, no light.
const NoLimit = -1

// MaxDays caps a limit in working days; larger limits are treated as this
// (about 3,800 years) so that the arithmetic cannot overflow.
const MaxDays = 1_000_000

// Suspension is a stopped clock: suspended at From, resumed at To. A zero
// To means it is still open. Only the dates count: a suspension from date
// s to date r adds WD(r) - WD(s) working days (the working days after s up
// to and including r). Overlapping suspensions count once.
type Suspension struct {
	From, To time.Time
}

// Deadline is a computed due instant.
//
// While a suspension is open the clock is stopped and the due instant is
// unknown (infinitely far): Stopped is true, Due is zero and Met is true for
// any instant. With no limit (NoLimit) NoLimit is true, likewise.
type Deadline struct {
	Due         time.Time // 23:59:59 of Date in the calendar's zone
	Date        Date      // the due date (the last working day)
	Stopped     bool      // an open suspension stops the clock
	NoLimit     bool      // no limit: no due instant
	Provisional bool      // the days from acceptance to Date reach a year without national data
	Calendar    string    // Version of the calendar it was computed with
}

// Met reports whether t is at or before the due instant. Seconds are the
// resolution: 23:59:59.999 is still on time, 00:00:00 of the next day is not.
func (d Deadline) Met(t time.Time) bool {
	if d.Stopped || d.NoLimit {
		return true
	}
	return !t.Truncate(time.Second).After(d.Due)
}

// span is a suspension as dates, from s (exclusive) to r (inclusive).
type span struct {
	s, r Date
	open bool
}

// spans turns suspensions into ordered, merged date intervals clipped to
// start at a. With cut set, suspensions that begin after cutAt are ignored
// (not yet known); those resumed after cutAt are open (asOf) or end at
// cutAt's date (closeOpen: a completion ends every suspension).
func (c *Calendar) spans(buf []span, a Date, susp []Suspension, cut bool, cutAt time.Time, closeOpen bool) []span {
	out := buf[:0]
	var cutDate Date
	if cut {
		cutDate = c.DateOf(cutAt)
	}
	for _, x := range susp {
		if cut && x.From.After(cutAt) {
			continue
		}
		sp := span{s: max(c.DateOf(x.From), a)}
		switch {
		case x.To.IsZero() || (cut && x.To.After(cutAt)):
			if closeOpen {
				sp.r = cutDate
			} else {
				sp.open = true
			}
		default:
			sp.r = c.DateOf(x.To)
		}
		if !sp.open && sp.r < sp.s {
			sp.r = sp.s
		}
		out = append(out, sp)
	}
	// Insertion sort: a handful of entries, usually already in order, and
	// no allocation.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].s < out[j-1].s; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	merged := out[:0]
	for _, x := range out {
		if n := len(merged); n > 0 {
			last := &merged[n-1]
			if last.open {
				break // everything after an open suspension lies inside it
			}
			if x.s < last.r {
				if x.open {
					last.open = true
				} else {
					last.r = max(last.r, x.r)
				}
				continue
			}
		}
		merged = append(merged, x)
	}
	return merged
}

// extra sums the working days of the closed spans; stopped says whether
// the last one is open, and from when.
func (c *Calendar) extra(sp []span) (extra int, stopped bool, stopAt Date) {
	for _, x := range sp {
		if x.open {
			return extra, true, x.s
		}
		extra += c.WD(x.r) - c.WD(x.s)
	}
	return extra, false, 0
}

func clampDays(n int) int { return min(max(n, 0), MaxDays) }

// dueDate is the due date of a limit of n working days from date a with
// extra suspended working days: the n-th working day after a (a itself
// never counts); for n = 0, a itself, or the next working day when a is not
// one.
func (c *Calendar) dueDate(a Date, n, extra int) Date {
	k := c.WD(a) + n + extra
	if n == 0 && !c.isWork(a) {
		k++
	}
	return c.nth(k)
}

// Due is the deadline of a limit of days working days from start (an
// acceptance or a step start), extended by the suspensions. days < 0 is
// NoLimit; days above MaxDays count as MaxDays. An open suspension stops
// the clock (Deadline.Stopped). No allocation.
func (c *Calendar) Due(start time.Time, days int, susp []Suspension) Deadline {
	if days < 0 {
		return Deadline{NoLimit: true, Calendar: c.version}
	}
	days = clampDays(days)
	a := c.DateOf(start)
	var buf [8]span
	extra, stopped, stopAt := c.extra(c.spans(buf[:], a, susp, false, time.Time{}, false))
	if stopped {
		return Deadline{Stopped: true, Provisional: c.provisional(a, stopAt), Calendar: c.version}
	}
	due := c.dueDate(a, days, extra)
	return Deadline{Due: c.EndOfDay(due), Date: due, Provisional: c.provisional(a, due), Calendar: c.version}
}

// DueDays is Due on dates: the due date of a limit of days working days
// from date a with no suspensions, and whether it is provisional.
func (c *Calendar) DueDays(a Date, days int) (due Date, provisional bool) {
	due = c.dueDate(a, clampDays(days), 0)
	return due, c.provisional(a, due)
}

// Outcome is how a completed case, step or check did against its limit.
type Outcome struct {
	Used     int      // working days used: WD(completed) - WD(start) - suspended, at least 0
	OnTime   bool     // completed at or before the due instant (always true with NoLimit)
	Deadline Deadline // with every suspension ended at the completion
}

// Outcome judges an item started at start and completed at completed with
// a limit of days working days. Suspensions still open at completion end
// there; those that start after it are ignored.
//
// Note that OnTime is the instant rule of SPEC 4, so an item due on a
// Friday and completed on the Saturday after is late although it used
// exactly its limit in working days.
func (c *Calendar) Outcome(start, completed time.Time, days int, susp []Suspension) Outcome {
	a, done := c.DateOf(start), c.DateOf(completed)
	var buf [8]span
	extra, _, _ := c.extra(c.spans(buf[:], a, susp, true, completed, true))
	used := max(c.WD(done)-c.WD(a)-extra, 0)
	if days < 0 {
		return Outcome{Used: used, OnTime: true, Deadline: Deadline{NoLimit: true, Calendar: c.version}}
	}
	due := c.dueDate(a, clampDays(days), extra)
	d := Deadline{Due: c.EndOfDay(due), Date: due, Provisional: c.provisional(a, max(due, done)), Calendar: c.version}
	return Outcome{Used: used, OnTime: done <= due, Deadline: d}
}

// Within reports whether an item started at start and finished at end was
// finished by the due instant of a days-working-day limit from its start:
// "within 1 working day" (C3.1, consults) and "within 3 working days"
// (C3.2, countersigns).
func (c *Calendar) Within(start, end time.Time, days int) bool {
	return c.Outcome(start, end, days, nil).OnTime
}

// NaturalHours is the length of [from, to] in hours (negative when to is
// before from): scenario events are measured in natural hours, weekends and
// holidays included.
func NaturalHours(from, to time.Time) float64 { return to.Sub(from).Hours() }

// WithinHours reports whether to is at most h natural hours after from,
// inclusive: a ticket signed exactly 24 h after it came in is within 24
// hours (E3.1).
func WithinHours(from, to time.Time, h int) bool {
	return to.Sub(from) <= time.Duration(h)*time.Hour
}

// DateDeadline is the due instant of a calendar-date deadline (tasks and
// milestones): 23:59:59 of due in the calendar's zone. Calendar dates need
// no working-day data, so it is never provisional.
func (c *Calendar) DateDeadline(due Date) Deadline {
	return Deadline{Due: c.EndOfDay(due), Date: due, Calendar: c.version}
}
