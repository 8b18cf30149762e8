package rules

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"effidx/strictyaml"
)

//go:embed reminders.yaml
var remindersYAML []byte

// Trigger says when a reminder step falls due (see reminders.yaml).
type Trigger string

// Triggers, in the order they normally come.
const (
	UsedShare      Trigger = "used_share"
	LastWorkingDay Trigger = "last_working_day"
	DueInstant     Trigger = "due"
	Overdue        Trigger = "overdue"
	LegalOverdue   Trigger = "legal_overdue"
)

var triggers = []string{string(UsedShare), string(LastWorkingDay), string(DueInstant), string(Overdue), string(LegalOverdue)}

// Escalation levels: who a reminder goes to.
const (
	Responsible = "responsible"
	SectionHead = "section_head"
	Leader      = "leader"
)

// ItemKinds are the kinds of items with a light, which reminder rules name.
var ItemKinds = []string{"service", "internal", "scenario", "ticket", "task", "step", "milestone"}

// ReminderStep is one point of a rule at which the responsible is told.
type ReminderStep struct {
	ID          string
	When        Trigger
	Share       float64       // with UsedShare
	RepeatEvery time.Duration // working time between repeats; 0: once
	Urge        bool          // 催办: reminded event, acknowledgement, escalation
	Line        int
}

// Escalation is one level above the responsible: who, and how much working
// time after the step fell due.
type Escalation struct {
	To    string // SectionHead or Leader
	After time.Duration
}

// ReminderRule says when the items it matches are reminded.
type ReminderRule struct {
	Name        string
	Kinds       []string
	Departments []string // empty: all
	Matters     []string // empty: all
	Steps       []ReminderStep
	Escalation  []Escalation
	Line        int
}

// Matches says whether the rule applies to an item.
func (r *ReminderRule) Matches(kind, department, matter string) bool {
	return slices.Contains(r.Kinds, kind) &&
		(len(r.Departments) == 0 || slices.Contains(r.Departments, department)) &&
		(len(r.Matters) == 0 || slices.Contains(r.Matters, matter))
}

// QuietHours is when messages may go out: on working days between From
// and Until (seconds after midnight in the calendar's zone).
type QuietHours struct {
	From, Until         int
	LegalOverdueAnytime bool
}

// ReminderRules is the content of rules/reminders.yaml.
type ReminderRules struct {
	Quiet   QuietHours
	Rules   []ReminderRule
	Version string // short content hash of the file
}

// Match is the first rule that applies to an item, or nil.
func (rs *ReminderRules) Match(kind, department, matter string) *ReminderRule {
	for i := range rs.Rules {
		if rs.Rules[i].Matches(kind, department, matter) {
			return &rs.Rules[i]
		}
	}
	return nil
}

// DefaultReminderRules are the embedded rules/reminders.yaml; a broken
// embedded file is a build defect (the tests parse it), hence the panic.
func DefaultReminderRules() ReminderRules {
	r, err := ParseReminderRules("rules/reminders.yaml", remindersYAML)
	if err != nil {
		panic(err)
	}
	return r
}

// LoadReminderRules reads and validates a reminder rules file.
func LoadReminderRules(file string) (ReminderRules, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return ReminderRules{}, err
	}
	return ParseReminderRules(file, b)
}

var stepIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// ParseReminderRules validates a reminder rules file strictly and reports
// every problem at once with its line (*FileError).
func ParseReminderRules(file string, data []byte) (ReminderRules, error) {
	c := newChecker(file)
	var rs ReminderRules
	root := c.ParseDoc(data)
	if root == nil {
		return rs, c.Err()
	}
	c.Mapping(root, "reminders", map[string]strictyaml.Field{
		"quiet_hours": {Required: true, Check: func(v *yaml.Node) { c.quietHours(v, &rs.Quiet) }},
		"rules": {Required: true, Check: func(v *yaml.Node) {
			for _, n := range c.List(v, "rules") {
				rs.Rules = append(rs.Rules, c.reminderRule(n))
			}
		}},
	})
	c.crossCheck(&rs)
	if err := c.Err(); err != nil {
		return ReminderRules{}, err
	}
	sum := sha256.Sum256(data)
	rs.Version = hex.EncodeToString(sum[:])[:12]
	return rs, nil
}

func (c *checker) quietHours(n *yaml.Node, q *QuietHours) {
	q.From, q.Until = -1, -1
	c.Mapping(n, "quiet_hours", map[string]strictyaml.Field{
		"send_from":  {Required: true, Check: func(v *yaml.Node) { q.From = c.clock(v, "quiet_hours.send_from") }},
		"send_until": {Required: true, Check: func(v *yaml.Node) { q.Until = c.clock(v, "quiet_hours.send_until") }},
		"legal_overdue_anytime": {Required: true, Check: func(v *yaml.Node) {
			c.Boolean(v, "quiet_hours.legal_overdue_anytime", &q.LegalOverdueAnytime)
		}},
	})
	if q.From >= 0 && q.Until >= 0 && q.From >= q.Until {
		c.Addf(n, "quiet_hours: send_from must be before send_until (a window within one day)")
	}
}

// clock reads "HH:MM" as seconds after midnight; -1 when it is not one.
func (c *checker) clock(n *yaml.Node, what string) int {
	var s string
	if !c.Text(n, what, &s) {
		return -1
	}
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		c.Addf(n, "%s: %q is not a time of day (want HH:MM, e.g. \"09:00\")", what, s)
		return -1
	}
	return t.Hour()*3600 + t.Minute()*60
}

// duration reads a positive whole number of minutes such as "4h" or "90m".
func (c *checker) duration(n *yaml.Node, what string, dst *time.Duration) {
	var s string
	if !c.Text(n, what, &s) {
		return
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		c.Addf(n, "%s: %q is not a duration (want e.g. 4h or 90m)", what, s)
	case d <= 0 || d%time.Minute != 0:
		c.Addf(n, "%s: %s must be a positive whole number of minutes", what, s)
	default:
		*dst = d
	}
}

// names reads a non-empty list of texts, each once; allowed limits them.
func (c *checker) names(n *yaml.Node, what string, allowed []string) []string {
	var out []string
	seen := map[string]int{}
	for _, e := range c.List(n, what) {
		var s string
		if allowed != nil {
			if !c.OneOf(e, what, allowed, &s) {
				continue
			}
		} else if !c.Text(e, what, &s) {
			continue
		}
		if line, dup := seen[s]; dup {
			c.Addf(e, "%s: %q listed twice (first at line %d)", what, s, line)
			continue
		}
		seen[s] = e.Line
		out = append(out, s)
	}
	return out
}

func (c *checker) reminderRule(n *yaml.Node) ReminderRule {
	r := ReminderRule{Line: n.Line}
	what := fmt.Sprintf("rule at line %d", n.Line)
	if name := strictyaml.Peek(n, "name"); name != nil && name.Kind == yaml.ScalarNode && name.Value != "" {
		what = fmt.Sprintf("rule %q", name.Value)
	}
	var escNode *yaml.Node
	anyUrge := false
	c.Mapping(n, what, map[string]strictyaml.Field{
		"name":        {Required: true, Check: func(v *yaml.Node) { c.Text(v, what+": name", &r.Name) }},
		"kinds":       {Required: true, Check: func(v *yaml.Node) { r.Kinds = c.names(v, what+": kinds", ItemKinds) }},
		"departments": {Check: func(v *yaml.Node) { r.Departments = c.names(v, what+": departments", nil) }},
		"matters":     {Check: func(v *yaml.Node) { r.Matters = c.names(v, what+": matters", nil) }},
		"steps": {Required: true, Check: func(v *yaml.Node) {
			seen := map[string]int{}
			for _, s := range c.List(v, what+": steps") {
				st := c.reminderStep(s, what)
				anyUrge = anyUrge || st.Urge
				if st.ID == "" {
					continue
				}
				if line, dup := seen[st.ID]; dup {
					c.Addf(s, "%s: step id %q given twice (first at line %d)", what, st.ID, line)
					continue
				}
				seen[st.ID] = s.Line
				r.Steps = append(r.Steps, st)
			}
		}},
		"escalation": {Check: func(v *yaml.Node) {
			escNode = v
			r.Escalation = c.escalation(v, what)
		}},
	})
	if escNode != nil && len(r.Escalation) > 0 && !anyUrge && len(r.Steps) > 0 {
		c.Addf(escNode, "%s: escalation applies to urge steps, and no step has urge: true", what)
	}
	return r
}

func (c *checker) reminderStep(n *yaml.Node, rule string) ReminderStep {
	st := ReminderStep{Line: n.Line}
	what := rule + ": step"
	if id := strictyaml.Peek(n, "id"); id != nil && id.Kind == yaml.ScalarNode && id.Value != "" {
		what = fmt.Sprintf("%s: step %q", rule, id.Value)
	}
	var shareNode, repeatNode *yaml.Node
	var id string
	c.Mapping(n, what, map[string]strictyaml.Field{
		"id": {Required: true, Check: func(v *yaml.Node) {
			if c.Text(v, what+": id", &id) && !stepIDRE.MatchString(id) {
				c.Addf(v, "%s: id %q: use a-z, 0-9, _ and -, at most 32 characters", what, id)
				id = ""
			}
		}},
		"when": {Required: true, Check: func(v *yaml.Node) {
			var s string
			if c.OneOf(v, what+": when", triggers, &s) {
				st.When = Trigger(s)
			}
		}},
		"share": {Check: func(v *yaml.Node) {
			shareNode = v
			c.share(v, what+": share", &st.Share)
		}},
		"repeat_every": {Check: func(v *yaml.Node) {
			repeatNode = v
			c.duration(v, what+": repeat_every", &st.RepeatEvery)
		}},
		"urge": {Required: true, Check: func(v *yaml.Node) { c.Boolean(v, what+": urge", &st.Urge) }},
	})
	switch {
	case st.When == UsedShare && shareNode == nil && n.Kind == yaml.MappingNode:
		c.Addf(n, "%s: when used_share needs share (e.g. share: 0.8)", what)
	case st.When != UsedShare && st.When != "" && shareNode != nil:
		c.Addf(shareNode, "%s: share is only for when: used_share", what)
	}
	if repeatNode != nil && st.When != "" && st.When != Overdue && st.When != LegalOverdue {
		c.Addf(repeatNode, "%s: repeat_every is only for when: overdue or legal_overdue (states that last)", what)
		st.RepeatEvery = 0
	}
	st.ID = id
	return st
}

func (c *checker) escalation(n *yaml.Node, rule string) []Escalation {
	var out []Escalation
	seen := map[string]int{}
	for _, e := range c.List(n, rule+": escalation") {
		var x Escalation
		c.Mapping(e, rule+": escalation", map[string]strictyaml.Field{
			"to":    {Required: true, Check: func(v *yaml.Node) { c.OneOf(v, rule+": escalation: to", []string{SectionHead, Leader}, &x.To) }},
			"after": {Required: true, Check: func(v *yaml.Node) { c.duration(v, rule+": escalation: after", &x.After) }},
		})
		if x.To == "" || x.After == 0 {
			continue
		}
		if line, dup := seen[x.To]; dup {
			c.Addf(e, "%s: escalation: %s given twice (first at line %d)", rule, x.To, line)
			continue
		}
		seen[x.To] = e.Line
		if k := len(out); k > 0 && x.After <= out[k-1].After {
			c.Addf(e, "%s: escalation: %s after %s is not later than %s after %s (each level comes after the one before)",
				rule, x.To, ShortDuration(x.After), out[k-1].To, ShortDuration(out[k-1].After))
		}
		if x.To == SectionHead && len(out) > 0 {
			c.Addf(e, "%s: escalation: section_head must come before leader", rule)
		}
		out = append(out, x)
	}
	return out
}

// crossCheck finds what single entries cannot: rule names used twice and
// rules that never apply because an earlier rule takes all their items.
func (c *checker) crossCheck(rs *ReminderRules) {
	names := map[string]int{}
	for i, r := range rs.Rules {
		if r.Name != "" {
			if line, dup := names[r.Name]; dup {
				c.Problems = append(c.Problems, Problem{Line: r.Line, Msg: fmt.Sprintf("rule %q: name given twice (first at line %d)", r.Name, line)})
			} else {
				names[r.Name] = r.Line
			}
		}
		if len(r.Kinds) == 0 {
			continue
		}
		for _, e := range rs.Rules[:i] {
			if shadows(&e, &r) {
				c.Problems = append(c.Problems, Problem{Line: r.Line, Msg: fmt.Sprintf(
					"rule %q never applies: rule %q (line %d) comes first and matches all its items (put narrower rules first)", r.Name, e.Name, e.Line)})
				break
			}
		}
	}
}

// shadows says whether every item rule b matches is matched by a first.
func shadows(a, b *ReminderRule) bool {
	sub := func(x, y []string) bool { // every element of y is in x; empty means all
		if len(x) == 0 {
			return true
		}
		if len(y) == 0 {
			return false
		}
		for _, v := range y {
			if !slices.Contains(x, v) {
				return false
			}
		}
		return true
	}
	return len(a.Kinds) > 0 && sub(a.Kinds, b.Kinds) && sub(a.Departments, b.Departments) && sub(a.Matters, b.Matters)
}

// ShortDuration is 4h, 90m or 4h30m rather than 4h0m0s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// String is for logs: "09:00-18:00 on working days".
func (q QuietHours) String() string {
	hm := func(s int) string { return fmt.Sprintf("%02d:%02d", s/3600, s/60%60) }
	return hm(q.From) + "-" + hm(q.Until) + " on working days"
}

// Open says whether messages may go out at t.
func (q QuietHours) Open(c *Calendar, t time.Time) bool {
	d := c.DateOf(t)
	sec := int(t.Sub(c.StartOfDay(d)) / time.Second)
	return c.isWork(d) && sec >= q.From && sec < q.Until
}

// Next is the first instant at or after t at which messages may go out:
// t itself inside the window, else the next working morning.
func (q QuietHours) Next(c *Calendar, t time.Time) time.Time {
	d := c.DateOf(t)
	sod := c.StartOfDay(d)
	if c.isWork(d) {
		switch sec := t.Sub(sod); {
		case sec < time.Duration(q.From)*time.Second:
			return sod.Add(time.Duration(q.From) * time.Second)
		case sec < time.Duration(q.Until)*time.Second:
			return t
		}
	}
	// The next working day: nth of WD(d)+1 is the first working day after d.
	return c.StartOfDay(c.nth(c.WD(d) + 1)).Add(time.Duration(q.From) * time.Second)
}

// AddWorking is the instant d of working time (inside the windows) after
// t; t outside a window counts from the next working morning.
func (q QuietHours) AddWorking(c *Calendar, t time.Time, d time.Duration) time.Time {
	t = q.Next(c, t)
	for {
		end := c.StartOfDay(c.DateOf(t)).Add(time.Duration(q.Until) * time.Second)
		left := end.Sub(t)
		if d < left {
			return t.Add(d)
		}
		d -= left
		t = q.Next(c, end)
	}
}

// Working is the working time (inside the windows) from a to b; 0 when b
// is not after a.
func (q QuietHours) Working(c *Calendar, a, b time.Time) time.Duration {
	var sum time.Duration
	for t := q.Next(c, a); t.Before(b); {
		end := c.StartOfDay(c.DateOf(t)).Add(time.Duration(q.Until) * time.Second)
		if b.Before(end) {
			return sum + b.Sub(t)
		}
		sum += end.Sub(t)
		t = q.Next(c, end)
	}
	return sum
}

// ShareReached is when more than share of a working-day limit of n days
// from start is used (the yellow rule of lights.yaml: share 0.8 of 5 days
// is reached at the start of the 5th working day), given the suspensions
// known at now. false when an open suspension stops the clock first.
func (c *Calendar) ShareReached(now, start time.Time, n int, share float64, susp []Suspension) (time.Time, bool) {
	a := c.DateOf(start)
	var buf [8]span
	sp := c.spans(buf[:], a, susp, true, now, false)
	d := c.reach(a, int(ppm(share)*int64(clampDays(n))/1e6+1), sp)
	if d == math.MaxInt32 {
		return time.Time{}, false
	}
	return latest(c.StartOfDay(d), start), true
}

// TaskShareReached is ShareReached for a task or milestone with a calendar
// due date: more than share of the calendar days from start's date to due.
func (c *Calendar) TaskShareReached(start time.Time, due Date, share float64) time.Time {
	s := c.DateOf(start)
	span := max(int64(due-s), 0)
	return latest(c.StartOfDay(s+Date(ppm(share)*span/1e6+1)), start)
}

// StepList is "advance, overdue" for messages.
func (r *ReminderRule) StepList() string {
	ids := make([]string, len(r.Steps))
	for i, s := range r.Steps {
		ids[i] = s.ID
	}
	return strings.Join(ids, ", ")
}
