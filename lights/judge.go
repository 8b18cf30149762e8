package lights

import (
	"time"

	"effidx/rules"
)

// RulesJudge judges items by the working-day calendar and the light
// thresholds of the rules package.
type RulesJudge struct {
	Calendar func() (*rules.Calendar, error) // the current calendar (rules.Loader.Current)
	Rules    rules.LightRules
	cal      *rules.Calendar
}

// Begin fixes the calendar for a run: a calendar reloaded with next year's
// data recomputes every provisional deadline at the next run.
func (r *RulesJudge) Begin() (string, error) {
	cal, err := r.Calendar()
	if cal == nil {
		return "", err
	}
	// With an error, cal is the last good calendar: keep judging with it.
	r.cal = cal
	return cal.Version() + "/" + r.Rules.Version, err
}

// Judge implements Judge. Tasks and milestones count calendar days against
// their due date (WorkdaysLeft is then in calendar days); everything else
// counts working days.
func (r *RulesJudge) Judge(it *Item, now time.Time) (Verdict, bool) {
	switch it.Kind {
	case "task", KindMilestone:
		if it.DueDate.IsZero() {
			return Verdict{}, false
		}
		y, m, d := it.DueDate.Date()
		st := r.cal.TaskLight(r.Rules.Tasks, now, it.Start, rules.NewDate(y, m, d))
		return Verdict{Light: string(st.Light), Due: st.Due, WorkdaysLeft: st.DaysLeft, YellowSince: st.YellowAt, RedSince: st.RedAt}, true
	}
	var susp []rules.Suspension
	if len(it.Suspensions) > 0 {
		susp = make([]rules.Suspension, len(it.Suspensions))
		for i, s := range it.Suspensions {
			susp[i] = rules.Suspension{From: s.From, To: s.To}
		}
	}
	var st rules.Status
	if it.Kind == KindStep {
		st = r.cal.StepLight(r.Rules.Steps, now, it.Start, it.Promised, susp)
	} else {
		st = r.cal.CaseLight(r.Rules.Cases, now, it.Start, it.Promised, it.Legal, susp)
	}
	if st.Light == rules.None {
		return Verdict{}, false
	}
	return Verdict{
		Light: string(st.Light), LegalOverdue: st.LegalOverdue, Due: st.Due.Due, LegalDue: st.LegalDue.Due,
		WorkdaysLeft: st.Left, YellowSince: st.YellowAt, RedSince: st.RedAt, Provisional: st.Provisional,
	}, true
}
