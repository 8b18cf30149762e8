package simulate

import (
	"bytes"
	"strconv"

	"effidx/event"
)

// malformed appends a broken copy of e, of the kinds source systems really
// send: a line cut short, a missing required field, an unknown enum value,
// a time without offset, a negative limit. Its event_id differs from e's so a
// fixed resend would not collide with the good event.
func (g *generator) malformed(dst []byte, e *event.Event) []byte {
	r := g.bad
	bad := *e
	bad.ID += "-x"
	start := len(dst)
	switch r.IntN(5) {
	case 0: // cut short (a crashed sender, a torn write)
		dst = event.AppendJSON(dst, &bad)
		return dst[:start+1+r.IntN(len(dst)-start-1)]
	case 1: // a required field missing
		dst = event.AppendJSON(dst, &bad)
		return dropField(dst, start, []string{"department", "case_id", "at", "type"}[r.IntN(4)])
	case 2: // an enum value this version does not know
		dst = event.AppendJSON(dst, &bad)
		switch {
		case e.Channel != event.ChannelNone && r.IntN(2) == 0:
			return replaceValue(dst, start, "channel", "wechat")
		case r.IntN(2) == 0:
			return replaceValue(dst, start, "kind", "hotline")
		}
		return replaceValue(dst, start, "type", "closed")
	case 3: // local time without offset
		dst = event.AppendJSON(dst, &bad)
		return replaceValue(dst, start, "at", e.At.Format("2006-01-02T15:04:05"))
	default: // a negative limit (a unit or sign mistake)
		bad.LegalDays = event.Absent
		dst = event.AppendJSON(dst, &bad)
		dst = dst[:len(dst)-1]
		dst = append(dst, `,"legal_days":-`...)
		dst = strconv.AppendInt(dst, int64(1+r.IntN(30)), 10)
		return append(dst, '}')
	}
}

// valueSpan finds the quoted value of a string field in line[start:]; the
// fields touched here never contain quotes or escapes.
func valueSpan(line []byte, start int, field string) (key, lo, hi int) {
	pat := `"` + field + `":"`
	i := bytes.Index(line[start:], []byte(pat))
	if i < 0 {
		return -1, 0, 0
	}
	key = start + i
	lo = key + len(pat)
	hi = lo + bytes.IndexByte(line[lo:], '"')
	return key, lo, hi
}

func replaceValue(line []byte, start int, field, val string) []byte {
	_, lo, hi := valueSpan(line, start, field)
	if lo == 0 {
		return line
	}
	tail := append([]byte(val), line[hi:]...)
	return append(line[:lo], tail...)
}

func dropField(line []byte, start int, field string) []byte {
	key, _, hi := valueSpan(line, start, field)
	if key < 0 {
		return line
	}
	// The field is never first (event_id is), so drop the comma before it.
	return append(line[:key-1], line[hi+1:]...)
}
