package rules

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"effidx/strictyaml"
)

//go:embed lights.yaml
var lightsYAML []byte

// Light is the overdue light of an open item.
type Light string

// Lights, in order of severity. None: the item has no limit.
const (
	None   Light = ""
	Green  Light = "green"
	Yellow Light = "yellow"
	Red    Light = "red"
)

// LightRule holds the thresholds for items with a working-day limit
// (cases against their promised limit, steps against limit_days).
type LightRule struct {
	// Yellow once the used share of the limit is above this (0 < x <= 1).
	YellowAboveShare float64
	// Yellow on the last working day (the due date) whatever the share.
	YellowOnLastWorkingDay bool
}

// TaskLightRule holds the thresholds for tasks and milestones, which have
// a calendar due date instead of a working-day limit: the share is of the
// calendar days from the start date to the due date.
type TaskLightRule struct {
	YellowAboveShare float64
	YellowOnDueDate  bool
}

// LightRules is the content of rules/lights.yaml.
type LightRules struct {
	Cases   LightRule
	Steps   LightRule
	Tasks   TaskLightRule
	Version string // short content hash of the file
}

// DefaultLightRules are the embedded rules/lights.yaml. A broken embedded
// file is a build defect (the tests parse it), hence the panic.
func DefaultLightRules() LightRules {
	r, err := ParseLightRules("rules/lights.yaml", lightsYAML)
	if err != nil {
		panic(err)
	}
	return r
}

// LoadLightRules reads and validates a lights rules file.
func LoadLightRules(file string) (LightRules, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return LightRules{}, err
	}
	return ParseLightRules(file, b)
}

// ParseLightRules validates a lights rules file strictly: every key is
// required, unknown keys and bad values are errors, all reported at once
// with their lines (*FileError).
func ParseLightRules(file string, data []byte) (LightRules, error) {
	c := newChecker(file)
	var r LightRules
	root := c.ParseDoc(data)
	if root == nil {
		return r, c.Err()
	}
	limitRule := func(name string, dst *LightRule) strictyaml.Field {
		return strictyaml.Field{Required: true, Check: func(v *yaml.Node) {
			c.Mapping(v, name, map[string]strictyaml.Field{
				"yellow_above_share": {Required: true, Check: func(v *yaml.Node) {
					c.share(v, name+".yellow_above_share", &dst.YellowAboveShare)
				}},
				"yellow_on_last_working_day": {Required: true, Check: func(v *yaml.Node) {
					c.Boolean(v, name+".yellow_on_last_working_day", &dst.YellowOnLastWorkingDay)
				}},
			})
		}}
	}
	c.Mapping(root, "lights", map[string]strictyaml.Field{
		"cases": limitRule("cases", &r.Cases),
		"steps": limitRule("steps", &r.Steps),
		"tasks": {Required: true, Check: func(v *yaml.Node) {
			c.Mapping(v, "tasks", map[string]strictyaml.Field{
				"yellow_above_share": {Required: true, Check: func(v *yaml.Node) {
					c.share(v, "tasks.yellow_above_share", &r.Tasks.YellowAboveShare)
				}},
				"yellow_on_due_date": {Required: true, Check: func(v *yaml.Node) {
					c.Boolean(v, "tasks.yellow_on_due_date", &r.Tasks.YellowOnDueDate)
				}},
			})
		}},
	})
	if err := c.Err(); err != nil {
		return LightRules{}, err
	}
	sum := sha256.Sum256(data)
	r.Version = hex.EncodeToString(sum[:])[:12]
	return r, nil
}

// ppm is a share in parts per million: comparing used*1e6 with ppm*limit
// in integers keeps 4 of 5 days at exactly 80% (0.8*5 in floating point
// need not be 4).
func ppm(share float64) int64 { return int64(math.Round(share * 1e6)) }

// Status is an open item's clock at an instant.
type Status struct {
	Light        Light
	LegalOverdue bool     // past the statutory due instant (cases with a legal limit)
	Stopped      bool     // an open suspension stops the clock
	Used         int      // working days of the limit used
	Limit        int      // the limit the light is judged against (NoLimit: none)
	Left         int      // working days left before the due date; negative: working days overdue
	Due          Deadline // the promised (or, without a promise, the legal) deadline
	LegalDue     Deadline
	// When the light turned, or will turn, yellow and red under the facts
	// given (the start of that day in the calendar's zone). Zero when
	// unknown because the clock stopped first. An item that goes straight
	// to red has YellowAt == RedAt.
	YellowAt, RedAt time.Time
	Provisional     bool
}

// CaseLight is the light of an open case at now (SPEC 4): judged against
// promised days, or legal days when no promise was given; LegalOverdue
// against legal days. Pass NoLimit for an absent limit; with neither the
// light is None. Only facts known at now count: suspensions that start
// after now are ignored and those resumed after now are still open.
//
// While the clock is stopped the light is frozen at its state on the day
// the suspension began: the suspended working days extend the due instant
// day by day, so a case that was not overdue when suspended does not go
// red while suspended.
func (c *Calendar) CaseLight(r LightRule, now, accepted time.Time, promised, legal int, susp []Suspension) Status {
	limit := promised
	if limit < 0 {
		limit = legal
	}
	if limit < 0 {
		return Status{Limit: NoLimit, Due: Deadline{NoLimit: true, Calendar: c.version}, LegalDue: Deadline{NoLimit: true, Calendar: c.version}}
	}
	a := c.DateOf(accepted)
	var buf [8]span
	sp := c.spans(buf[:], a, susp, true, now, false)
	st := c.clock(r, now, accepted, a, clampDays(limit), sp)
	st.LegalDue = Deadline{NoLimit: true, Calendar: c.version}
	if legal >= 0 {
		lg := st
		if legal != limit {
			lg = c.clock(r, now, accepted, a, clampDays(legal), sp)
		}
		st.LegalDue, st.LegalOverdue = lg.Due, lg.Light == Red
		st.Provisional = st.Provisional || lg.Provisional
	}
	return st
}

// StepLight is the light of an open step against its limit_days (no
// statutory limit).
func (c *Calendar) StepLight(r LightRule, now, started time.Time, limitDays int, susp []Suspension) Status {
	return c.CaseLight(r, now, started, limitDays, NoLimit, susp)
}

// clock judges one limit at now.
func (c *Calendar) clock(r LightRule, now, accepted time.Time, a Date, n int, sp []span) Status {
	today := c.DateOf(now)
	extra, stopped, stopAt := c.extra(sp)
	eval := today // the day the clock shows: frozen at the suspension's start while stopped
	if stopped {
		eval = stopAt
	}
	eval = max(eval, a)
	due := c.dueDate(a, n, extra)
	st := Status{Limit: n, Stopped: stopped, Used: max(c.WD(eval)-c.WD(a)-extra, 0), Left: c.WD(due) - c.WD(eval)}

	// Red: past the due instant; while stopped, only if it already was when
	// the clock stopped.
	red := today > due
	if stopped {
		red = stopAt > due
		st.Due = Deadline{Stopped: true, Provisional: c.provisional(a, stopAt), Calendar: c.version}
	} else {
		st.Due = Deadline{Due: c.EndOfDay(due), Date: due, Provisional: c.provisional(a, due), Calendar: c.version}
	}
	st.Provisional = st.Due.Provisional
	p := ppm(r.YellowAboveShare)
	yellow := int64(st.Used)*1e6 > p*int64(n) || (r.YellowOnLastWorkingDay && eval == due)
	switch {
	case red:
		st.Light = Red
	case yellow:
		st.Light = Yellow
	default:
		st.Light = Green
	}

	// When it turns: red the day after the due date; yellow on the first
	// day the used share passes the threshold or on the due date.
	redDay := due + 1
	yellowDay := redDay
	if r.YellowOnLastWorkingDay {
		yellowDay = due
	}
	// used*1e6 > p*n first holds once floor(p*n/1e6)+1 days are used.
	if d := c.reach(a, int(p*int64(n)/1e6+1), sp); d < yellowDay {
		yellowDay = d
	}
	// Never before the clock started: an instant case accepted at 10:00 is
	// yellow from 10:00, not from midnight.
	if !stopped || yellowDay <= stopAt {
		st.YellowAt = latest(c.StartOfDay(yellowDay), accepted)
	}
	if !stopped || red {
		st.RedAt = latest(c.StartOfDay(redDay), accepted)
	}
	return st
}

// reach is the first date on which the working days used reach k, given
// the suspension spans (used stands still inside them). Past an open span
// it never does: then it returns a date after every other candidate.
func (c *Calendar) reach(a Date, k int, sp []span) Date {
	cur := c.WD(a)
	for _, x := range sp {
		if avail := c.WD(x.s) - cur; k <= avail {
			return c.nth(cur + k)
		} else if avail > 0 {
			k -= avail
		}
		if x.open {
			return math.MaxInt32
		}
		cur = max(cur, c.WD(x.r))
	}
	return c.nth(cur + k)
}

// TaskStatus is an open task's or milestone's clock at an instant.
type TaskStatus struct {
	Light           Light
	Due             time.Time // 23:59:59 of the due date
	DaysLeft        int       // calendar days from today to the due date; negative: overdue
	YellowAt, RedAt time.Time // start of the day it turns yellow / red
}

// TaskLight is the light of an open task or milestone started at start
// and due on the calendar date due: red after 23:59:59 of due; yellow once
// the calendar days elapsed since the start date are above the share of
// the days from the start date to due, or on due itself.
func (c *Calendar) TaskLight(r TaskLightRule, now, start time.Time, due Date) TaskStatus {
	today, s := c.DateOf(now), c.DateOf(start)
	span := max(int64(due-s), 0)
	p := ppm(r.YellowAboveShare)
	elapsed := max(int64(today-s), 0)
	st := TaskStatus{Due: c.EndOfDay(due), DaysLeft: int(due - today), RedAt: c.StartOfDay(due + 1)}
	switch {
	case today > due:
		st.Light = Red
	case elapsed*1e6 > p*span || (r.YellowOnDueDate && today == due):
		st.Light = Yellow
	default:
		st.Light = Green
	}
	yellowDay := due + 1
	if r.YellowOnDueDate {
		yellowDay = due
	}
	if d := s + Date(p*span/1e6+1); d < yellowDay {
		yellowDay = d
	}
	st.YellowAt = latest(c.StartOfDay(yellowDay), start)
	return st
}

func latest(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// String is for logs and test failures.
func (s Status) String() string {
	return fmt.Sprintf("%s used=%d/%d left=%d stopped=%v legal_overdue=%v", s.Light, s.Used, s.Limit, s.Left, s.Stopped, s.LegalOverdue)
}
