package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Rules files are checked like Prometheus' rulefmt tests: every
// testdata/<kind>/*.good.yaml parses, every *.bad.yaml fails with exactly
// the listed problems (all at once, with lines).
var badRulesFiles = map[string][]string{
	"lights/bad_values.bad.yaml": {
		`bad_values.bad.yaml:2: cases.yellow_above_share: want a number in (0, 1], e.g. 0.8; got "80%"`,
		`bad_values.bad.yaml:3: cases.yellow_on_last_working_day: want true or false, got "yes"`,
		`bad_values.bad.yaml:5: steps.yellow_above_share: 1.5 is not in (0, 1]`,
		`bad_values.bad.yaml:6: steps.yellow_on_last_working_day: want true or false, got "true"`,
		`bad_values.bad.yaml:8: tasks.yellow_above_share: 0 is not in (0, 1]`,
		`bad_values.bad.yaml:9: tasks.yellow_on_due_date: want true or false, got a list`,
	},
	"lights/duplicate.bad.yaml": {
		`duplicate.bad.yaml:4: cases: key "yellow_above_share" given twice (first at line 2)`,
	},
	"lights/empty.bad.yaml": {`empty.bad.yaml: empty file`},
	"lights/missing.bad.yaml": {
		`missing.bad.yaml:1: lights: missing key "tasks"`,
		`missing.bad.yaml:2: cases: missing key "yellow_on_last_working_day"`,
		`missing.bad.yaml:3: steps: missing key "yellow_above_share"`,
		`missing.bad.yaml:3: steps: missing key "yellow_on_last_working_day"`,
	},
	"lights/not_a_mapping.bad.yaml": {`not_a_mapping.bad.yaml:1: lights: want a mapping, got "just a string"`},
	"lights/syntax.bad.yaml":        {`syntax.bad.yaml:3: mapping values are not allowed in this context`},
	"lights/unknown_keys.bad.yaml": {
		`unknown_keys.bad.yaml:4: cases: unknown key "red_after_share" (known: yellow_above_share, yellow_on_last_working_day)`,
		`unknown_keys.bad.yaml:6: steps: unknown key "yelow_above_share" (known: yellow_above_share, yellow_on_last_working_day)`,
		`unknown_keys.bad.yaml:6: steps: missing key "yellow_above_share"`,
		`unknown_keys.bad.yaml:11: lights: unknown key "milestones" (known: cases, steps, tasks)`,
	},
	"lights/wrong_shapes.bad.yaml": {
		`wrong_shapes.bad.yaml:1: cases: want a mapping, got "0.8"`,
		`wrong_shapes.bad.yaml:3: steps: want a mapping, got a list`,
		`wrong_shapes.bad.yaml:4: tasks: want a mapping, got nothing`,
	},
	"reminders/bad_values.bad.yaml": {
		`bad_values.bad.yaml:2: quiet_hours.send_from: "9:00" is not a time of day (want HH:MM, e.g. "09:00")`,
		`bad_values.bad.yaml:3: quiet_hours.send_until: "18" is not a time of day (want HH:MM, e.g. "09:00")`,
		`bad_values.bad.yaml:4: quiet_hours.legal_overdue_anytime: want true or false, got "yes"`,
		`bad_values.bad.yaml:7: rule "cases": kinds: "cases" is not one of service, internal, scenario, ticket, task, step, milestone`,
		`bad_values.bad.yaml:7: rule "cases": kinds: "service" listed twice (first at line 7)`,
		`bad_values.bad.yaml:8: rule "cases": departments: the list is empty`,
		`bad_values.bad.yaml:10: rule "cases": step "Advance!": id "Advance!": use a-z, 0-9, _ and -, at most 32 characters`,
		`bad_values.bad.yaml:12: rule "cases": step "Advance!": share: want a number in (0, 1], e.g. 0.8; got "80%"`,
		`bad_values.bad.yaml:15: rule "cases": step "late": when: "later" is not one of used_share, last_working_day, due, overdue, legal_overdue`,
		`bad_values.bad.yaml:16: rule "cases": step "late": urge: want true or false, got "true"`,
		`bad_values.bad.yaml:19: rule "cases": step "again": repeat_every: 0h must be a positive whole number of minutes`,
		`bad_values.bad.yaml:23: rule "cases": step "minutes": repeat_every: 90s must be a positive whole number of minutes`,
		`bad_values.bad.yaml:26: rule "cases": escalation: to: "director" is not one of section_head, leader`,
		`bad_values.bad.yaml:29: rule "cases": escalation: after: "soon" is not a duration (want e.g. 4h or 90m)`,
	},
	"reminders/empty.bad.yaml": {`empty.bad.yaml: empty file`},
	"reminders/not_rules.bad.yaml": {
		`not_rules.bad.yaml:1: quiet_hours: want a mapping, got "at night"`,
		`not_rules.bad.yaml:2: rules: the list is empty`,
	},
	"reminders/shadowed.bad.yaml": {
		`shadowed.bad.yaml:12: rule "licences of D01" never applies: rule "all cases" (line 6) comes first and matches all its items (put narrower rules first)`,
		`shadowed.bad.yaml:20: rule "all cases": name given twice (first at line 6)`,
	},
	"reminders/structure.bad.yaml": {
		`structure.bad.yaml:2: quiet_hours: send_from must be before send_until (a window within one day)`,
		`structure.bad.yaml:5: quiet_hours: unknown key "weekends" (known: legal_overdue_anytime, send_from, send_until)`,
		`structure.bad.yaml:10: rule "cases": step "advance": when used_share needs share (e.g. share: 0.8)`,
		`structure.bad.yaml:13: rule "cases": step id "advance" given twice (first at line 10)`,
		`structure.bad.yaml:18: rule "cases": step "last": share is only for when: used_share`,
		`structure.bad.yaml:19: rule "cases": step "last": repeat_every is only for when: overdue or legal_overdue (states that last)`,
		`structure.bad.yaml:21: rule "cases": step: missing key "id"`,
		`structure.bad.yaml:26: rule "cases": escalation: section_head after 4h is not later than leader after 8h (each level comes after the one before)`,
		`structure.bad.yaml:26: rule "cases": escalation: section_head must come before leader`,
		`structure.bad.yaml:28: rule "cases": escalation: leader given twice (first at line 24)`,
		`structure.bad.yaml:30: rule "cases": unknown key "retries" (known: departments, escalation, kinds, matters, name, steps)`,
		`structure.bad.yaml:39: rule "notices only": escalation applies to urge steps, and no step has urge: true`,
	},
	"override/bad_dates.bad.yaml": {
		`bad_dates.bad.yaml:3: closed: "2024-10-32" is not a date (want YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD)`,
		`bad_dates.bad.yaml:4: closed: "2024/10/09" is not a date (want YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD)`,
		`bad_dates.bad.yaml:5: closed: range "2024-10-09..2024-10-01" ends before it starts`,
		`bad_dates.bad.yaml:6: closed: range "2024-01-01..2025-12-31" is longer than 366 days`,
		`bad_dates.bad.yaml:7: closed: want a date (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD), got a list`,
		`bad_dates.bad.yaml:8: closed: want a date (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD), got nothing`,
		`bad_dates.bad.yaml:9: open: want a list of dates (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD), got "2024-10-05"`,
	},
	"override/conflicts.bad.yaml": {
		`conflicts.bad.yaml:4: closed: 2024-10-09 listed twice (first at line 3)`,
		`conflicts.bad.yaml:7: open: 2024-10-10 is also closed (line 4)`,
	},
	"override/duplicate_key.bad.yaml": {`duplicate_key.bad.yaml:3: override: key "closed" given twice (first at line 2)`},
	"override/empty.bad.yaml":         {`empty.bad.yaml: empty file`},
	"override/missing_name.bad.yaml":  {`missing_name.bad.yaml:1: override: missing key "name"`},
	"override/no_name.bad.yaml":       {`no_name.bad.yaml:3: name: want a non-empty text, got ""`},
	"override/not_a_mapping.bad.yaml": {`not_a_mapping.bad.yaml:1: override: want a mapping, got a list`},
	"override/syntax.bad.yaml":        {`syntax.bad.yaml:3: did not find expected key`},
	"override/two_docs.bad.yaml":      {`two_docs.bad.yaml:2: a second YAML document: want exactly one`},
	"override/unknown_key.bad.yaml":   {`unknown_key.bad.yaml:4: override: unknown key "opened" (known: closed, name, open)`},
}

func parseRulesFile(kind, name string, b []byte) error {
	var err error
	switch kind {
	case "lights":
		_, err = ParseLightRules(name, b)
	case "reminders":
		_, err = ParseReminderRules(name, b)
	default:
		_, err = ParseOverride(name, b)
	}
	return err
}

func TestRulesFilesGoodParseBadFailWithLines(t *testing.T) {
	files, err := filepath.Glob("testdata/*/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatal("no testdata")
	}
	seenBad := 0
	for _, f := range files {
		rel, _ := filepath.Rel("testdata", f)
		kind := filepath.Dir(rel)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		err = parseRulesFile(kind, filepath.Base(f), b)
		switch {
		case strings.HasSuffix(f, ".good.yaml"):
			if err != nil {
				t.Errorf("%s: %v", rel, err)
			}
		case strings.HasSuffix(f, ".bad.yaml"):
			want, ok := badRulesFiles[rel]
			if !ok {
				t.Errorf("%s: no expected errors listed", rel)
				continue
			}
			seenBad++
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Errorf("%s: error %v is not a *FileError", rel, err)
				continue
			}
			got := strings.Split(err.Error(), "\n")
			if len(got) != len(want) {
				t.Errorf("%s: %d problems, want %d:\n%s", rel, len(got), len(want), err)
				continue
			}
			for i := range want {
				if !strings.HasSuffix(got[i], want[i]) {
					t.Errorf("%s: problem %d\n got %s\nwant %s", rel, i, got[i], want[i])
				}
			}
		default:
			t.Errorf("%s: name it *.good.yaml or *.bad.yaml", rel)
		}
	}
	if seenBad != len(badRulesFiles) {
		t.Errorf("%d bad files checked, %d listed", seenBad, len(badRulesFiles))
	}
}

func TestEmbeddedLightRules(t *testing.T) {
	r := DefaultLightRules()
	want := LightRule{YellowAboveShare: 0.8, YellowOnLastWorkingDay: true}
	if r.Cases != want || r.Steps != want || r.Tasks != (TaskLightRule{0.8, true}) {
		t.Errorf("embedded lights.yaml: %+v", r)
	}
	if len(r.Version) != 12 {
		t.Errorf("version %q", r.Version)
	}
	s, err := LoadLightRules("testdata/lights/strict.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Cases != (LightRule{1, false}) || s.Steps != (LightRule{0.5, true}) || s.Tasks != (TaskLightRule{0.75, false}) || s.Version == r.Version {
		t.Errorf("strict.good.yaml: %+v", s)
	}
}

func TestOverrideParsesDatesAndRanges(t *testing.T) {
	src, err := ReadSource("testdata/override/ranges.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ov, err := ParseOverride(src.Name, src.Data)
	if err != nil {
		t.Fatal(err)
	}
	if ov.Name != "typhoon" || len(ov.Closed) != 4 || ov.Closed[0].String() != "2024-09-16" || ov.Closed[2].String() != "2024-09-18" || ov.Closed[3].String() != "2031-07-01" || len(ov.Open) != 0 {
		t.Errorf("ranges.good.yaml: %v %v", ov, ov.Closed)
	}
	ex, err := ReadSource("calendar/override.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseOverride(ex.Name, ex.Data); err != nil {
		t.Errorf("the shipped example does not parse: %v", err)
	}
}

func TestOverrideShiftsDeadlinesAndVersion(t *testing.T) {
	read := func(name string) Source {
		s, err := ReadSource("testdata/override/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := defaultCal(t)
	closure := newCal(t, CalendarOptions{Overrides: []Source{read("closure.good.yaml")}})
	opening := newCal(t, CalendarOptions{Overrides: []Source{read("opening.good.yaml")}})
	both := newCal(t, CalendarOptions{Overrides: []Source{read("closure.good.yaml"), read("opening.good.yaml")}})
	accepted := at(t, "2024-09-27T10:00:00+08:00")
	for _, tc := range []struct {
		name string
		c    *Calendar
		want string
	}{
		{"national only", base, "2024-10-10"},
		{"closed Wednesday 10-09: one day later", closure, "2024-10-11"},
		{"open on holiday Saturday 10-05: one day earlier", opening, "2024-10-09"},
		{"both cancel out", both, "2024-10-10"},
	} {
		if d := tc.c.Due(accepted, 5, nil); d.Date.String() != tc.want || d.Calendar != tc.c.Version() {
			t.Errorf("%s: due %s (calendar %s), want %s", tc.name, d.Date, d.Calendar, tc.want)
		}
	}
	if w, _ := closure.IsWorkday(day(t, "2024-10-09")); w {
		t.Error("closed day is a workday")
	}
	if w, _ := opening.IsWorkday(day(t, "2024-10-05")); !w {
		t.Error("opened day is not a workday")
	}
	vs := map[string]string{}
	for name, c := range map[string]*Calendar{"base": base, "closure": closure, "opening": opening, "both": both} {
		if prev, dup := vs[c.Version()]; dup {
			t.Errorf("%s and %s share version %s", name, prev, c.Version())
		}
		vs[c.Version()] = name
	}
	// An override in a year without national data applies but leaves it
	// provisional (ranges.good.yaml closes 2031-07-01, a Tuesday).
	r := newCal(t, CalendarOptions{Overrides: []Source{read("ranges.good.yaml")}})
	if w, p := r.IsWorkday(day(t, "2031-07-01")); w || !p {
		t.Errorf("2031-07-01 with override: workday %v provisional %v, want false, true", w, p)
	}
	if r.CoveredUntil() != 2026 {
		t.Errorf("override changed coverage: %d", r.CoveredUntil())
	}
	if d := r.Due(at(t, "2031-06-30T10:00:00+08:00"), 1, nil); d.Date.String() != "2031-07-02" || !d.Provisional {
		t.Errorf("due over the 2031 closure: %+v", d)
	}
	// Bad overrides fail the calendar with their problems.
	_, err := NewCalendar(CalendarOptions{Overrides: []Source{read("conflicts.bad.yaml"), read("unknown_key.bad.yaml")}})
	if err == nil || !strings.Contains(err.Error(), "conflicts.bad.yaml:7: open: 2024-10-10 is also closed (line 4)") || !strings.Contains(err.Error(), `unknown_key.bad.yaml:4: override: unknown key "opened"`) {
		t.Errorf("bad overrides: %v", err)
	}
}
