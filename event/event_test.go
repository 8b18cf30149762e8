package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 10, 5, 12, 0, 0, 0, time.FixedZone("CST", 8*3600))

const good = `{"event_id":"e1","kind":"service","case_id":"c1","type":"accepted","at":"2026-10-05T09:30:00+08:00","department":"D01"}`

// with returns the good event with fields replaced or added (raw JSON
// values; "-" deletes the field).
func with(fields map[string]string) string {
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(good), &m); err != nil {
		panic(err)
	}
	for k, v := range fields {
		if v == "-" {
			delete(m, k)
			continue
		}
		m[k] = json.RawMessage(v)
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestParseRejectsEachBrokenRuleWithAReason(t *testing.T) {
	tests := []struct {
		name string
		line string
		want string // substring of the error; "" = valid
	}{
		{"a minimal accepted service event is valid", good, ""},
		{"missing event_id", with(map[string]string{"event_id": "-"}), "event_id is required"},
		{"blank event_id", with(map[string]string{"event_id": `"  "`}), "event_id is required and must not be blank"},
		{"event_id over 128 characters", with(map[string]string{"event_id": `"` + strings.Repeat("x", 129) + `"`}), "event_id is longer than 128"},
		{"event_id of 128 Chinese characters is fine", with(map[string]string{"event_id": `"` + strings.Repeat("办", 128) + `"`}), ""},
		{"unknown kind", with(map[string]string{"kind": `"case"`}), `kind "case" is not one of service, internal, scenario, ticket, task`},
		{"missing case_id", with(map[string]string{"case_id": "-"}), "case_id is required"},
		{"unknown type", with(map[string]string{"type": `"closed"`}), `type "closed" is not one of`},
		{"at without offset", with(map[string]string{"at": `"2026-10-05T09:30:00"`}), "not an RFC 3339 time with offset"},
		{"at as a date only", with(map[string]string{"at": `"2026-10-05"`}), "not an RFC 3339 time with offset"},
		{"at in UTC with Z is fine", with(map[string]string{"at": `"2026-10-05T01:30:00Z"`}), ""},
		{"at two days in the future", with(map[string]string{"at": `"2026-10-07T12:00:01+08:00"`}), "in the future"},
		{"at before 2000", with(map[string]string{"at": `"1999-12-31T23:59:59+08:00"`}), "before the year 2000"},
		{"missing department", with(map[string]string{"department": "-"}), "department is required"},
		{"department over 64 characters", with(map[string]string{"department": `"` + strings.Repeat("d", 65) + `"`}), "department is longer than 64"},
		{"unknown channel", with(map[string]string{"channel": `"fax"`}), `channel "fax" is not one of window, online, mobile, self_service`},
		{"negative legal_days", with(map[string]string{"legal_days": "-1"}), "legal_days must be between 0 and"},
		{"fractional promised_days", with(map[string]string{"promised_days": "1.5"}), `field "promised_days" must be int64`},
		{"legal_days as a string", with(map[string]string{"legal_days": `"5"`}), `field "legal_days" must be int64`},
		{"shared materials above total", with(map[string]string{"materials_total": "2", "materials_shared": "3"}), "materials_shared (3) exceeds materials_total (2)"},
		{"shared materials without total", with(map[string]string{"materials_shared": "1"}), "materials_shared needs materials_total"},
		{"unknown step_type", with(map[string]string{"type": `"step_started"`, "step": `"s1"`, "step_type": `"vote"`}), `step_type "vote" is not one of`},
		{"step_started without step", with(map[string]string{"type": `"step_started"`}), "step is required on step_started events"},
		{"responded without a reminder id", with(map[string]string{"type": `"responded"`}), "step is required on responded events"},
		{"rated without rating", with(map[string]string{"type": `"rated"`}), "rating (1..5) is required on rated events"},
		{"rating 6", with(map[string]string{"type": `"rated"`, "rating": "6"}), "rating must be 1..5, got 6"},
		{"rating on an accepted event", with(map[string]string{"rating": "5"}), "rating is only allowed on rated events"},
		{"ticket completed without resolved", with(map[string]string{"kind": `"ticket"`, "type": `"completed"`}), "resolved (true/false) is required"},
		{"ticket completed with resolved", with(map[string]string{"kind": `"ticket"`, "type": `"completed"`, "resolved": "false"}), ""},
		{"signed on a service case", with(map[string]string{"type": `"signed"`}), "signed events belong to kind ticket"},
		{"milestone on a service case", with(map[string]string{"type": `"milestone_due"`, "step": `"m1"`, "due": `"2026-10-31"`}), "milestone_due events belong to kind task"},
		{"task accepted without due", with(map[string]string{"kind": `"task"`}), "due (YYYY-MM-DD) is required on task accepted"},
		{"task accepted with a bad due", with(map[string]string{"kind": `"task"`, "due": `"31/10/2026"`}), `due "31/10/2026" is not a date`},
		{"task accepted with due", with(map[string]string{"kind": `"task"`, "due": `"2026-10-31"`}), ""},
		{"unknown field", with(map[string]string{"promise_days": "3"}), `unknown field "promise_days"`},
		{"broken JSON", `{"event_id":"e1",`, "invalid JSON"},
		{"a JSON array instead of an object", `[1,2]`, "must be one JSON object"},
		{"two objects on one line", good + good, "more than one value"},
		{"control character in case_id", with(map[string]string{"case_id": `"a\nb"`}), "case_id must not contain control characters"},
		{"several problems are reported together", with(map[string]string{"kind": `"x"`, "department": "-"}), `kind "x" is not one of service, internal, scenario, ticket, task; department is required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.line), now, 0)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Parse(%s) = %v, want valid", tt.line, err)
			case tt.want != "" && err == nil:
				t.Fatalf("Parse(%s) accepted it, want error containing %q", tt.line, tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Parse(%s) error = %q, want it to contain %q", tt.line, err, tt.want)
			}
		})
	}
}

func TestParseFillsEveryField(t *testing.T) {
	line := `{"event_id":"e9","kind":"service","case_id":"SV-1","type":"accepted","at":"2026-10-05T09:30:00+08:00",
	"department":"D07","region":"R03","matter":"M100","matter_name":"食品经营许可","channel":"mobile",
	"legal_days":20,"promised_days":0,"materials_total":5,"materials_shared":4,"joint_id":"J1","responsible":"王芳"}`
	e, err := Parse([]byte(line), now, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := NewEvent()
	want.ID, want.Kind, want.CaseID, want.Type = "e9", KindService, "SV-1", TypeAccepted
	want.At = time.Date(2026, 10, 5, 9, 30, 0, 0, time.FixedZone("", 8*3600))
	want.Department, want.Region, want.Matter, want.MatterName = "D07", "R03", "M100", "食品经营许可"
	want.Channel, want.LegalDays, want.PromisedDays = ChannelMobile, 20, 0
	want.MaterialsTotal, want.MaterialsShared, want.JointID, want.Responsible = 5, 4, "J1", "王芳"
	if !e.At.Equal(want.At) {
		t.Fatalf("at = %v, want %v", e.At, want.At)
	}
	e.At = want.At
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("Parse =\n%+v\nwant\n%+v", e, want)
	}
}

func sample() []Event {
	a := NewEvent()
	a.ID, a.Kind, a.CaseID, a.Type, a.Department = "a-1", KindService, "SV-1", TypeAccepted, "D01"
	a.At = time.Date(2026, 10, 5, 9, 30, 0, 123000000, time.FixedZone("", 8*3600))
	a.Region, a.Matter, a.MatterName, a.Channel = "R01", "M1", `带"引号"的\名称`, ChannelOnline
	a.LegalDays, a.PromisedDays, a.MaterialsTotal, a.MaterialsShared = 20, 0, 6, 5
	b := NewEvent()
	b.ID, b.Kind, b.CaseID, b.Type, b.Department = "b-1", KindTask, "T-1", TypeMilestoneDue, "D02"
	b.At = time.Date(2026, 10, 5, 1, 0, 0, 0, time.UTC)
	b.Step, b.Due, b.Responsible = "m1", time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC), "李四"
	c := NewEvent()
	c.ID, c.Kind, c.CaseID, c.Type, c.Department = "c-1", KindTicket, "TK-1", TypeCompleted, "D03"
	c.At = time.Date(2026, 10, 5, 23, 59, 59, 0, time.FixedZone("", -5*3600))
	c.Resolved, c.Step, c.StepType, c.LimitDays = ResolvedFalse, "s1", StepCountersign, 3
	d := NewEvent()
	d.ID, d.Kind, d.CaseID, d.Type, d.Department, d.Rating = "d-1", KindService, "SV-1", TypeRated, "D01", 2
	d.At = a.At.Add(time.Hour)
	return []Event{a, b, c, d}
}

func sameEvent(t *testing.T, got, want Event) {
	t.Helper()
	_, go_ := got.At.Zone()
	_, wo := want.At.Zone()
	if !got.At.Equal(want.At) || go_ != wo {
		t.Fatalf("at = %v, want %v", got.At, want.At)
	}
	got.At = want.At
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip =\n%+v\nwant\n%+v", got, want)
	}
}

func TestJSONRoundTripKeepsEveryField(t *testing.T) {
	for _, e := range sample() {
		t.Run(e.ID, func(t *testing.T) {
			line := AppendJSON(nil, &e)
			got, err := Parse(line, time.Time{}, 0)
			if err != nil {
				t.Fatalf("Parse(%s): %v", line, err)
			}
			sameEvent(t, got, e)
		})
	}
}

func TestBinaryRoundTripKeepsEveryField(t *testing.T) {
	var buf []byte
	evs := sample()
	for i := range evs {
		buf = AppendBinary(buf, &evs[i])
	}
	for _, want := range evs {
		var got Event
		var err error
		buf, err = ReadBinary(buf, &got)
		if err != nil {
			t.Fatal(err)
		}
		sameEvent(t, got, want)
	}
	if len(buf) != 0 {
		t.Fatalf("%d bytes left over", len(buf))
	}
}

func TestReadBinaryRejectsTruncatedInput(t *testing.T) {
	evs := sample()
	full := AppendBinary(nil, &evs[0])
	for n := range len(full) {
		var e Event
		if _, err := ReadBinary(full[:n], &e); err == nil {
			t.Fatalf("ReadBinary accepted %d of %d bytes", n, len(full))
		}
	}
}

func TestDecodeSplitsGoodFromBad(t *testing.T) {
	bad := `{"event_id":"e2","kind":"nope","case_id":"c1","type":"accepted","at":"2026-10-05T09:30:00+08:00","department":"D09"}`
	e3 := strings.Replace(good, `"e1"`, `"e3"`, 1)
	tests := []struct {
		name      string
		body      string
		opt       Options
		wantErr   error
		wantIDs   []string
		wantIdx   []int // indexes of the valid events
		wantRej   []int
		wantDepts []string
	}{
		{"NDJSON with a bad line in the middle", good + "\n" + bad + "\n" + e3 + "\n", Options{}, nil, []string{"e1", "e3"}, []int{0, 2}, []int{1}, []string{"D09"}},
		{"NDJSON with CRLF and blank lines", "\r\n" + good + "\r\n\r\n" + e3, Options{}, nil, []string{"e1", "e3"}, []int{0, 1}, nil, nil},
		{"JSON array", "[" + good + "," + bad + "," + e3 + "]", Options{}, nil, []string{"e1", "e3"}, []int{0, 2}, []int{1}, []string{"D09"}},
		{"a line over the line limit is rejected alone", good + "\n" + with(map[string]string{"responsible": `"` + strings.Repeat("长", 300) + `"`}), Options{MaxLineBytes: 400}, nil, []string{"e1"}, []int{0}, []int{1}, []string{""}},
		{"too many NDJSON events", good + "\n" + e3 + "\n" + good, Options{MaxEvents: 2}, ErrTooManyEvents, nil, nil, nil, nil},
		{"too many array elements", "[" + good + "," + e3 + "," + good + "]", Options{MaxEvents: 2}, ErrTooManyEvents, nil, nil, nil, nil},
		{"empty body", "  \n", Options{}, ErrNotJSON, nil, nil, nil, nil},
		{"plain text", "hello world\nsecond line", Options{}, ErrNotJSON, nil, nil, nil, nil},
		{"a malformed array", "[" + good + ",{oops]", Options{}, ErrNotJSON, nil, nil, nil, nil},
		{"an unclosed array", "[" + good, Options{}, ErrNotJSON, nil, nil, nil, nil},
		{"NDJSON whose only line is a valid but wrong JSON value", `"just a string"`, Options{}, nil, nil, nil, []int{0}, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Decode([]byte(tt.body), tt.opt)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Decode error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			var ids []string
			for _, e := range d.Events {
				ids = append(ids, e.ID)
			}
			var rej []int
			var depts []string
			for _, r := range d.Rejected {
				rej = append(rej, r.Index)
				depts = append(depts, r.Department)
				if len(r.Raw) == 0 || r.Error == "" {
					t.Fatalf("rejection %d lacks raw text or error: %+v", r.Index, r)
				}
			}
			if !reflect.DeepEqual(ids, tt.wantIDs) || !reflect.DeepEqual(d.Indexes, tt.wantIdx) || !reflect.DeepEqual(rej, tt.wantRej) || !reflect.DeepEqual(depts, tt.wantDepts) {
				t.Fatalf("Decode = ids %v at %v, rejected %v (departments %q); want %v at %v, %v (%q)", ids, d.Indexes, rej, depts, tt.wantIDs, tt.wantIdx, tt.wantRej, tt.wantDepts)
			}
		})
	}
}

// FuzzDecode: whatever the body, Decode must not panic, every input line
// must come out either as an event or as a rejection (never both, never
// lost), and every accepted event must survive both encodings unchanged.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("[" + good + "]"))
	for _, e := range sample() {
		f.Add(AppendJSON(nil, &e))
	}
	f.Add([]byte(good + "\n{\"event_id\":1}\n"))
	f.Add([]byte(`{"event_id":"\u00e9\ud83d\ude00","kind":"ticket","case_id":"x","type":"completed","resolved":true,"at":"2026-10-05T09:30:00.5-02:30","department":"d"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := Decode(body, Options{MaxLineBytes: 4096, MaxEvents: 1000})
		if err != nil {
			return
		}
		if len(d.Events) != len(d.Indexes) {
			t.Fatalf("%d events but %d indexes", len(d.Events), len(d.Indexes))
		}
		seen := map[int]bool{}
		for _, i := range d.Indexes {
			seen[i] = true
		}
		for _, r := range d.Rejected {
			if seen[r.Index] {
				t.Fatalf("index %d is both accepted and rejected", r.Index)
			}
			seen[r.Index] = true
		}
		for i := range len(seen) {
			if !seen[i] {
				t.Fatalf("index %d was lost (%d items)", i, len(seen))
			}
		}
		for _, e := range d.Events {
			again, err := Parse(AppendJSON(nil, &e), time.Time{}, 0)
			if err != nil {
				t.Fatalf("re-encoded event does not parse: %v\n%s", err, AppendJSON(nil, &e))
			}
			sameEvent(t, again, e)
			var b Event
			rest, err := ReadBinary(AppendBinary(nil, &e), &b)
			if err != nil || len(rest) != 0 {
				t.Fatalf("binary round trip: %v", err)
			}
			sameEvent(t, b, e)
		}
		if bytes.Count(body, []byte{'\n'}) > 2000 {
			t.Skip()
		}
	})
}

func BenchmarkDecode1000(b *testing.B) {
	var body []byte
	for i := range 1000 {
		e := sample()[i%4]
		e.ID = fmt.Sprintf("ev-%d", i)
		body = AppendJSON(body, &e)
		body = append(body, '\n')
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := Decode(body, Options{MaxLineBytes: 65536, MaxEvents: 20000})
		if err != nil || len(d.Events) != 1000 {
			b.Fatal(err, len(d.Events))
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "events/s")
}

func TestAppendJSONWritesStandardJSONEscapes(t *testing.T) {
	e := sample()[0]
	e.MatterName = "a\"b\\c\u0007\u007f\u2028😀"
	line := AppendJSON(nil, &e)
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("AppendJSON wrote invalid JSON %s: %v", line, err)
	}
	if m["matter_name"] != e.MatterName {
		t.Fatalf("matter_name = %q, want %q", m["matter_name"], e.MatterName)
	}
}
