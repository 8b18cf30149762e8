package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"effidx/rules"
)

const calendarUsage = `usage: effidx calendar <due|workdays|is-workday> [flags]

  due         --accepted INSTANT --days N [--suspend FROM:TO ...]
              the due instant of a limit of N working days (SPEC 4)
  workdays    --from DATE --to DATE
              working days after --from up to and including --to
  is-workday  DATE
              whether DATE is a working day

Every subcommand takes --timezone TZ (default $EFFIDX_TIMEZONE, else
Asia/Shanghai) and --calendar-override FILE (repeatable). Each prints one
JSON object on standard output; a deadline reaching a year without holiday
data is computed on weekends only and marked "provisional".
`

// cmdCalendar has the command signature itself, so run.go registers it in
// one line.
func cmdCalendar(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, calendarUsage)
		return usageError{errors.New("calendar: want a subcommand: due, workdays or is-workday")}
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stderr, calendarUsage)
		return nil
	case "due":
		return calendarDue(args[1:], stdout, stderr)
	case "workdays":
		return calendarWorkdays(args[1:], stdout, stderr)
	case "is-workday":
		return calendarIsWorkday(args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, calendarUsage)
	return usageError{fmt.Errorf("calendar: unknown subcommand %q (want due, workdays or is-workday)", args[0])}
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// calendarFlags are the flags every subcommand shares.
type calendarFlags struct {
	tz        string
	overrides listFlag
}

func (f *calendarFlags) bind(fs *flag.FlagSet) {
	tz := os.Getenv("EFFIDX_TIMEZONE")
	if tz == "" {
		tz = rules.DefaultTimezone
	}
	fs.StringVar(&f.tz, "timezone", tz, "time zone of the rules (env EFFIDX_TIMEZONE)")
	fs.Var(&f.overrides, "calendar-override", "local calendar override YAML file (repeatable, later files win)")
}

// calendar builds the calendar; its warnings (provisional years) go to
// stderr so that stdout stays one JSON object. A bad zone or override is a
// bad argument.
func (f *calendarFlags) calendar(stderr io.Writer) (*rules.Calendar, error) {
	loc, err := rules.LoadLocation(f.tz)
	if err != nil {
		return nil, usageError{fmt.Errorf("--timezone: %w", err)}
	}
	opts := rules.CalendarOptions{Location: loc, Logger: newLogger(stderr, "info")}
	for _, file := range f.overrides {
		s, err := rules.ReadSource(file)
		if err != nil {
			return nil, usageError{fmt.Errorf("--calendar-override: %w", err)}
		}
		opts.Overrides = append(opts.Overrides, s)
	}
	c, err := rules.NewCalendar(opts)
	if err != nil {
		return nil, usageError{fmt.Errorf("calendar: %w", err)}
	}
	return c, nil
}

// parseFlags parses fs and allows flags after positional arguments
// (`is-workday 2024-10-12 --timezone UTC`).
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, usageError{err}
	}
	var pos []string
	for rest := fs.Args(); len(rest) > 0; rest = fs.Args() {
		pos = append(pos, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			return nil, usageError{err}
		}
	}
	return pos, nil
}

func writeJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

func calendarDue(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("calendar due", stderr, "calendar due --accepted INSTANT --days N [--suspend FROM:TO ...] [flags]: the due instant of a working-day limit")
	var cf calendarFlags
	cf.bind(fs)
	accepted := fs.String("accepted", "", "acceptance instant, RFC 3339 (2024-09-27T10:00:00+08:00) or a date (required)")
	days := fs.String("days", "", "limit in working days, 0 = instant (required)")
	var susp listFlag
	fs.Var(&susp, "suspend", "suspension FROM:TO as dates (2024-09-30:2024-10-08); FROM: alone is still open (repeatable)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Errorf("calendar due: unexpected argument %q", pos[0])}
	}
	if *accepted == "" {
		return usageError{errors.New("calendar due: --accepted is required")}
	}
	if *days == "" {
		return usageError{errors.New("calendar due: --days is required")}
	}
	n, err := strconv.Atoi(*days)
	if err != nil || n < 0 || n > rules.MaxDays {
		return usageError{fmt.Errorf("--days %q: want a whole number of working days from 0 to %d", *days, rules.MaxDays)}
	}
	c, err := cf.calendar(stderr)
	if err != nil {
		return err
	}
	start, err := parseInstant(c, *accepted)
	if err != nil {
		return usageError{fmt.Errorf("--accepted: %w", err)}
	}
	var ss []rules.Suspension
	for _, v := range susp {
		s, err := parseSuspension(c, v)
		if err != nil {
			return usageError{fmt.Errorf("--suspend %q: %w", v, err)}
		}
		ss = append(ss, s)
	}
	d := c.Due(start, n, ss)
	out := struct {
		Due         *string `json:"due"` // null while an open suspension stops the clock
		Stopped     bool    `json:"stopped,omitempty"`
		Provisional bool    `json:"provisional"`
		Calendar    string  `json:"calendar"`
	}{Stopped: d.Stopped, Provisional: d.Provisional, Calendar: d.Calendar}
	if !d.Stopped {
		s := d.Due.Format(time.RFC3339)
		out.Due = &s
	}
	return writeJSON(stdout, out)
}

// parseInstant takes RFC 3339, or a bare date meaning its start in the
// calendar's zone (only the date counts for working-day limits).
func parseInstant(c *rules.Calendar, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := rules.ParseDate(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 instant (2024-09-27T10:00:00+08:00) or a date (2024-09-27)", s)
	}
	return c.StartOfDay(d), nil
}

func parseSuspension(c *rules.Calendar, v string) (rules.Suspension, error) {
	a, b, ok := strings.Cut(v, ":")
	if !ok {
		return rules.Suspension{}, errors.New("want FROM:TO dates, e.g. 2024-09-30:2024-10-08 (FROM: for one still open)")
	}
	from, err := rules.ParseDate(a)
	if err != nil {
		return rules.Suspension{}, err
	}
	s := rules.Suspension{From: c.StartOfDay(from)}
	if b == "" {
		return s, nil
	}
	to, err := rules.ParseDate(b)
	if err != nil {
		return rules.Suspension{}, err
	}
	if to < from {
		return rules.Suspension{}, fmt.Errorf("resumed %s before suspended %s", to, from)
	}
	s.To = c.StartOfDay(to)
	return s, nil
}

func calendarWorkdays(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("calendar workdays", stderr, "calendar workdays --from DATE --to DATE [flags]: working days after --from up to and including --to")
	var cf calendarFlags
	cf.bind(fs)
	fromS := fs.String("from", "", "first date, not counted (YYYY-MM-DD, required)")
	toS := fs.String("to", "", "last date, counted (YYYY-MM-DD, required)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Errorf("calendar workdays: unexpected argument %q", pos[0])}
	}
	var dates [2]rules.Date
	for i, f := range []struct{ name, v string }{{"from", *fromS}, {"to", *toS}} {
		if f.v == "" {
			return usageError{fmt.Errorf("calendar workdays: --%s is required", f.name)}
		}
		if dates[i], err = rules.ParseDate(f.v); err != nil {
			return usageError{fmt.Errorf("--%s: %w", f.name, err)}
		}
	}
	if dates[1] < dates[0] {
		return usageError{fmt.Errorf("calendar workdays: --to %s is before --from %s", dates[1], dates[0])}
	}
	c, err := cf.calendar(stderr)
	if err != nil {
		return err
	}
	// The count depends on the days after --from up to --to.
	prov := false
	for y := (dates[0] + 1).Year(); y <= dates[1].Year() && !prov; y++ {
		prov = !c.Covered(y)
	}
	return writeJSON(stdout, struct {
		Workdays    int    `json:"workdays"`
		Provisional bool   `json:"provisional"`
		Calendar    string `json:"calendar"`
	}{c.Workdays(dates[0], dates[1]), prov, c.Version()})
}

func calendarIsWorkday(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("calendar is-workday", stderr, "calendar is-workday DATE [flags]: whether DATE is a working day")
	var cf calendarFlags
	cf.bind(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{fmt.Errorf("calendar is-workday: want exactly one DATE (YYYY-MM-DD), got %d arguments", len(pos))}
	}
	d, err := rules.ParseDate(pos[0])
	if err != nil {
		return usageError{err}
	}
	c, err := cf.calendar(stderr)
	if err != nil {
		return err
	}
	work, prov := c.IsWorkday(d)
	return writeJSON(stdout, struct {
		Date        rules.Date `json:"date"`
		Workday     bool       `json:"workday"`
		Provisional bool       `json:"provisional"`
		Calendar    string     `json:"calendar"`
	}{d, work, prov, c.Version()})
}
