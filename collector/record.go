package collector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"effidx/event"
)

// A spool record is one request's outcome: its accepted events and its
// rejections, with the receipt time and source they share.
//
//	u8 version | varint received_unix_nano | str source | str request_id
//	uvarint n_events | events (event.AppendBinary)...
//	uvarint n_rejected | (uvarint index | str department | str error | str raw)...
const recordVersion = 1

type record struct {
	receivedAt time.Time
	source     string
	requestID  string
	events     []event.Event
	rejected   []event.Rejection
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func (r *record) marshal(dst []byte) []byte {
	dst = append(dst, recordVersion)
	dst = binary.AppendVarint(dst, r.receivedAt.UnixNano())
	dst = appendStr(dst, r.source)
	dst = appendStr(dst, r.requestID)
	dst = binary.AppendUvarint(dst, uint64(len(r.events)))
	for i := range r.events {
		dst = event.AppendBinary(dst, &r.events[i])
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.rejected)))
	for _, rj := range r.rejected {
		dst = binary.AppendUvarint(dst, uint64(rj.Index))
		dst = appendStr(dst, rj.Department)
		dst = appendStr(dst, rj.Error)
		dst = appendStr(dst, string(rj.Raw))
	}
	return dst
}

var errRecord = errors.New("spool record: truncated")

func readStr(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return "", nil, errRecord
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}

// unmarshalInto appends the record's rows to batch.
func unmarshalInto(b []byte, batch *event.Batch) error {
	if len(b) == 0 || b[0] != recordVersion {
		return fmt.Errorf("spool record: unknown version")
	}
	b = b[1:]
	ns, k := binary.Varint(b)
	if k <= 0 {
		return errRecord
	}
	b = b[k:]
	received := time.Unix(0, ns)
	source, b, err := readStr(b)
	if err != nil {
		return err
	}
	reqID, b, err := readStr(b)
	if err != nil {
		return err
	}
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return errRecord
	}
	b = b[k:]
	for range n {
		var s event.Stored
		if b, err = event.ReadBinary(b, &s.Event); err != nil {
			return err
		}
		s.ReceivedAt, s.Source = received, source
		batch.Events = append(batch.Events, s)
	}
	n, k = binary.Uvarint(b)
	if k <= 0 {
		return errRecord
	}
	b = b[k:]
	for range n {
		idx, k := binary.Uvarint(b)
		if k <= 0 {
			return errRecord
		}
		b = b[k:]
		r := event.StoredRejection{ReceivedAt: received, Source: source, RequestID: reqID}
		r.Index = int(idx)
		if r.Department, b, err = readStr(b); err != nil {
			return err
		}
		if r.Error, b, err = readStr(b); err != nil {
			return err
		}
		var raw string
		if raw, b, err = readStr(b); err != nil {
			return err
		}
		r.Raw = []byte(raw)
		batch.Rejected = append(batch.Rejected, r)
	}
	if len(b) != 0 {
		return fmt.Errorf("spool record: %d bytes left over", len(b))
	}
	return nil
}
