package event

import (
	"errors"
	"math"
	"unicode/utf8"
)

// The fast path: a hand-written decoder for the flat event object that
// fills the same wire struct encoding/json (with DisallowUnknownFields)
// would, but only for inputs it handles with certainty. Whatever else it
// meets (a key that is not an exact field name, a duplicate key, a nested
// value, a number with a fraction or exponent or out of the int64 range, a
// type mismatch, invalid UTF-8, a lone surrogate, a syntax error, trailing
// data ...) makes it refuse, and Parse then runs the encoding/json path, so
// results and error texts are exactly those of encoding/json.

// errNotFast is the fast path's refusal: the input needs encoding/json.
var errNotFast = errors.New("event: the fast JSON path does not handle this input")

// Field numbers of the wire struct: the string fields first (they index
// wireArena.str), then the integers (wireArena.num[f-fLegalDays]), then the
// one boolean.
const (
	fEventID = iota
	fKind
	fCaseID
	fType
	fAt
	fDepartment
	fRegion
	fMatter
	fMatterName
	fChannel
	fStep
	fStepType
	fJointID
	fDue
	fResponsible
	fLegalDays // first integer field
	fPromisedDays
	fMaterialsTotal
	fMaterialsShared
	fLimitDays
	fRating
	fResolved // the boolean field
	numFields

	numStrFields = fLegalDays
	numIntFields = fResolved - fLegalDays
)

// fieldOf maps a key to its field number, -1 when the key is not exactly
// the JSON name of a wire field. (encoding/json would also accept a key
// that matches case-insensitively; such keys go to the slow path.)
func fieldOf(key []byte) int {
	switch string(key) { // no allocation: the compiler compares in place
	case "event_id":
		return fEventID
	case "kind":
		return fKind
	case "case_id":
		return fCaseID
	case "type":
		return fType
	case "at":
		return fAt
	case "department":
		return fDepartment
	case "region":
		return fRegion
	case "matter":
		return fMatter
	case "matter_name":
		return fMatterName
	case "channel":
		return fChannel
	case "step":
		return fStep
	case "step_type":
		return fStepType
	case "joint_id":
		return fJointID
	case "due":
		return fDue
	case "responsible":
		return fResponsible
	case "legal_days":
		return fLegalDays
	case "promised_days":
		return fPromisedDays
	case "materials_total":
		return fMaterialsTotal
	case "materials_shared":
		return fMaterialsShared
	case "limit_days":
		return fLimitDays
	case "rating":
		return fRating
	case "resolved":
		return fResolved
	}
	return -1
}

// enumNames are the valid values of the enum fields. A value equal to one
// of them is stored as the constant string, so it costs no memory.
func enumNames(f int) []string {
	switch f {
	case fKind:
		return kindNames[1:]
	case fType:
		return typeNames[1:]
	case fChannel:
		return channelNames[1:]
	case fStepType:
		return stepTypeNames[1:]
	}
	return nil
}

// wireArena holds the values the pointers of a fast-decoded wire point to,
// so that one event needs no allocation per field. Parse keeps it on the
// stack.
type wireArena struct {
	str  [numStrFields]string
	num  [numIntFields]int64
	flag bool
}

// parseWire decodes raw into w exactly as encoding/json with
// DisallowUnknownFields (and Parse's checks for trailing data) would, or
// returns errNotFast, leaving w untouched, when the input needs
// encoding/json. Parse uses wireArena.decode directly to keep the field
// values on the stack; this form is for tests and other callers.
func parseWire(raw []byte, w *wire) error {
	a := new(wireArena)
	v, ok := a.decode(raw)
	if !ok {
		return errNotFast
	}
	*w = v
	return nil
}

// stackScratch is how many bytes of unescaped string values decode gathers
// on the stack before its scratch buffer moves to the heap.
const stackScratch = 512

// decode is parseWire with the field values stored in a. ok is false when
// the input needs encoding/json. The returned wire points into a.
//
// All string values of the event (except the enum values, see enumNames)
// share one allocation: they are unescaped one after another into a scratch
// buffer that is converted to a string once.
func (a *wireArena) decode(raw []byte) (w wire, ok bool) {
	var scratch [stackScratch]byte
	var span [numStrFields]struct{ lo, hi int }
	buf := scratch[:0]
	var seen, present, interned uint32

	i := skipSpace(raw, 0)
	if i == len(raw) || raw[i] != '{' {
		return w, false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		i++
	} else {
		for {
			// The key: plain bytes only; an escape can only make it an
			// exact field name in a way this path does not bother with.
			if i == len(raw) || raw[i] != '"' {
				return w, false
			}
			i++
			k := i
			for i < len(raw) && raw[i] != '"' && raw[i] != '\\' && raw[i] >= ' ' {
				i++
			}
			if i == len(raw) || raw[i] != '"' {
				return w, false
			}
			f := fieldOf(raw[k:i])
			if f < 0 || seen&(1<<f) != 0 {
				return w, false
			}
			seen |= 1 << f
			i = skipSpace(raw, i+1)
			if i == len(raw) || raw[i] != ':' {
				return w, false
			}
			i = skipSpace(raw, i+1)
			if i == len(raw) {
				return w, false
			}

			// The value.
			switch c := raw[i]; {
			case c == 'n':
				// null leaves the pointer nil, as encoding/json does.
				if !hasLiteral(raw[i:], "null") {
					return w, false
				}
				i += len("null")
			case f < numStrFields:
				if c != '"' {
					return w, false
				}
				lo := len(buf)
				i, buf, ok = unquote(raw, i+1, buf)
				if !ok {
					return w, false
				}
				if names := enumNames(f); names != nil {
					for _, n := range names {
						if string(buf[lo:]) == n {
							a.str[f] = n
							interned |= 1 << f
							buf = buf[:lo]
							break
						}
					}
				}
				span[f].lo, span[f].hi = lo, len(buf)
				present |= 1 << f
			case f < fResolved:
				var v int64
				i, v, ok = parseInt(raw, i)
				if !ok {
					return w, false
				}
				a.num[f-fLegalDays] = v
				present |= 1 << f
			default: // fResolved
				switch {
				case hasLiteral(raw[i:], "true"):
					a.flag = true
					i += len("true")
				case hasLiteral(raw[i:], "false"):
					a.flag = false
					i += len("false")
				default:
					return w, false
				}
				present |= 1 << f
			}

			// What follows the value: a delimiter. Anything else (a
			// fraction, an exponent, a leading zero's next digit, a
			// misspelt literal's rest) is left to encoding/json.
			i = skipSpace(raw, i)
			if i == len(raw) {
				return w, false
			}
			if raw[i] == '}' {
				i++
				break
			}
			if raw[i] != ',' {
				return w, false
			}
			i = skipSpace(raw, i+1)
		}
	}
	if skipSpace(raw, i) != len(raw) {
		return w, false
	}

	s := string(buf) // the one allocation for all string values
	for f := range numStrFields {
		if present&(1<<f) != 0 && interned&(1<<f) == 0 {
			a.str[f] = s[span[f].lo:span[f].hi]
		}
	}
	w.EventID = a.strp(present, fEventID)
	w.Kind = a.strp(present, fKind)
	w.CaseID = a.strp(present, fCaseID)
	w.Type = a.strp(present, fType)
	w.At = a.strp(present, fAt)
	w.Department = a.strp(present, fDepartment)
	w.Region = a.strp(present, fRegion)
	w.Matter = a.strp(present, fMatter)
	w.MatterName = a.strp(present, fMatterName)
	w.Channel = a.strp(present, fChannel)
	w.Step = a.strp(present, fStep)
	w.StepType = a.strp(present, fStepType)
	w.JointID = a.strp(present, fJointID)
	w.Due = a.strp(present, fDue)
	w.Responsible = a.strp(present, fResponsible)
	w.LegalDays = a.intp(present, fLegalDays)
	w.PromisedDays = a.intp(present, fPromisedDays)
	w.MaterialsTotal = a.intp(present, fMaterialsTotal)
	w.MaterialsShared = a.intp(present, fMaterialsShared)
	w.LimitDays = a.intp(present, fLimitDays)
	w.Rating = a.intp(present, fRating)
	if present&(1<<fResolved) != 0 {
		w.Resolved = &a.flag
	}
	return w, true
}

func (a *wireArena) strp(present uint32, f int) *string {
	if present&(1<<f) == 0 {
		return nil
	}
	return &a.str[f]
}

func (a *wireArena) intp(present uint32, f int) *int64 {
	if present&(1<<f) == 0 {
		return nil
	}
	return &a.num[f-fLegalDays]
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(raw []byte, i int) int {
	for i < len(raw) {
		switch raw[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func hasLiteral(b []byte, lit string) bool {
	return len(b) >= len(lit) && string(b[:len(lit)]) == lit
}

// unquote appends the string whose body starts at raw[i] (just after the
// opening quote) to buf, unescaped, and returns the index after the closing
// quote. ok is false for what encoding/json would reject or change: a
// control character, an unknown escape, a lone surrogate, invalid UTF-8 (it
// would be replaced by U+FFFD), an unterminated string.
func unquote(raw []byte, i int, buf []byte) (int, []byte, bool) {
	for {
		// A run of plain bytes.
		start := i
		ascii := true
		for i < len(raw) {
			c := raw[i]
			if c == '"' || c == '\\' || c < ' ' {
				break
			}
			if c >= utf8.RuneSelf {
				ascii = false
			}
			i++
		}
		if !ascii && !utf8.Valid(raw[start:i]) {
			return i, buf, false
		}
		buf = append(buf, raw[start:i]...)
		if i == len(raw) || raw[i] < ' ' {
			return i, buf, false
		}
		if raw[i] == '"' {
			return i + 1, buf, true
		}

		// An escape.
		if i+1 == len(raw) {
			return i, buf, false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			buf = append(buf, raw[i+1])
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r := hex4(raw, i+2)
			if r < 0 {
				return i, buf, false
			}
			i += 6
			if r >= 0xD800 && r < 0xE000 {
				// Only a high surrogate followed by an escaped low one is
				// taken here; encoding/json turns anything else into U+FFFD.
				if r >= 0xDC00 || i+1 >= len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
					return i, buf, false
				}
				lo := hex4(raw, i+2)
				if lo < 0xDC00 || lo >= 0xE000 {
					return i, buf, false
				}
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				i += 6
			}
			buf = utf8.AppendRune(buf, r)
			continue
		default:
			return i, buf, false
		}
		i += 2
	}
}

// hex4 is the value of the four hex digits at raw[i:], -1 if there are none.
func hex4(raw []byte, i int) rune {
	if i+4 > len(raw) {
		return -1
	}
	var r rune
	for _, c := range raw[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// parseInt reads a JSON integer (-?(0|[1-9][0-9]*)) at raw[i:]. ok is false
// when there is none or it does not fit an int64 (encoding/json reports
// that as a type error). A fraction or exponent after it is not looked at:
// the caller then finds no delimiter and refuses.
func parseInt(raw []byte, i int) (int, int64, bool) {
	neg := false
	if i < len(raw) && raw[i] == '-' {
		neg = true
		i++
	}
	start := i
	var u uint64
	for i < len(raw) && '0' <= raw[i] && raw[i] <= '9' {
		if i-start == 19 { // 20 digits never fit; 19 always fit a uint64
			return i, 0, false
		}
		u = u*10 + uint64(raw[i]-'0')
		i++
		if u == 0 { // a leading zero ends the number
			break
		}
	}
	switch {
	case i == start:
		return i, 0, false
	case !neg && u > math.MaxInt64:
		return i, 0, false
	case neg && u > 1<<63:
		return i, 0, false
	case neg:
		return i, int64(-u), true // -u wraps to the right value for 1<<63 too
	}
	return i, int64(u), true
}
