package rules

import (
	"testing"
	"time"
)

func TestEmbeddedReminderRules(t *testing.T) {
	r := DefaultReminderRules()
	if r.Quiet != (QuietHours{From: 9 * 3600, Until: 18 * 3600, LegalOverdueAnytime: true}) || len(r.Version) != 12 {
		t.Fatalf("quiet hours %+v version %q", r.Quiet, r.Version)
	}
	for _, tc := range []struct {
		kind, rule, steps string
		urges             []string
		escalation        []Escalation
	}{
		{"service", "cases and steps", "advance, last_day, overdue, legal_overdue", []string{"overdue", "legal_overdue"},
			[]Escalation{{SectionHead, 4 * time.Hour}, {Leader, 9 * time.Hour}}},
		{"step", "cases and steps", "advance, last_day, overdue, legal_overdue", []string{"overdue", "legal_overdue"},
			[]Escalation{{SectionHead, 4 * time.Hour}, {Leader, 9 * time.Hour}}},
		{"milestone", "reform tasks", "advance, due_date, overdue", []string{"overdue"},
			[]Escalation{{SectionHead, 9 * time.Hour}, {Leader, 27 * time.Hour}}},
	} {
		rule := r.Match(tc.kind, "D01", "M1")
		if rule == nil || rule.Name != tc.rule || rule.StepList() != tc.steps {
			t.Errorf("%s: rule %+v, want %q with steps %s", tc.kind, rule, tc.rule, tc.steps)
			continue
		}
		var urges []string
		for _, s := range rule.Steps {
			if s.Urge {
				urges = append(urges, s.ID)
			}
		}
		if len(urges) != len(tc.urges) || urges[0] != tc.urges[0] || len(rule.Escalation) != len(tc.escalation) ||
			rule.Escalation[0] != tc.escalation[0] || rule.Escalation[1] != tc.escalation[1] {
			t.Errorf("%s: urges %v escalation %v, want %v %v", tc.kind, urges, rule.Escalation, tc.urges, tc.escalation)
		}
	}
}

func TestReminderRulesFirstMatchWins(t *testing.T) {
	r, err := LoadReminderRules("testdata/reminders/narrow_first.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r.Quiet != (QuietHours{From: 8*3600 + 1800, Until: 17*3600 + 1800}) {
		t.Errorf("quiet hours %+v", r.Quiet)
	}
	for _, tc := range []struct{ kind, dept, matter, want string }{
		{"service", "D01", "M-LICENCE", "business licences of D01"},
		{"service", "D02", "M-LICENCE", "everything else"},
		{"service", "D01", "M-OTHER", "everything else"},
		{"step", "D01", "M-LICENCE", "everything else"},
	} {
		if got := r.Match(tc.kind, tc.dept, tc.matter); got == nil || got.Name != tc.want {
			t.Errorf("%s %s %s: rule %v, want %q", tc.kind, tc.dept, tc.matter, got, tc.want)
		}
	}
	first := r.Rules[0]
	if first.Steps[0] != (ReminderStep{ID: "early", When: UsedShare, Share: 0.5, Line: 13}) ||
		first.Escalation[1] != (Escalation{Leader, 4*time.Hour + 30*time.Minute}) || r.Rules[1].Steps[0].RepeatEvery != 90*time.Minute {
		t.Errorf("rules %+v", r.Rules)
	}
}

// National Day 2024: Friday 09-27 and the adjusted working Sunday 09-29
// and Monday 09-30 are working days, 10-01..10-07 are not.
func TestQuietHoursHoldUntilTheNextWorkingMorning(t *testing.T) {
	c := defaultCal(t)
	q := DefaultReminderRules().Quiet
	for _, tc := range []struct {
		at, next string
	}{
		{"2024-09-27T22:00:00+08:00", "2024-09-29T09:00:00+08:00"}, // Friday night: the working Sunday, not Monday
		{"2024-09-28T10:00:00+08:00", "2024-09-29T09:00:00+08:00"}, // Saturday
		{"2024-09-29T08:59:59+08:00", "2024-09-29T09:00:00+08:00"},
		{"2024-09-29T09:00:00+08:00", "2024-09-29T09:00:00+08:00"}, // open: itself
		{"2024-09-30T17:59:59+08:00", "2024-09-30T17:59:59+08:00"},
		{"2024-09-30T18:00:00+08:00", "2024-10-08T09:00:00+08:00"}, // the whole holiday is quiet
		{"2024-10-03T12:00:00+08:00", "2024-10-08T09:00:00+08:00"},
		{"2024-10-08T00:00:00+08:00", "2024-10-08T09:00:00+08:00"},
	} {
		when := at(t, tc.at)
		if got := q.Next(c, when); !got.Equal(at(t, tc.next)) {
			t.Errorf("Next(%s) = %s, want %s", tc.at, got, tc.next)
		}
		if open := q.Open(c, when); open != (tc.at == tc.next) {
			t.Errorf("Open(%s) = %v", tc.at, open)
		}
	}
}

func TestWorkingTimeSkipsNightsWeekendsAndHolidays(t *testing.T) {
	c := defaultCal(t)
	q := DefaultReminderRules().Quiet // 09:00-18:00: 9 working hours a day
	for _, tc := range []struct {
		from string
		add  time.Duration
		want string
	}{
		{"2024-09-27T16:00:00+08:00", 4 * time.Hour, "2024-09-29T11:00:00+08:00"},
		{"2024-09-27T22:00:00+08:00", 4 * time.Hour, "2024-09-29T13:00:00+08:00"},
		{"2024-09-30T15:00:00+08:00", 9 * time.Hour, "2024-10-08T15:00:00+08:00"},
		{"2024-09-30T14:00:00+08:00", 4 * time.Hour, "2024-10-08T09:00:00+08:00"}, // exactly the window's end: the next morning
		{"2024-09-29T09:00:00+08:00", 27 * time.Hour, "2024-10-09T09:00:00+08:00"},
	} {
		from := at(t, tc.from)
		got := q.AddWorking(c, from, tc.add)
		if !got.Equal(at(t, tc.want)) {
			t.Errorf("AddWorking(%s, %s) = %s, want %s", tc.from, tc.add, got, tc.want)
		}
		if w := q.Working(c, from, got); w != tc.add {
			t.Errorf("Working(%s, %s) = %s, want %s", tc.from, got, w, tc.add)
		}
	}
}

// ShareReached is the instant the lights turn yellow under a rule without
// the last-working-day clause: the two must never disagree.
func TestShareReachedAgreesWithTheYellowLight(t *testing.T) {
	c := defaultCal(t)
	rule := LightRule{YellowAboveShare: 0.8}
	susp := []Suspension{{From: at(t, "2024-09-25T10:00:00+08:00"), To: at(t, "2024-10-09T10:00:00+08:00")}}
	for _, start := range []string{"2024-09-23T10:00:00+08:00", "2024-09-28T15:00:00+08:00", "2024-10-01T09:00:00+08:00"} {
		for n := 0; n <= 12; n++ {
			for _, s := range [][]Suspension{nil, susp} {
				st := at(t, start)
				now := at(t, "2024-12-31T12:00:00+08:00")
				want := c.CaseLight(rule, now, st, n, NoLimit, s).YellowAt
				got, ok := c.ShareReached(now, st, n, 0.8, s)
				if !ok || !got.Equal(want) {
					t.Errorf("start %s n=%d susp=%d: ShareReached %s %v, yellow at %s", start, n, len(s), got, ok, want)
				}
			}
		}
	}
	// 0.8 of 5 days from Monday 09-23 is the 5th working day: Sunday 09-29.
	got, _ := c.ShareReached(at(t, "2024-09-23T12:00:00+08:00"), at(t, "2024-09-23T10:00:00+08:00"), 5, 0.8, nil)
	if !got.Equal(at(t, "2024-09-29T00:00:00+08:00")) {
		t.Errorf("5 days from 09-23: %s", got)
	}
	// An open suspension stops the clock before the share is reached.
	if _, ok := c.ShareReached(at(t, "2024-09-26T12:00:00+08:00"), at(t, "2024-09-23T10:00:00+08:00"), 5, 0.8,
		[]Suspension{{From: at(t, "2024-09-24T10:00:00+08:00")}}); ok {
		t.Error("reached during an open suspension")
	}
	tr := TaskLightRule{YellowAboveShare: 0.8}
	for _, due := range []string{"2024-10-01", "2024-10-31", "2024-09-23"} {
		st := at(t, "2024-09-23T10:00:00+08:00")
		want := c.TaskLight(tr, st, st, day(t, due)).YellowAt
		if got := c.TaskShareReached(st, day(t, due), 0.8); !got.Equal(want) {
			t.Errorf("task due %s: %s, yellow at %s", due, got, want)
		}
	}
}
