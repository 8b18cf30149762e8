package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fact is a suspension as the source system reports it: it becomes known
// at `known` (events can arrive late; `at` is when it happened).
type fact struct {
	known time.Time
	susp  Suspension
}

// walk steps a clock from `from` to `to` and records the light sequence
// with consecutive repeats collapsed, as "green@10-14 yellow@10-21 ...".
func walk(t *testing.T, c *Calendar, r LightRule, accepted time.Time, promised, legal int, facts []fact, from, to time.Time, step time.Duration) (string, []Status) {
	t.Helper()
	var seq []string
	var all []Status
	last := Light("none")
	lastLegal := false
	for now := from; !now.After(to); now = now.Add(step) {
		var known []Suspension
		for i, f := range facts {
			if !f.known.After(now) {
				s := f.susp
				// A resumption reported later than it happened: until it
				// is known, the suspension is still open.
				if i+1 < len(facts) && facts[i+1].susp.From.Equal(s.From) && facts[i+1].known.After(now) {
					s.To = time.Time{}
				}
				known = append(known, s)
			}
		}
		known = dedupe(known)
		st := c.CaseLight(r, now, accepted, promised, legal, known)
		all = append(all, st)
		if st.Light != last {
			seq = append(seq, fmt.Sprintf("%s@%s", st.Light, now.In(cst).Format("01-02")))
			last = st.Light
		}
		if st.LegalOverdue && !lastLegal {
			seq = append(seq, "legal_overdue@"+now.In(cst).Format("01-02"))
		}
		lastLegal = st.LegalOverdue
	}
	return strings.Join(seq, " "), all
}

// dedupe keeps the latest report of each suspension (same From).
func dedupe(s []Suspension) []Suspension {
	var out []Suspension
	for _, x := range s {
		replaced := false
		for i := range out {
			if out[i].From.Equal(x.From) {
				out[i], replaced = x, true
			}
		}
		if !replaced {
			out = append(out, x)
		}
	}
	return out
}

func TestCaseLightTransitionsOverSimulatedTime(t *testing.T) {
	c := defaultCal(t)
	r := DefaultLightRules().Cases
	accepted := at(t, "2024-10-14T09:00:00+08:00") // Monday
	noon := func(s string) time.Time { return at(t, s+"T12:00:00+08:00") }
	for _, tc := range []struct {
		name             string
		promised, legal  int
		facts            []fact
		from, to         string
		want             string
		stoppedOn        []string // days on which the clock is stopped
		notStoppedOnLast bool
	}{
		{
			name: "5 days promised, 10 legal: green 4 days, yellow on the 5th (also the last), red, legal overdue after 10",
			// due 10-21 (15,16,17,18,21), legal due 10-28
			promised: 5, legal: 10, from: "2024-10-14", to: "2024-10-31",
			want: "green@10-14 yellow@10-21 red@10-22 legal_overdue@10-29",
		},
		{
			name:     "10 days: yellow once 9 of 10 are used (above 80%), across a weekend",
			promised: 10, legal: NoLimit, from: "2024-10-14", to: "2024-10-31",
			// 15,16,17,18,21,22,23,24 (8 = 80%: green), 25 (9: yellow), 28 (10), red 10-29
			want: "green@10-14 yellow@10-25 red@10-29",
		},
		{
			name:     "no promise: the legal limit drives the light",
			promised: NoLimit, legal: 3, from: "2024-10-14", to: "2024-10-20",
			want: "green@10-14 yellow@10-17 red@10-18 legal_overdue@10-18",
		},
		{
			name:     "suspended in time: the clock stops where red would have come",
			promised: 5, legal: NoLimit, from: "2024-10-14", to: "2024-10-31",
			// suspended 10-18 (used 4: green) .. resumed 10-25: +5 days, due 10-28
			facts: []fact{
				{noon("2024-10-18"), Suspension{From: at(t, "2024-10-18T10:00:00+08:00")}},
				{noon("2024-10-25"), Suspension{From: at(t, "2024-10-18T10:00:00+08:00"), To: at(t, "2024-10-25T09:00:00+08:00")}},
			},
			want:      "green@10-14 yellow@10-28 red@10-29",
			stoppedOn: []string{"10-18", "10-19", "10-21", "10-22", "10-24"},
		},
		{
			name:     "a late-reported suspension turns a red case back to yellow while the clock is stopped, red again after",
			promised: 5, legal: NoLimit, from: "2024-10-14", to: "2024-10-31",
			// Red on 10-22. On 10-23 the system reports a suspension since
			// 10-21 (the last working day: frozen yellow). Resumed 10-25:
			// +4 days (22..25), due 10-25, red from 10-26.
			facts: []fact{
				{noon("2024-10-23").Add(-time.Hour), Suspension{From: at(t, "2024-10-21T16:00:00+08:00")}},
				{noon("2024-10-25"), Suspension{From: at(t, "2024-10-21T16:00:00+08:00"), To: at(t, "2024-10-25T09:00:00+08:00")}},
			},
			want:      "green@10-14 yellow@10-21 red@10-22 yellow@10-23 red@10-26",
			stoppedOn: []string{"10-23", "10-24"},
		},
		{
			name:     "a late-reported suspension from the 3rd day turns it back to green",
			promised: 5, legal: NoLimit, from: "2024-10-14", to: "2024-10-31",
			// since 10-16 (used 2: green); resumed 10-28 (+8: 17,18,21..25,28), due 10-31
			facts: []fact{
				{noon("2024-10-24").Add(-time.Hour), Suspension{From: at(t, "2024-10-16T16:00:00+08:00")}},
				{noon("2024-10-28"), Suspension{From: at(t, "2024-10-16T16:00:00+08:00"), To: at(t, "2024-10-28T09:00:00+08:00")}},
			},
			want: "green@10-14 yellow@10-21 red@10-22 green@10-24 yellow@10-31",
		},
		{
			name:     "suspended when already overdue stays red",
			promised: 5, legal: NoLimit, from: "2024-10-14", to: "2024-10-31",
			facts:     []fact{{noon("2024-10-23"), Suspension{From: at(t, "2024-10-23T10:00:00+08:00")}}},
			want:      "green@10-14 yellow@10-21 red@10-22",
			stoppedOn: []string{"10-23", "10-31"},
		},
		{
			name:     "instant case accepted on a Friday evening: yellow that day, red on Saturday",
			promised: 0, legal: NoLimit, from: "2024-10-18", to: "2024-10-21",
			want: "yellow@10-18 red@10-19",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc := accepted
			if tc.promised == 0 {
				acc = at(t, "2024-10-18T08:00:00+08:00")
			}
			got, all := walk(t, c, r, acc, tc.promised, tc.legal, tc.facts, noon(tc.from), noon(tc.to), 24*time.Hour)
			if got != tc.want {
				t.Errorf("sequence\n got %s\nwant %s", got, tc.want)
			}
			stopped := map[string]bool{}
			for i, st := range all {
				d := noon(tc.from).Add(time.Duration(i) * 24 * time.Hour).Format("01-02")
				if st.Stopped {
					stopped[d] = true
					if !st.Due.Stopped || !st.Due.Due.IsZero() {
						t.Errorf("%s: stopped but due %+v", d, st.Due)
					}
				}
			}
			for _, d := range tc.stoppedOn {
				if !stopped[d] {
					t.Errorf("clock not stopped on %s", d)
				}
			}
		})
	}
}

// YellowAt and RedAt agree with the light at every hour of a case's life.
func TestLightTurnInstantsMatchTheLight(t *testing.T) {
	c := defaultCal(t)
	for _, r := range []LightRule{{0.8, true}, {0.8, false}, {1, false}, {0.5, true}, {0.01, false}} {
		for _, tc := range []struct {
			accepted string
			n        int
			susp     []Suspension
		}{
			{"2024-09-27T10:00:00+08:00", 5, nil},
			{"2024-09-27T10:00:00+08:00", 10, []Suspension{{at(t, "2024-09-30T10:00:00+08:00"), at(t, "2024-10-09T10:00:00+08:00")}}},
			{"2024-10-05T10:00:00+08:00", 0, nil},
			{"2024-10-08T10:00:00+08:00", 0, nil},
			{"2024-10-08T10:00:00+08:00", 1, nil},
			{"2026-02-12T10:00:00+08:00", 3, nil},
		} {
			acc := at(t, tc.accepted)
			final := c.CaseLight(r, acc.Add(60*24*time.Hour), acc, tc.n, NoLimit, tc.susp)
			if final.YellowAt.IsZero() || final.RedAt.IsZero() || final.YellowAt.After(final.RedAt) {
				t.Fatalf("%+v %s: YellowAt %s RedAt %s", r, tc.accepted, final.YellowAt, final.RedAt)
			}
			for now := acc; now.Before(acc.Add(40 * 24 * time.Hour)); now = now.Add(time.Hour) {
				st := c.CaseLight(r, now, acc, tc.n, NoLimit, tc.susp)
				if st.Stopped {
					continue
				}
				want := Green
				switch {
				case !now.Before(final.RedAt):
					want = Red
				case !now.Before(final.YellowAt):
					want = Yellow
				}
				if st.Light != want {
					t.Fatalf("rule %+v, accepted %s, %d days, now %s: %s, want %s (yellow at %s, red at %s)",
						r, tc.accepted, tc.n, now.In(cst), st.Light, want, final.YellowAt, final.RedAt)
				}
			}
			if !final.RedAt.Equal(final.Due.Due.Add(time.Second)) {
				t.Errorf("RedAt %s, due %s", final.RedAt, final.Due.Due)
			}
		}
	}
}

func TestCaseLightValues(t *testing.T) {
	c := defaultCal(t)
	r := DefaultLightRules().Cases
	acc := at(t, "2024-09-27T10:00:00+08:00")
	st := c.CaseLight(r, at(t, "2024-10-08T12:00:00+08:00"), acc, 5, 20, nil)
	// used: 09-29, 09-30, 10-08 = 3 of 5
	if st.Light != Green || st.Used != 3 || st.Left != 2 || st.Limit != 5 || st.LegalOverdue || st.Stopped || st.Provisional {
		t.Errorf("status %s", st)
	}
	if got := st.Due.Due.Format(time.RFC3339); got != "2024-10-10T23:59:59+08:00" {
		t.Errorf("due %s", got)
	}
	if st.LegalDue.Date.String() != "2024-10-30" || st.LegalDue.NoLimit {
		t.Errorf("legal due %+v", st.LegalDue)
	}
	if st.YellowAt.Format(time.RFC3339) != "2024-10-10T00:00:00+08:00" || st.RedAt.Format(time.RFC3339) != "2024-10-11T00:00:00+08:00" {
		t.Errorf("yellow at %s, red at %s", st.YellowAt, st.RedAt)
	}
	late := c.CaseLight(r, at(t, "2024-10-15T12:00:00+08:00"), acc, 5, 20, nil)
	if late.Light != Red || late.Left != -4 || late.Used != 9 { // 10-12 is an adjusted working Saturday
		t.Errorf("late %s", late)
	}
	none := c.CaseLight(r, at(t, "2024-10-15T12:00:00+08:00"), acc, NoLimit, NoLimit, nil)
	if none.Light != None || !none.Due.NoLimit || !none.LegalDue.NoLimit || none.Limit != NoLimit {
		t.Errorf("no limit: %+v", none)
	}
	step := c.StepLight(DefaultLightRules().Steps, at(t, "2024-09-29T12:00:00+08:00"), at(t, "2024-09-27T16:00:00+08:00"), 1, nil)
	if step.Light != Yellow || !step.LegalDue.NoLimit || step.Due.Date.String() != "2024-09-29" {
		t.Errorf("1-day step on its due day (adjusted Sunday): %s %+v", step, step.Due)
	}
	// An instant case turns yellow when accepted, not at midnight before.
	inst := at(t, "2024-10-18T10:00:00+08:00")
	if st := c.CaseLight(r, inst, inst, 0, NoLimit, nil); st.Light != Yellow || !st.YellowAt.Equal(inst) || st.RedAt.Format(time.RFC3339) != "2024-10-19T00:00:00+08:00" {
		t.Errorf("instant case: %s yellow at %s red at %s", st, st.YellowAt, st.RedAt)
	}
	// Provisional: a partial calendar and a deadline in 2026.
	partial := newCal(t, CalendarOptions{Years: yearsUpTo(t, 2025)})
	p := partial.CaseLight(r, at(t, "2025-12-29T12:00:00+08:00"), at(t, "2025-12-24T10:00:00+08:00"), 10, 10, nil)
	if !p.Provisional || !p.Due.Provisional || !p.LegalDue.Provisional || p.Due.Date.String() != "2026-01-07" {
		t.Errorf("partial: %s %+v", p, p.Due)
	}
}

func TestTaskLightAgainstCalendarDueDate(t *testing.T) {
	c := defaultCal(t)
	r := DefaultLightRules().Tasks
	start := at(t, "2024-09-01T09:00:00+08:00")
	due := day(t, "2024-09-11") // 10 calendar days: yellow once 9 have elapsed (above 80%)
	var seq []string
	last := Light("")
	for now := at(t, "2024-09-01T12:00:00+08:00"); now.Before(at(t, "2024-09-14T00:00:00+08:00")); now = now.Add(6 * time.Hour) {
		st := c.TaskLight(r, now, start, due)
		if st.Light != last {
			seq = append(seq, fmt.Sprintf("%s@%s", st.Light, now.In(cst).Format("01-02T15")))
			last = st.Light
		}
		want := Green
		switch {
		case !now.Before(st.RedAt):
			want = Red
		case !now.Before(st.YellowAt):
			want = Yellow
		}
		if st.Light != want {
			t.Fatalf("%s: %s, want %s from the turn instants", now, st.Light, want)
		}
	}
	if got := strings.Join(seq, " "); got != "green@09-01T12 yellow@09-10T00 red@09-12T00" {
		t.Errorf("task lights %s", got)
	}
	st := c.TaskLight(r, at(t, "2024-09-11T23:59:59+08:00"), start, due)
	if st.Light != Yellow || st.DaysLeft != 0 || st.Due.Format(time.RFC3339) != "2024-09-11T23:59:59+08:00" {
		t.Errorf("at the last second: %+v", st)
	}
	if st := c.TaskLight(r, at(t, "2024-09-11T16:00:00Z"), start, due); st.Light != Red || st.DaysLeft != -1 {
		t.Errorf("one second later (in UTC): %+v", st)
	}
	// Due on the start date: yellow all that day (the due-date rule).
	if st := c.TaskLight(r, at(t, "2024-09-01T10:00:00+08:00"), start, day(t, "2024-09-01")); st.Light != Yellow {
		t.Errorf("due today: %+v", st)
	}
	// Without the due-date rule and with a short span the share decides.
	if st := c.TaskLight(TaskLightRule{0.8, false}, at(t, "2024-09-02T10:00:00+08:00"), start, day(t, "2024-09-02")); st.Light != Yellow {
		t.Errorf("1-day span, day 1: %+v", st)
	}
}
