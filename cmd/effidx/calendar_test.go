package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"effidx/rules"
)

// runCalendar runs `effidx calendar args...` and returns stdout, stderr and
// the error.
func runCalendar(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(t.Context(), append([]string{"calendar"}, args...), nil, &out, &errOut)
	return out.String(), errOut.String(), err
}

func calendarVersion(t *testing.T) string {
	t.Helper()
	c, err := rules.DefaultCalendar()
	if err != nil {
		t.Fatal(err)
	}
	return c.Version()
}

func TestCalendarCommandsPrintOneJSONObject(t *testing.T) {
	t.Setenv("EFFIDX_TIMEZONE", "")
	v := calendarVersion(t)
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(v) {
		t.Fatalf("version %q", v)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"due across National Day 2024 (09-29 works, 10-01..07 off)",
			[]string{"due", "--accepted", "2024-09-27T10:00:00+08:00", "--days", "5"},
			`{"due":"2024-10-10T23:59:59+08:00","provisional":false,"calendar":"` + v + `"}`},
		{"due from the same instant in UTC",
			[]string{"due", "--accepted", "2024-09-27T02:00:00Z", "--days", "5"},
			`{"due":"2024-10-10T23:59:59+08:00","provisional":false,"calendar":"` + v + `"}`},
		{"due from an instant whose UTC date is the day before (Sunday 17:00Z = Monday 01:00 local)",
			[]string{"due", "--accepted", "2024-09-29T17:00:00Z", "--days", "1"},
			`{"due":"2024-10-08T23:59:59+08:00","provisional":false,"calendar":"` + v + `"}`},
		{"instant limit on a holiday: next working day",
			[]string{"due", "--accepted=2024-10-03", "--days=0"},
			`{"due":"2024-10-08T23:59:59+08:00","provisional":false,"calendar":"` + v + `"}`},
		{"suspension spanning the holiday adds WD(10-08)-WD(09-30) = 1",
			[]string{"due", "--accepted", "2024-09-27T10:00:00+08:00", "--days", "5", "--suspend", "2024-09-30:2024-10-08"},
			`{"due":"2024-10-11T23:59:59+08:00","provisional":false,"calendar":"` + v + `"}`},
		{"two suspensions, the second still open: clock stopped",
			[]string{"due", "--accepted", "2024-09-27T10:00:00+08:00", "--days", "5", "--suspend", "2024-09-30:2024-10-08", "--suspend", "2024-10-09:"},
			`{"due":null,"stopped":true,"provisional":false,"calendar":"` + v + `"}`},
		{"into 2027 (no data): weekday rule, provisional",
			[]string{"due", "--accepted", "2026-12-24T10:00:00+08:00", "--days", "10"},
			`{"due":"2027-01-07T23:59:59+08:00","provisional":true,"calendar":"` + v + `"}`},
		{"another time zone",
			[]string{"due", "--accepted", "2024-09-27T10:00:00+08:00", "--days", "5", "--timezone", "UTC"},
			`{"due":"2024-10-10T23:59:59Z","provisional":false,"calendar":"`},
		{"workdays after from up to and including to",
			[]string{"workdays", "--from", "2024-09-27", "--to", "2024-10-14"},
			`{"workdays":8,"provisional":false,"calendar":"` + v + `"}`},
		{"workdays of an empty span",
			[]string{"workdays", "--from", "2024-10-01", "--to", "2024-10-01"},
			`{"workdays":0,"provisional":false,"calendar":"` + v + `"}`},
		{"workdays into 2027 are provisional",
			[]string{"workdays", "--from", "2026-12-31", "--to", "2027-01-04"},
			`{"workdays":2,"provisional":true,"calendar":"` + v + `"}`},
		{"is-workday on an adjusted working Saturday",
			[]string{"is-workday", "2024-10-12"},
			`{"date":"2024-10-12","workday":true,"provisional":false,"calendar":"` + v + `"}`},
		{"is-workday on a holiday, flags after the date",
			[]string{"is-workday", "2024-10-01", "--timezone", "Asia/Shanghai"},
			`{"date":"2024-10-01","workday":false,"provisional":false,"calendar":"` + v + `"}`},
		{"is-workday in 2027",
			[]string{"is-workday", "2027-01-01"},
			`{"date":"2027-01-01","workday":true,"provisional":true,"calendar":"` + v + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runCalendar(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(out, "\n") != 1 || !json.Valid([]byte(out)) {
				t.Fatalf("stdout %q: want one JSON object on one line", out)
			}
			if got := strings.TrimSpace(out); !strings.HasPrefix(got, tc.want) || (strings.HasSuffix(tc.want, "}") && got != tc.want) {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestCalendarOverrideFileShiftsTheDeadlineAndVersion(t *testing.T) {
	t.Setenv("EFFIDX_TIMEZONE", "")
	dir := t.TempDir()
	file := filepath.Join(dir, "hall.yaml")
	if err := os.WriteFile(file, []byte("name: hall\nclosed: [2024-10-09]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCalendar(t, "due", "--accepted", "2024-09-27T10:00:00+08:00", "--days", "5", "--calendar-override", file)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Due      string `json:"due"`
		Calendar string `json:"calendar"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Due != "2024-10-11T23:59:59+08:00" || got.Calendar == calendarVersion(t) || len(got.Calendar) != 12 {
		t.Errorf("with a closure on 10-09: %s, want due 2024-10-11 and a new version", out)
	}
}

func TestCalendarBadArgumentsAreUsageErrors(t *testing.T) {
	t.Setenv("EFFIDX_TIMEZONE", "")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: hall\nclosed: [2024-10-09]\nopend: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", nil, "want a subcommand"},
		{"unknown subcommand", []string{"when"}, `unknown subcommand "when"`},
		{"missing --accepted", []string{"due", "--days", "5"}, "--accepted is required"},
		{"missing --days", []string{"due", "--accepted", "2024-09-27T10:00:00+08:00"}, "--days is required"},
		{"negative days", []string{"due", "--accepted", "2024-09-27T10:00:00+08:00", "--days", "-1"}, `--days "-1": want a whole number`},
		{"days not a number", []string{"due", "--accepted", "2024-09-27T10:00:00+08:00", "--days", "five"}, `--days "five"`},
		{"unparsable instant", []string{"due", "--accepted", "2024-09-27 10:00", "--days", "5"}, `--accepted: "2024-09-27 10:00": want an RFC 3339 instant`},
		{"instant without offset", []string{"due", "--accepted", "2024-09-27T10:00:00", "--days", "5"}, "--accepted"},
		{"suspension resumed before it started", []string{"due", "--accepted", "2024-09-27", "--days", "5", "--suspend", "2024-10-08:2024-09-30"}, "resumed 2024-09-30 before suspended 2024-10-08"},
		{"suspension without a colon", []string{"due", "--accepted", "2024-09-27", "--days", "5", "--suspend", "2024-10-08"}, "want FROM:TO dates"},
		{"suspension with a bad date", []string{"due", "--accepted", "2024-09-27", "--days", "5", "--suspend", "2024-10-08:2024-10-32"}, `date "2024-10-32"`},
		{"unknown time zone", []string{"due", "--accepted", "2024-09-27", "--days", "5", "--timezone", "Mars/Base"}, "--timezone"},
		{"missing override file", []string{"due", "--accepted", "2024-09-27", "--days", "5", "--calendar-override", filepath.Join(dir, "nope.yaml")}, "--calendar-override"},
		{"invalid override file", []string{"is-workday", "2024-10-09", "--calendar-override", bad}, `bad.yaml:3: override: unknown key "opend"`},
		{"stray argument", []string{"due", "--accepted", "2024-09-27", "--days", "5", "extra"}, `unexpected argument "extra"`},
		{"workdays missing --to", []string{"workdays", "--from", "2024-09-27"}, "--to is required"},
		{"workdays bad date", []string{"workdays", "--from", "2024-09-27", "--to", "14.10.2024"}, `--to: date "14.10.2024"`},
		{"workdays reversed", []string{"workdays", "--from", "2024-10-14", "--to", "2024-09-27"}, "--to 2024-09-27 is before --from 2024-10-14"},
		{"is-workday without a date", []string{"is-workday"}, "want exactly one DATE"},
		{"is-workday with two dates", []string{"is-workday", "2024-10-12", "2024-10-13"}, "want exactly one DATE"},
		{"is-workday bad date", []string{"is-workday", "2024-02-30"}, `date "2024-02-30"`},
		{"unknown flag", []string{"workdays", "--form", "2024-09-27"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runCalendar(t, tc.args...)
			var u usageError
			if !errors.As(err, &u) {
				t.Fatalf("error %v, want a usage error (exit status 2)", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to mention %q", err, tc.want)
			}
			if out != "" {
				t.Errorf("stdout %q on error, want nothing", out)
			}
		})
	}
	// Help is not an error.
	for _, args := range [][]string{{"-h"}, {"due", "-h"}} {
		if _, errOut, err := runCalendar(t, args...); err != nil || !strings.Contains(errOut, "usage: effidx calendar") {
			t.Errorf("calendar %v: %v, stderr %q", args, err, errOut)
		}
	}
}

func TestCalendarIsListedInUsage(t *testing.T) {
	var errOut bytes.Buffer
	_ = Run(t.Context(), nil, nil, &bytes.Buffer{}, &errOut)
	if !strings.Contains(errOut.String(), "calendar  working-day rules") {
		t.Errorf("usage lacks the calendar command:\n%s", errOut.String())
	}
}
