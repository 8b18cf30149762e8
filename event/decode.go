package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Rejection is one event of a request that failed validation. Raw is kept
// so that bad input can be inspected later (table rejected_events).
type Rejection struct {
	Index      int    // position in the request: array element or non-blank line, from 0
	Raw        []byte // the line or element as sent (cut to the line limit)
	Error      string // what was wrong
	Department string // best effort, for per-department data-quality figures
}

// Decoded is a request body split into valid events and rejections.
type Decoded struct {
	Events   []Event
	Indexes  []int // Indexes[i] is the position of Events[i] in the request
	Rejected []Rejection
}

// Options bound what one request may hold.
type Options struct {
	MaxLineBytes int           // a longer line or element is rejected on its own
	MaxEvents    int           // more events in one request: ErrTooManyEvents
	Now          time.Time     // for the "in the future" check; zero disables it
	MaxFuture    time.Duration // 0 means DefaultMaxFuture
}

// ErrTooManyEvents means the request holds more events than Options.MaxEvents.
var ErrTooManyEvents = errors.New("too many events in one request")

// ErrNotJSON means the body is neither NDJSON nor a JSON array of events.
var ErrNotJSON = errors.New("body is neither NDJSON nor a JSON array")

// Decode splits an NDJSON body or a JSON array into events and rejections.
// It fails as a whole only when the body is not NDJSON/JSON at all, when a
// JSON array is malformed (its elements cannot be told apart), or when there
// are too many events; then nothing of the request may be stored.
func Decode(body []byte, opt Options) (Decoded, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return Decoded{}, fmt.Errorf("%w: the body is empty", ErrNotJSON)
	}
	if trimmed[0] == '[' {
		return decodeArray(trimmed, opt)
	}
	return decodeLines(body, opt)
}

func decodeArray(body []byte, opt Options) (Decoded, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return Decoded{}, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	var elems []json.RawMessage
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Decoded{}, fmt.Errorf("%w: element %d: %v", ErrNotJSON, len(elems), err)
		}
		if opt.MaxEvents > 0 && len(elems) >= opt.MaxEvents {
			return Decoded{}, fmt.Errorf("%w: more than %d", ErrTooManyEvents, opt.MaxEvents)
		}
		elems = append(elems, raw)
	}
	if _, err := dec.Token(); err != nil {
		return Decoded{}, fmt.Errorf("%w: the array is not closed: %v", ErrNotJSON, err)
	}
	if _, err := dec.Token(); err == nil {
		return Decoded{}, fmt.Errorf("%w: data after the closing ]", ErrNotJSON)
	}
	d := Decoded{Events: make([]Event, 0, len(elems))}
	for i, raw := range elems {
		d.add(i, raw, opt)
	}
	return d, nil
}

func decodeLines(body []byte, opt Options) (Decoded, error) {
	n := bytes.Count(body, []byte{'\n'}) + 1
	if opt.MaxEvents > 0 && n > opt.MaxEvents {
		// Blank lines are counted here; an exact count follows.
		n = opt.MaxEvents
	}
	d := Decoded{Events: make([]Event, 0, n)}
	i := 0
	for len(body) > 0 {
		var line []byte
		if j := bytes.IndexByte(body, '\n'); j >= 0 {
			line, body = body[:j], body[j+1:]
		} else {
			line, body = body, nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if opt.MaxEvents > 0 && i >= opt.MaxEvents {
			return Decoded{}, fmt.Errorf("%w: more than %d", ErrTooManyEvents, opt.MaxEvents)
		}
		d.add(i, line, opt)
		i++
	}
	if len(d.Events) == 0 && len(d.Rejected) > 0 && !anyJSON(d.Rejected) {
		return Decoded{}, fmt.Errorf("%w: no line is a JSON value", ErrNotJSON)
	}
	return d, nil
}

func anyJSON(rs []Rejection) bool {
	for _, r := range rs {
		if json.Valid(r.Raw) {
			return true
		}
	}
	return false
}

func (d *Decoded) add(i int, raw []byte, opt Options) {
	if opt.MaxLineBytes > 0 && len(raw) > opt.MaxLineBytes {
		d.Rejected = append(d.Rejected, Rejection{
			Index: i, Raw: bytes.Clone(raw[:opt.MaxLineBytes]),
			Error: fmt.Sprintf("event is %d bytes, over the limit of %d", len(raw), opt.MaxLineBytes),
		})
		return
	}
	e, err := Parse(raw, opt.Now, opt.MaxFuture)
	if err != nil {
		d.Rejected = append(d.Rejected, Rejection{Index: i, Raw: bytes.Clone(raw), Error: err.Error(), Department: departmentOf(raw)})
		return
	}
	d.Events = append(d.Events, e)
	d.Indexes = append(d.Indexes, i)
}

// departmentOf digs the department out of a rejected event, if it has one.
func departmentOf(raw []byte) string {
	var v struct {
		Department string `json:"department"`
	}
	if json.Unmarshal(raw, &v) != nil || len(v.Department) > 4*MaxCodeLen {
		return ""
	}
	return v.Department
}
