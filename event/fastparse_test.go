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

// jsonWire decodes raw into a wire the way parseJSON does: the reference
// the fast path must match field for field.
func jsonWire(raw []byte) (wire, error) {
	var w wire
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return wire{}, err
	}
	if dec.More() {
		return wire{}, errors.New("more than one value")
	}
	if _, err := dec.Token(); err == nil {
		return wire{}, errors.New("trailing data")
	}
	return w, nil
}

// sameParse fails unless the fast-path Parse and the encoding/json path
// give equal events and equal error texts for raw.
func sameParse(t *testing.T, raw []byte) {
	t.Helper()
	got, gotErr := Parse(raw, now, 0)
	want, wantErr := parseJSON(raw, now, 0)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("Parse(%q) error = %v, encoding/json path: %v", raw, gotErr, wantErr)
	}
	_, gotOff := got.At.Zone()
	_, wantOff := want.At.Zone()
	if !got.At.Equal(want.At) || gotOff != wantOff {
		t.Fatalf("Parse(%q) at = %v, encoding/json path: %v", raw, got.At, want.At)
	}
	got.At = want.At
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse(%q) =\n%+v\nencoding/json path:\n%+v", raw, got, want)
	}
}

// sameWire fails unless parseWire either refuses raw or fills exactly the
// wire encoding/json fills; it reports whether the fast path took it.
func sameWire(t *testing.T, raw []byte) bool {
	t.Helper()
	var w wire
	if err := parseWire(raw, &w); err != nil {
		if err != errNotFast {
			t.Fatalf("parseWire(%q) = %v, want nil or errNotFast", raw, err)
		}
		if !reflect.DeepEqual(w, wire{}) {
			t.Fatalf("parseWire(%q) refused but changed the wire", raw)
		}
		return false
	}
	want, err := jsonWire(raw)
	if err != nil {
		t.Fatalf("parseWire(%q) accepted what encoding/json rejects: %v", raw, err)
	}
	if !reflect.DeepEqual(w, want) {
		t.Fatalf("parseWire(%q) =\n%s\nencoding/json:\n%s", raw, dumpWire(w), dumpWire(want))
	}
	return true
}

func dumpWire(w wire) string {
	var b strings.Builder
	v := reflect.ValueOf(w)
	for i := range v.NumField() {
		if f := v.Field(i); !f.IsNil() {
			fmt.Fprintf(&b, "%s=%#v ", v.Type().Field(i).Name, f.Elem().Interface())
		}
	}
	return b.String()
}

// ev builds an object from raw JSON members after the good event's.
func ev(members string) string {
	return strings.TrimSuffix(good, "}") + "," + members + "}"
}

func TestFastPathMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		fast bool // the fast path takes it (else encoding/json does)
	}{
		// Taken by the fast path.
		{"a minimal event", good, true},
		{"every field", `{"event_id":"e9","kind":"service","case_id":"SV-1","type":"accepted","at":"2026-10-05T09:30:00+08:00","department":"D07","region":"R03","matter":"M100","matter_name":"食品经营许可","channel":"mobile","legal_days":20,"promised_days":0,"materials_total":5,"materials_shared":4,"step":"s1","step_type":"consult","limit_days":3,"joint_id":"J1","rating":4,"resolved":true,"due":"2026-10-31","responsible":"王芳"}`, true},
		{"an empty object", `{}`, true},
		{"an empty object with spaces", " { \t} \r\n", true},
		{"white space around every token", " \t\r\n{ \"event_id\" :\n\"e1\" ,\t\"legal_days\"\r: 5 , \"resolved\" : false }\n\t ", true},
		{"simple escapes", `{"matter_name":"a\"b\\c\/d\be\ff\ng\rh\ti"}`, true},
		{"an escaped NUL", `{"matter_name":"a\u0000b"}`, true},
		{"BMP escapes in both cases", `{"matter_name":"\u00e9\u4E2D\u00C9"}`, true},
		{"a surrogate pair", `{"matter_name":"x\ud83d\ude00y\uD83D\uDE00"}`, true},
		{"raw multibyte UTF-8", `{"matter_name":"食品 é 😀"}`, true},
		{"an escape right after multibyte text", `{"matter_name":"食\n品"}`, true},
		{"DEL and other high ASCII are plain bytes", "{\"matter_name\":\"a\x7fb\"}", true},
		{"null fields stay absent", `{"region":null,"legal_days":null,"resolved":null,"event_id":null}`, true},
		{"null among values", ev(`"region":null,"matter":"M1"`), true},
		{"zero", ev(`"legal_days":0`), true},
		{"minus zero", ev(`"legal_days":-0`), true},
		{"a negative integer", ev(`"legal_days":-17`), true},
		{"the largest int64", ev(`"legal_days":9223372036854775807`), true},
		{"the smallest int64", ev(`"legal_days":-9223372036854775808`), true},
		{"19 digits", ev(`"rating":1000000000000000000`), true},
		{"true", ev(`"resolved":true`), true},
		{"false", ev(`"resolved":false`), true},
		{"a known enum value", ev(`"channel":"window","step_type":"approve"`), true},
		{"an unknown enum value", `{"kind":"case","type":"closed","channel":"fax","step_type":"vote"}`, true},
		{"an enum value spelt with an escape", `{"kind":"ser\u0076ice"}`, true},
		{"an empty string", ev(`"region":""`), true},
		{"a long string past the stack scratch", ev(`"matter_name":"` + strings.Repeat("长", 300) + `"`), true},
		{"every string long", `{"event_id":"` + strings.Repeat("a", 200) + `","case_id":"` + strings.Repeat("b", 200) + `","department":"` + strings.Repeat("c", 200) + `","responsible":"` + strings.Repeat("d\\n", 100) + `"}`, true},
		{"values that fail validation", ev(`"legal_days":-1,"rating":9,"due":"x"`), true},

		// Left to encoding/json.
		{"empty input", ``, false},
		{"only white space", " \n", false},
		{"JSON null", `null`, false},
		{"an array", `[1,2]`, false},
		{"a string", `"just a string"`, false},
		{"a vertical tab is not JSON white space", "\v" + good, false},
		{"a byte order mark", "\xef\xbb\xbf" + good, false},
		{"a lone high surrogate", `{"matter_name":"a\ud83db"}`, false},
		{"a high surrogate at the end", `{"matter_name":"a\ud83d"}`, false},
		{"a high surrogate before a non-surrogate escape", `{"matter_name":"\ud83d\u0041"}`, false},
		{"a high surrogate before a simple escape", `{"matter_name":"\ud83d\n"}`, false},
		{"two high surrogates", `{"matter_name":"\ud83d\ud83d"}`, false},
		{"a lone low surrogate", `{"matter_name":"\ude00"}`, false},
		{"a short unicode escape", `{"matter_name":"\u12"}`, false},
		{"a non-hex unicode escape", `{"matter_name":"\u12g4"}`, false},
		{"an unknown escape", `{"matter_name":"\x41"}`, false},
		{"an escaped single quote", `{"matter_name":"\'"}`, false},
		{"a backslash at the end", `{"matter_name":"\`, false},
		{"invalid UTF-8", "{\"matter_name\":\"a\xffb\"}", false},
		{"a UTF-8 encoded surrogate", "{\"matter_name\":\"\xed\xa0\x80\"}", false},
		{"truncated UTF-8", "{\"matter_name\":\"\xe9\xa3\"}", false},
		{"a raw tab in a string", "{\"matter_name\":\"a\tb\"}", false},
		{"a raw newline in a string", "{\"matter_name\":\"a\nb\"}", false},
		{"an unterminated string", `{"matter_name":"abc`, false},
		{"one past the largest int64", ev(`"legal_days":9223372036854775808`), false},
		{"one past the smallest int64", ev(`"legal_days":-9223372036854775809`), false},
		{"20 digits", ev(`"legal_days":10000000000000000000`), false},
		{"a leading zero", ev(`"legal_days":01`), false},
		{"a lone minus", ev(`"legal_days":-`), false},
		{"a plus sign", ev(`"legal_days":+1`), false},
		{"a fraction", ev(`"promised_days":1.5`), false},
		{"an integral fraction", ev(`"promised_days":1.0`), false},
		{"an exponent", ev(`"promised_days":1e2`), false},
		{"a capital exponent", ev(`"promised_days":1E2`), false},
		{"minus zero point zero", ev(`"promised_days":-0.0`), false},
		{"an unknown key", ev(`"promise_days":3`), false},
		{"a key in other case", `{"Event_ID":"e1","KIND":"service"}`, false},
		{"an escaped key", `{"event\u005fid":"e1"}`, false},
		{"a duplicate key", ev(`"region":"R1","region":"R2"`), false},
		{"a duplicate key after null", ev(`"region":null,"region":"R2"`), false},
		{"a nested object", ev(`"region":{"a":1}`), false},
		{"a nested array", ev(`"legal_days":[1]`), false},
		{"a number for a string", ev(`"region":5`), false},
		{"a string for a number", ev(`"legal_days":"5"`), false},
		{"a boolean for a string", ev(`"region":true`), false},
		{"a number for a boolean", ev(`"resolved":1`), false},
		{"a string for a boolean", ev(`"resolved":"true"`), false},
		{"a misspelt literal", ev(`"resolved":tru`), false},
		{"a literal with more letters", ev(`"resolved":truex`), false},
		{"a misspelt null", ev(`"region":nul`), false},
		{"a trailing comma", `{"kind":"task",}`, false},
		{"a missing comma", `{"kind":"task" "type":"accepted"}`, false},
		{"a missing colon", `{"kind" "task"}`, false},
		{"an unclosed object", `{"kind":"task"`, false},
		{"two objects", good + good, false},
		{"two objects on two lines", good + "\n" + good, false},
		{"a comma after the object", good + ",", false},
		{"text after the object", good + " x", false},
		{"a NUL after the object", good + "\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fast := sameWire(t, []byte(tt.raw)); fast != tt.fast {
				t.Errorf("fast path took it: %v, want %v", fast, tt.fast)
			}
			sameParse(t, []byte(tt.raw))
		})
	}
}

func TestFastPathUnescapes(t *testing.T) {
	var w wire
	raw := `{"matter_name":"\"\\\/\b\f\n\r\t\u00e9\u4e2d\ud83d\ude00 食"}`
	if err := parseWire([]byte(raw), &w); err != nil {
		t.Fatal(err)
	}
	if want := "\"\\/\b\f\n\r\t\u00e9\u4e2d\U0001F600 食"; w.MatterName == nil || *w.MatterName != want {
		t.Fatalf("matter_name = %q, want %q", deref(w.MatterName), want)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestFastPathLeavesErrorTextsUnchanged(t *testing.T) {
	tests := []struct{ raw, want string }{
		{ev(`"promise_days":3`), `unknown field "promise_days" (fields are listed in SPEC section 3)`},
		{ev(`"promised_days":1.5`), `field "promised_days" must be int64, got JSON number 1.5`},
		{ev(`"legal_days":9223372036854775808`), `field "legal_days" must be int64, got JSON number 9223372036854775808`},
		{ev(`"region":{"a":1}`), `field "region" must be string, got JSON object`},
		{good + good, "invalid JSON: more than one value on the line"},
		{`[1,2]`, "got a JSON array: an event must be one JSON object"},
	}
	for _, tt := range tests {
		if _, err := Parse([]byte(tt.raw), now, 0); err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%s) error = %v, want %q", tt.raw, err, tt.want)
		}
	}
}

func TestFastPathAllocatesOnceForAllStrings(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation changes allocations")
	}
	for _, e := range sample() {
		line := AppendJSON(nil, &e)
		if !sameWire(t, line) {
			t.Fatalf("the fast path refused a sample event: %s", line)
		}
		if n := testing.AllocsPerRun(100, func() {
			if _, err := Parse(line, time.Time{}, 0); err != nil {
				t.Fatal(err)
			}
		}); n > 1 {
			t.Errorf("Parse(%s) allocates %v times, want at most 1", line, n)
		}
	}
}

// FuzzParseMatchesEncodingJSON: for any input, Parse (fast path first) and
// the encoding/json path give the same event or the same error text, and
// whatever the fast path accepts decodes to the same wire as with
// encoding/json.
func FuzzParseMatchesEncodingJSON(f *testing.F) {
	for _, e := range sample() {
		f.Add(AppendJSON(nil, &e))
	}
	for _, s := range []string{
		good,
		`{}`,
		" {\"event_id\" : \"e1\" ,\t\"legal_days\":\r\n-0}\n",
		`{"event_id":"\u00e9\ud83d\ude00","kind":"ticket","case_id":"x","type":"completed","resolved":true,"at":"2026-10-05T09:30:00.5-02:30","department":"d"}`,
		`{"matter_name":"\ud83d\u0041\ude00\ud83d"}`,
		`{"matter_name":"\"\\\/\b\f\n\r\t\u0000"}`,
		"{\"matter_name\":\"\xff\xed\xa0\x80\"}",
		ev(`"legal_days":9223372036854775808,"promised_days":-9223372036854775808`),
		ev(`"promised_days":1.5e3`),
		ev(`"legal_days":01`),
		ev(`"Region":"r","REGION":"R"`),
		ev(`"region":"a","region":null`),
		ev(`"region":{"a":[1,{"b":null}]}`),
		ev(`"resolved":null,"rating":null`),
		`{"event\u005fid":"e1"}`,
		good + " x",
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		sameWire(t, raw)
		sameParse(t, raw)
	})
}
