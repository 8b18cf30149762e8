package event

import (
	"encoding/binary"
	"errors"
	"strconv"
	"time"
)

// AppendJSON appends e as one JSON object in the wire format of SPEC section
// 3 (absent optional fields are left out). Parse(AppendJSON(e)) == e.
func AppendJSON(dst []byte, e *Event) []byte {
	dst = append(dst, '{')
	dst = jsonStr(dst, "event_id", e.ID, true)
	dst = jsonStr(dst, "kind", e.Kind.String(), false)
	dst = jsonStr(dst, "case_id", e.CaseID, false)
	dst = jsonStr(dst, "type", e.Type.String(), false)
	dst = jsonStr(dst, "at", e.At.Format(time.RFC3339Nano), false)
	dst = jsonStr(dst, "department", e.Department, false)
	dst = jsonOptStr(dst, "region", e.Region)
	dst = jsonOptStr(dst, "matter", e.Matter)
	dst = jsonOptStr(dst, "matter_name", e.MatterName)
	if e.Channel != ChannelNone {
		dst = jsonStr(dst, "channel", e.Channel.String(), false)
	}
	dst = jsonOptInt(dst, "legal_days", e.LegalDays)
	dst = jsonOptInt(dst, "promised_days", e.PromisedDays)
	dst = jsonOptInt(dst, "materials_total", e.MaterialsTotal)
	dst = jsonOptInt(dst, "materials_shared", e.MaterialsShared)
	dst = jsonOptStr(dst, "step", e.Step)
	if e.StepType != StepTypeNone {
		dst = jsonStr(dst, "step_type", e.StepType.String(), false)
	}
	dst = jsonOptInt(dst, "limit_days", e.LimitDays)
	dst = jsonOptStr(dst, "joint_id", e.JointID)
	if e.Rating > 0 {
		dst = jsonOptInt(dst, "rating", int32(e.Rating))
	}
	if e.Resolved != ResolvedAbsent {
		dst = append(dst, `,"resolved":`...)
		dst = strconv.AppendBool(dst, e.Resolved == ResolvedTrue)
	}
	if !e.Due.IsZero() {
		dst = jsonStr(dst, "due", e.Due.Format(DateLayout), false)
	}
	dst = jsonOptStr(dst, "responsible", e.Responsible)
	return append(dst, '}')
}

func jsonStr(dst []byte, key, val string, first bool) []byte {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	dst = append(dst, `":`...)
	return appendQuoted(dst, val)
}

// appendQuoted writes s as a JSON string. strconv.Quote is not JSON: it
// writes Go escapes such as \a and \x7f.
func appendQuoted(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func jsonOptStr(dst []byte, key, val string) []byte {
	if val == "" {
		return dst
	}
	return jsonStr(dst, key, val, false)
}

func jsonOptInt(dst []byte, key string, v int32) []byte {
	if v < 0 {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, `":`...)
	return strconv.AppendInt(dst, int64(v), 10)
}

// binaryVersion prefixes every binary event so the spool format can evolve.
const binaryVersion = 1

// AppendBinary appends the compact binary form of e (used by the spool: it
// is several times cheaper to read back than JSON).
func AppendBinary(dst []byte, e *Event) []byte {
	dst = append(dst, binaryVersion, byte(e.Kind), byte(e.Type), byte(e.Channel), byte(e.StepType), byte(e.Rating), byte(e.Resolved))
	_, off := e.At.Zone()
	dst = binary.AppendVarint(dst, e.At.UnixNano())
	dst = binary.AppendVarint(dst, int64(off))
	for _, v := range [...]int32{e.LegalDays, e.PromisedDays, e.MaterialsTotal, e.MaterialsShared, e.LimitDays} {
		dst = binary.AppendVarint(dst, int64(v))
	}
	var due int64 = -1 << 62
	if !e.Due.IsZero() {
		due = e.Due.Unix() / 86400
	}
	dst = binary.AppendVarint(dst, due)
	for _, s := range [...]string{e.ID, e.CaseID, e.Department, e.Region, e.Matter, e.MatterName, e.Step, e.JointID, e.Responsible} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

var errShort = errors.New("binary event: truncated")

// ReadBinary decodes one event written by AppendBinary and returns the rest
// of buf.
func ReadBinary(buf []byte, e *Event) ([]byte, error) {
	if len(buf) < 7 {
		return nil, errShort
	}
	if buf[0] != binaryVersion {
		return nil, errors.New("binary event: unknown version " + strconv.Itoa(int(buf[0])))
	}
	e.Kind, e.Type, e.Channel, e.StepType = Kind(buf[1]), Type(buf[2]), Channel(buf[3]), StepType(buf[4])
	e.Rating, e.Resolved = int8(buf[5]), int8(buf[6])
	buf = buf[7:]
	var ints [8]int64
	for i := range ints {
		v, n := binary.Varint(buf)
		if n <= 0 {
			return nil, errShort
		}
		ints[i], buf = v, buf[n:]
	}
	e.At = time.Unix(0, ints[0]).In(zone(int(ints[1])))
	e.LegalDays, e.PromisedDays, e.MaterialsTotal = int32(ints[2]), int32(ints[3]), int32(ints[4])
	e.MaterialsShared, e.LimitDays = int32(ints[5]), int32(ints[6])
	e.Due = time.Time{}
	if ints[7] != -1<<62 {
		e.Due = time.Unix(ints[7]*86400, 0).UTC()
	}
	for _, s := range [...]*string{&e.ID, &e.CaseID, &e.Department, &e.Region, &e.Matter, &e.MatterName, &e.Step, &e.JointID, &e.Responsible} {
		l, n := binary.Uvarint(buf)
		if n <= 0 || uint64(len(buf)-n) < l {
			return nil, errShort
		}
		*s = string(buf[n : n+int(l)])
		buf = buf[n+int(l):]
	}
	return buf, nil
}

// zones caches fixed zones by offset: events arrive with a handful of
// offsets, and a new *Location per event would be wasteful.
var zones = map[int]*time.Location{0: time.UTC, 8 * 3600: time.FixedZone("", 8*3600)}

func zone(off int) *time.Location {
	if z, ok := zones[off]; ok {
		return z
	}
	return time.FixedZone("", off)
}
