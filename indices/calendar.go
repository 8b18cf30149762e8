package indices

import (
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"effidx/rules"
)

// Working days reach the SQL as an array W of WD values over a window
// around the period, bound as a parameter: WD of day number n is
// W[n - @wd_base + 1]. The window is kept small on purpose: ClickHouse
// copies the array into the query tree at every use, and a twenty-year
// array made each query a few hundred milliseconds slower. Outside the
// window WD continues by the weekday rule from the window's ends (only
// cases accepted more than two years before the period, or finished more
// than a year after it, get there).
const (
	windowBefore = 2 * 366 // days before the period
	windowAfter  = 366     // days after it
)

// calendarArgs binds the working-day parameters for period [from, to)
// computed at now: @wd, @wd_base, @wd_end (day numbers of the window's
// ends), @wd_lo and @wd_hi (WD at the ends), @w0_lo and @w0_hi (the
// weekday-rule counts at the ends), @wd_today and @wd_yesterday, and the
// day numbers @from_day, @to_day and @today.
func calendarArgs(cal *rules.Calendar, from, to, now time.Time) []any {
	args := windowArgs(cal, cal.DateOf(from).AddDays(-windowBefore), cal.DateOf(to).AddDays(windowAfter), now)
	return append(args,
		clickhouse.Named("from", from.Unix()),
		clickhouse.Named("to", to.Unix()),
		clickhouse.Named("from_day", int64(cal.DateOf(from))),
		clickhouse.Named("to_day", int64(cal.DateOf(to))),
	)
}

// refreshArgs binds the working-day parameters for deriving stored facts,
// which may lie in any year: the window spans every year the calendar
// covers and a year past now.
func refreshArgs(cal *rules.Calendar, now time.Time) []any {
	lo, hi := cal.DateOf(now).AddDays(-windowBefore), cal.DateOf(now).AddDays(windowAfter)
	if ys := cal.CoveredYears(); len(ys) > 0 {
		lo = min(lo, cal.DateOf(time.Date(ys[0], time.January, 1, 12, 0, 0, 0, cal.Location())))
	}
	return windowArgs(cal, lo, hi, now)
}

// windowArgs binds @wd over the days lo..hi and the parameters of today.
func windowArgs(cal *rules.Calendar, lo, hi rules.Date, now time.Time) []any {
	wd := make([]int32, 0, hi-lo+1)
	for d := lo; d <= hi; d++ {
		wd = append(wd, int32(cal.WD(d)))
	}
	today := cal.DateOf(now)
	return []any{
		clickhouse.Named("wd", wd),
		clickhouse.Named("wd_base", int64(lo)),
		clickhouse.Named("wd_end", int64(hi)),
		clickhouse.Named("wd_lo", int64(wd[0])),
		clickhouse.Named("wd_hi", int64(wd[len(wd)-1])),
		clickhouse.Named("w0_lo", weekdayCount(lo)),
		clickhouse.Named("w0_hi", weekdayCount(hi)),
		clickhouse.Named("wd_today", int64(cal.WD(today))),
		clickhouse.Named("wd_yesterday", int64(cal.WD(today.AddDays(-1)))),
		clickhouse.Named("today", int64(today)),
	}
}

// weekdayCount is the number of Mondays to Fridays from 1970-01-05 (a
// Monday, day 4) up to and including day n (n >= 4): the same closed form
// as w0 in the SQL.
func weekdayCount(n rules.Date) int64 {
	k := int64(n) - 4
	return 5*(k/7) + min(k%7+1, 5)
}
