package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// wire is the JSON shape of an event. Pointers tell an absent field from a
// zero one.
type wire struct {
	EventID         *string `json:"event_id"`
	Kind            *string `json:"kind"`
	CaseID          *string `json:"case_id"`
	Type            *string `json:"type"`
	At              *string `json:"at"`
	Department      *string `json:"department"`
	Region          *string `json:"region"`
	Matter          *string `json:"matter"`
	MatterName      *string `json:"matter_name"`
	Channel         *string `json:"channel"`
	LegalDays       *int64  `json:"legal_days"`
	PromisedDays    *int64  `json:"promised_days"`
	MaterialsTotal  *int64  `json:"materials_total"`
	MaterialsShared *int64  `json:"materials_shared"`
	Step            *string `json:"step"`
	StepType        *string `json:"step_type"`
	LimitDays       *int64  `json:"limit_days"`
	JointID         *string `json:"joint_id"`
	Rating          *int64  `json:"rating"`
	Resolved        *bool   `json:"resolved"`
	Due             *string `json:"due"`
	Responsible     *string `json:"responsible"`
}

// Parse decodes and validates one JSON event object. now bounds how far in
// the future `at` may lie (maxFuture; 0 means DefaultMaxFuture). The error
// says what is wrong in words a source-system developer can act on; all
// problems of the event are reported at once, separated by "; ".
//
// The hand-written decoder of fastparse.go handles the usual flat objects;
// whatever it is not certain about goes to parseJSON, so results and errors
// are those of encoding/json either way.
func Parse(raw []byte, now time.Time, maxFuture time.Duration) (Event, error) {
	var a wireArena
	if w, ok := a.decode(raw); ok {
		return fromWire(&w, now, maxFuture)
	}
	return parseJSON(raw, now, maxFuture)
}

// parseJSON is Parse by encoding/json: the fallback of the fast path and
// the reference it is tested against.
func parseJSON(raw []byte, now time.Time, maxFuture time.Duration) (Event, error) {
	var w wire
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Event{}, jsonError(err)
	}
	if dec.More() {
		return Event{}, errors.New("invalid JSON: more than one value on the line")
	}
	if _, err := dec.Token(); err == nil {
		return Event{}, errors.New("invalid JSON: trailing data after the event object")
	}
	return fromWire(&w, now, maxFuture)
}

func jsonError(err error) error {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) && ute.Field == "" {
		return fmt.Errorf("got a JSON %s: an event must be one JSON object", ute.Value)
	}
	if errors.As(err, &ute) {
		return fmt.Errorf("field %q must be %s, got JSON %s", ute.Field, ute.Type.String(), ute.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fmt.Errorf("unknown field %s (fields are listed in SPEC section 3)", f)
	}
	if strings.HasPrefix(msg, "json: cannot unmarshal") {
		return fmt.Errorf("%s: an event must be one JSON object", strings.TrimPrefix(msg, "json: "))
	}
	return fmt.Errorf("invalid JSON: %s", strings.TrimPrefix(msg, "json: "))
}

type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.New(strings.Join(p, "; "))
}

func text(p *problems, name string, v *string, required bool, max int) string {
	if v == nil {
		if required {
			p.add("%s is required", name)
		}
		return ""
	}
	s := *v
	switch {
	case strings.TrimSpace(s) == "":
		if required {
			p.add("%s is required and must not be blank", name)
		}
		return ""
	case !utf8.ValidString(s):
		p.add("%s is not valid UTF-8", name)
	case utf8.RuneCountInString(s) > max:
		p.add("%s is longer than %d characters", name, max)
	case strings.ContainsFunc(s, unicode.IsControl):
		p.add("%s must not contain control characters", name)
	}
	return s
}

func count(p *problems, name string, v *int64, max int64) int32 {
	if v == nil {
		return Absent
	}
	if *v < 0 || *v > max {
		p.add("%s must be between 0 and %d, got %d", name, max, *v)
		return Absent
	}
	return int32(*v)
}

func enum[T ~uint8](p *problems, name string, v *string, names []string, required bool) T {
	if v == nil {
		if required {
			p.add("%s is required", name)
		}
		return 0
	}
	for i, n := range names {
		if i > 0 && n == *v {
			return T(i)
		}
	}
	p.add("%s %q is not one of %s", name, *v, strings.Join(names[1:], ", "))
	return 0
}

func fromWire(w *wire, now time.Time, maxFuture time.Duration) (Event, error) {
	if maxFuture <= 0 {
		maxFuture = DefaultMaxFuture
	}
	var p problems
	e := NewEvent()
	e.ID = text(&p, "event_id", w.EventID, true, MaxIDLen)
	e.Kind = enum[Kind](&p, "kind", w.Kind, kindNames[:], true)
	e.CaseID = text(&p, "case_id", w.CaseID, true, MaxIDLen)
	e.Type = enum[Type](&p, "type", w.Type, typeNames[:], true)
	if w.At == nil {
		p.add("at is required (RFC 3339 with offset, e.g. 2026-10-05T09:30:00+08:00)")
	} else if at, err := time.Parse(time.RFC3339Nano, *w.At); err != nil {
		p.add("at %q is not an RFC 3339 time with offset (e.g. 2026-10-05T09:30:00+08:00)", *w.At)
	} else if at.Year() < 2000 {
		p.add("at %s is before the year 2000", *w.At)
	} else if !now.IsZero() && at.After(now.Add(maxFuture)) {
		p.add("at %s is more than %s in the future", *w.At, maxFuture)
	} else {
		e.At = at
	}
	e.Department = text(&p, "department", w.Department, true, MaxCodeLen)
	e.Region = text(&p, "region", w.Region, false, MaxCodeLen)
	e.Matter = text(&p, "matter", w.Matter, false, MaxCodeLen)
	e.MatterName = text(&p, "matter_name", w.MatterName, false, MaxNameLen)
	e.Channel = enum[Channel](&p, "channel", w.Channel, channelNames[:], false)
	e.LegalDays = count(&p, "legal_days", w.LegalDays, MaxDays)
	e.PromisedDays = count(&p, "promised_days", w.PromisedDays, MaxDays)
	e.MaterialsTotal = count(&p, "materials_total", w.MaterialsTotal, MaxMaterials)
	e.MaterialsShared = count(&p, "materials_shared", w.MaterialsShared, MaxMaterials)
	if e.MaterialsShared > 0 && e.MaterialsTotal >= 0 && e.MaterialsShared > e.MaterialsTotal {
		p.add("materials_shared (%d) exceeds materials_total (%d)", e.MaterialsShared, e.MaterialsTotal)
	}
	if e.MaterialsShared >= 0 && e.MaterialsTotal == Absent {
		p.add("materials_shared needs materials_total")
	}
	e.Step = text(&p, "step", w.Step, false, MaxIDLen)
	e.StepType = enum[StepType](&p, "step_type", w.StepType, stepTypeNames[:], false)
	e.LimitDays = count(&p, "limit_days", w.LimitDays, MaxDays)
	e.JointID = text(&p, "joint_id", w.JointID, false, MaxIDLen)
	if w.Rating != nil {
		if *w.Rating < 1 || *w.Rating > 5 {
			p.add("rating must be 1..5, got %d", *w.Rating)
		} else {
			e.Rating = int8(*w.Rating)
		}
	}
	if w.Resolved != nil {
		e.Resolved = ResolvedFalse
		if *w.Resolved {
			e.Resolved = ResolvedTrue
		}
	}
	if w.Due != nil {
		d, err := time.Parse(DateLayout, *w.Due)
		if err != nil {
			p.add("due %q is not a date (YYYY-MM-DD)", *w.Due)
		} else {
			e.Due = d
		}
	}
	e.Responsible = text(&p, "responsible", w.Responsible, false, MaxNameLen)
	typeRules(&p, &e, w)
	if err := p.err(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// typeRules checks the fields a type needs and the kind a type belongs to.
func typeRules(p *problems, e *Event, w *wire) {
	if e.Type == 0 || e.Kind == 0 {
		return
	}
	switch e.Type {
	case TypeStepStarted, TypeStepFinished, TypeReminded, TypeResponded:
		if w.Step == nil || e.Step == "" {
			p.add("step is required on %s events", e.Type)
		}
	case TypeMilestoneDue, TypeMilestoneMet:
		if e.Kind != KindTask {
			p.add("%s events belong to kind task, not %s", e.Type, e.Kind)
		}
		if w.Step == nil || e.Step == "" {
			p.add("step (the milestone id) is required on %s events", e.Type)
		}
	case TypeRated:
		if w.Rating == nil {
			p.add("rating (1..5) is required on rated events")
		}
	case TypeSigned:
		if e.Kind != KindTicket {
			p.add("signed events belong to kind ticket, not %s", e.Kind)
		}
	case TypeCompleted:
		if e.Kind == KindTicket && w.Resolved == nil {
			p.add("resolved (true/false) is required on ticket completed events")
		}
	}
	if e.Type == TypeMilestoneDue || (e.Kind == KindTask && e.Type == TypeAccepted) {
		if w.Due == nil {
			p.add("due (YYYY-MM-DD) is required on task %s events", e.Type)
		}
	}
	if e.Type != TypeRated && w.Rating != nil {
		p.add("rating is only allowed on rated events")
	}
}
