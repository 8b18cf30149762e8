package remind

import (
	"time"

	"effidx/lights"
	"effidx/rules"
	"effidx/warehouse"
)

// topic is an item's active rule step in a run: the latest step of its
// rule that has fallen due.
type topic struct {
	id       string
	key      topicKey
	st       *topicState
	next     time.Time // when its next repeat or escalation falls due
	ref      ItemRef
	rule     *rules.ReminderRule
	step     *rules.ReminderStep
	at       time.Time // when the step fell due
	light    string
	legal    bool // past the statutory due instant
	due      time.Time
	legalDue time.Time
	left     int
	// anytime: past the statutory deadline under legal_overdue_anytime: no
	// quiet hours, and repeats and escalations count natural hours.
	anytime bool
}

// delivery is one message of a run: (topic, repeat, level, channel).
type delivery struct {
	id     string
	t      *topic
	repeat int
	level  int
	ch     Channel // nil: nobody to send to (a skipped record says why)
	addr   string
	to     *Person
	note   string
	dueAt  time.Time

	attempt   int       // the attempt a claim bids for
	claimedAt time.Time // local clock when the claim was asked for
}

// channelName is the log's and the metrics' name of d's channel.
func (d *delivery) channelName() string {
	if d.ch == nil {
		return "none"
	}
	return d.ch.Name()
}

// reminderID is the reminder d belongs to (urges only): a repeat is a
// reminder of its own, an escalation belongs to the step's first one.
func (d *delivery) reminderID() string {
	if !d.t.step.Urge {
		return ""
	}
	if d.level > 0 {
		return ReminderID(d.t.step.ID, 0, d.t.ref.Item)
	}
	return ReminderID(d.t.step.ID, d.repeat, d.t.ref.Item)
}

// record is a log row about d.
func (d *delivery) record(kind string, now time.Time, replica string) warehouse.ReminderRecord {
	r := warehouse.ReminderRecord{
		ID: d.id, Topic: d.t.id, Record: kind, Attempt: d.attempt,
		Kind: d.t.ref.Kind, CaseID: d.t.ref.CaseID, Item: d.t.ref.Item, Department: d.t.ref.Department, Matter: d.t.ref.Matter,
		Step: d.t.step.ID, Repeat: d.repeat, Level: d.level, ReminderID: d.reminderID(), Channel: d.channelName(), Address: d.addr,
		Light: d.t.light, LegalOverdue: d.t.legal, Due: d.t.due, DueAt: d.dueAt, At: now, Replica: replica, Note: d.note,
	}
	if d.to != nil {
		r.Recipient, r.RecipientName = d.to.ID, d.to.Name
	}
	return r
}

// trigger is when step s falls due for item l; false when it never does
// under the current facts (no statutory limit, an open suspension).
func trigger(cal *rules.Calendar, l *lights.Lit, s *rules.ReminderStep, now time.Time) (time.Time, bool) {
	v := &l.Verdict
	switch s.When {
	case rules.UsedShare:
		if l.Kind == "task" || l.Kind == lights.KindMilestone {
			y, m, d := l.DueDate.Date()
			return cal.TaskShareReached(l.Start, rules.NewDate(y, m, d), s.Share), !l.DueDate.IsZero()
		}
		limit := l.Promised
		if limit < 0 {
			limit = l.Legal
		}
		if limit < 0 {
			return time.Time{}, false
		}
		var susp []rules.Suspension
		for _, x := range l.Suspensions {
			susp = append(susp, rules.Suspension{From: x.From, To: x.To})
		}
		return cal.ShareReached(now, l.Start, limit, s.Share, susp)
	case rules.LastWorkingDay:
		return cal.StartOfDay(cal.DateOf(v.Due)), true
	case rules.DueInstant:
		return v.Due, true
	case rules.Overdue:
		// Red from the second after the due instant (lights' RedSince is
		// the same instant, or the start when accepted after it).
		return v.Due.Add(time.Second), true
	case rules.LegalOverdue:
		if v.LegalDue.IsZero() {
			return time.Time{}, false
		}
		return v.LegalDue.Add(time.Second), true
	}
	return time.Time{}, false
}

// activeStep is the step of rule in force for l at now: of the steps that
// have fallen due, the latest (a tie goes to the later one in the file).
// An item first seen red thus gets the overdue warning, not the advance
// notices it missed. While the clock is stopped (an open suspension)
// nothing is due.
func activeStep(cal *rules.Calendar, l *lights.Lit, rule *rules.ReminderRule, now time.Time) (*rules.ReminderStep, time.Time) {
	if l.Due.IsZero() {
		return nil, time.Time{}
	}
	var best *rules.ReminderStep
	var bestAt time.Time
	bestIdx := -1
	consider := func(i int) {
		s := &rule.Steps[i]
		at, ok := trigger(cal, l, s, now)
		if !ok || at.After(now) {
			return
		}
		if best == nil || at.After(bestAt) || (at.Equal(bestAt) && i > bestIdx) {
			best, bestAt, bestIdx = s, at, i
		}
	}
	// The cheap triggers first: a working-day share below 1 is reached by
	// the start of the due date at the latest, so once a later step is in
	// force its (costlier) instant cannot win.
	for i := range rule.Steps {
		if rule.Steps[i].When != rules.UsedShare {
			consider(i)
		}
	}
	shareBound := time.Time{}
	for i := range rule.Steps {
		s := &rule.Steps[i]
		if s.When != rules.UsedShare {
			continue
		}
		if best != nil && s.Share < 1 && l.Kind != "task" && l.Kind != lights.KindMilestone {
			if shareBound.IsZero() {
				shareBound = cal.StartOfDay(cal.DateOf(l.Due))
			}
			if bestAt.After(shareBound) || (bestAt.Equal(shareBound) && bestIdx > i) {
				continue
			}
		}
		consider(i)
	}
	return best, bestAt
}

// clock does a topic's time arithmetic: working time inside the sending
// windows, or natural time for items exempt from quiet hours.
type clock struct {
	cal   *rules.Calendar
	quiet rules.QuietHours
}

func (c clock) add(t *topic, from time.Time, d time.Duration) time.Time {
	if t.anytime {
		return from.Add(d)
	}
	return c.quiet.AddWorking(c.cal, from, d)
}

func (c clock) since(t *topic, from, now time.Time) time.Duration {
	if t.anytime {
		return max(now.Sub(from), 0)
	}
	return c.quiet.Working(c.cal, from, now)
}

// open says whether t's messages may go out at now.
func (c clock) open(t *topic, now time.Time) bool {
	return t.anytime || c.quiet.Open(c.cal, now)
}

// deliveries are the messages of t at one level and repeat: one per
// channel that reaches the recipient, or one without a channel that
// records why nobody could be reached.
func (j *Job) deliveries(t *topic, repeat, level int, dueAt time.Time) []*delivery {
	p, note := j.dir.Recipient(t.ref.Department, t.ref.Responsible, levelNames[level])
	var out []*delivery
	if p != nil {
		for _, ch := range j.channels {
			if addr := ch.Address(p, t.ref.Department); addr != "" {
				out = append(out, &delivery{
					id: deliveryID(t.ref.Kind, t.ref.CaseID, t.ref.Item, t.step.ID, repeat, level, ch.Name()),
					t:  t, repeat: repeat, level: level, ch: ch, addr: addr, to: p, note: note, dueAt: dueAt,
				})
			}
		}
		if len(out) == 0 {
			note = "no channel reaches " + p.Name + " (" + p.ID + "): give an e-mail address (with remind.smtp set) or the department a webhook"
		}
	} else if note == "" {
		note = "nobody to send to"
	}
	if len(out) == 0 {
		out = append(out, &delivery{
			id: deliveryID(t.ref.Kind, t.ref.CaseID, t.ref.Item, t.step.ID, repeat, level, "none"),
			t:  t, repeat: repeat, level: level, to: p, note: note, dueAt: dueAt,
		})
	}
	return out
}
