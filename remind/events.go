package remind

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"effidx/event"
	"effidx/warehouse"
)

// EventSink takes the reminded and responded events: durable when Send
// returns nil (the collector's spool).
type EventSink interface {
	Send(ctx context.Context, events []event.Event) error
}

// SinkFunc is an EventSink of a function (the in-process collector's
// Ingest).
type SinkFunc func(ctx context.Context, events []event.Event) error

// Send implements EventSink.
func (f SinkFunc) Send(ctx context.Context, events []event.Event) error { return f(ctx, events) }

// PostSink POSTs the events as NDJSON to a collector's /api/v1/events,
// for a process that runs the jobs without the collector.
type PostSink struct {
	URL, Token string
	Client     *http.Client
}

// Send implements EventSink: 202 with nothing rejected is success.
func (p *PostSink) Send(ctx context.Context, events []event.Event) error {
	var body []byte
	for i := range events {
		body = event.AppendJSON(body, &events[i])
		body = append(body, '\n')
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post reminder events: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if p.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.Token)
	}
	c := p.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("post reminder events to %s: %w", p.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("post reminder events to %s: %s: %s", p.URL, resp.Status, bytes.TrimSpace(b))
	}
	var ans struct {
		Rejected []struct {
			Index int    `json:"index"`
			Error string `json:"error"`
		} `json:"rejected"`
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		return fmt.Errorf("post reminder events to %s: answer: %w", p.URL, err)
	}
	if len(ans.Rejected) > 0 {
		return fmt.Errorf("post reminder events to %s: %d rejected, first: %s", p.URL, len(ans.Rejected), ans.Rejected[0].Error)
	}
	return nil
}

// pendingEvent is an event the log says is owed.
type pendingEvent struct {
	id, typ, topic, kind, caseID, item, dept, matter, reminderID, responsible string
	at                                                                        time.Time
}

// emit is the outbox: it hands the collector every reminded and responded
// event the log owes (a first reminder to the responsible of an urge, an
// acknowledgement of one) and records them as emitted. Ids are derived
// from the reminders, so an event emitted twice (a crash between the
// collector's answer and the record) collapses.
func (j *Job) emit(ctx context.Context, rep *Report) error {
	if j.sink == nil {
		return nil
	}
	j.outbox.Lock()
	defer j.outbox.Unlock()
	now := j.now()
	rows, err := j.conn.Query(ctx, fmt.Sprintf(`SELECT toString(record), id, topic, kind, case_id, item, department, matter, reminder_id, recipient_name, at
FROM %s.reminder_log
WHERE at >= ? AND (record = 'sent' AND level = 'responsible' AND reminder_id != '' OR record IN ('ack', 'emitted'))`, j.db),
		now.Add(-j.cfg.OutboxWindow))
	if err != nil {
		return fmt.Errorf("reminder outbox: %w", err)
	}
	reminded := map[string]*pendingEvent{}
	acks := map[string]*pendingEvent{}
	emitted := map[string]bool{}
	for rows.Next() {
		var rec string
		var p pendingEvent
		if err := rows.Scan(&rec, &p.id, &p.topic, &p.kind, &p.caseID, &p.item, &p.dept, &p.matter, &p.reminderID, &p.responsible, &p.at); err != nil {
			rows.Close()
			return fmt.Errorf("reminder outbox: %w", err)
		}
		switch rec {
		case warehouse.RecordEmitted:
			emitted[p.id] = true
		case warehouse.RecordSent:
			p.typ = event.TypeReminded.String()
			p.id = eventID(p.typ, p.caseID, p.reminderID)
			if q := reminded[p.id]; q == nil || p.at.Before(q.at) {
				reminded[p.id] = &p
			}
		case warehouse.RecordAck:
			if q := acks[p.topic]; q == nil || p.at.Before(q.at) {
				acks[p.topic] = &p
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reminder outbox: %w", err)
	}
	var owed []*pendingEvent
	for id, p := range reminded {
		if !emitted[id] && !j.wasEmitted(id) {
			owed = append(owed, p)
		}
	}
	// An acknowledgement answers every reminder of its step sent before it,
	// however long ago.
	responded, err := j.responses(ctx, acks)
	if err != nil {
		return err
	}
	for _, p := range responded {
		if !emitted[p.id] && !j.wasEmitted(p.id) {
			owed = append(owed, p)
		}
	}
	if len(owed) == 0 {
		return nil
	}
	slices.SortFunc(owed, func(a, b *pendingEvent) int { return a.at.Compare(b.at) })
	kinds, err := j.caseFacts(ctx, owed)
	if err != nil {
		return err
	}
	var evs []event.Event
	var recs []warehouse.ReminderRecord
	for _, p := range owed {
		f, ok := kinds[p.caseID]
		if !ok {
			j.log.Warn("reminder event waits: the case's kind is not known from its events yet", "case", p.caseID, "event", p.typ)
			continue
		}
		e := event.NewEvent()
		e.ID, e.CaseID, e.At, e.Department, e.Region, e.Matter, e.Step, e.Responsible =
			p.id, p.caseID, p.at, p.dept, f.region, p.matter, p.reminderID, p.responsible
		e.Kind = f.kind
		e.Type = event.TypeReminded
		if p.typ == event.TypeResponded.String() {
			e.Type = event.TypeResponded
		}
		evs = append(evs, e)
		recs = append(recs, warehouse.ReminderRecord{ID: p.id, Topic: p.topic, Record: warehouse.RecordEmitted, Kind: p.kind, CaseID: p.caseID,
			Item: p.item, Department: p.dept, Matter: p.matter, ReminderID: p.reminderID, At: now, Replica: j.replica, Note: p.typ})
	}
	if len(evs) == 0 {
		return nil
	}
	if err := j.sink.Send(ctx, evs); err != nil {
		return fmt.Errorf("reminder events to the collector (they go out at the next run): %w", err)
	}
	for _, e := range evs {
		j.markEmitted(e.ID)
	}
	rep.Emitted = len(evs)
	if err := j.writeRecords(ctx, recs); err != nil {
		// The events are in the collector; the next run sends them again
		// and they collapse there (same event ids).
		return fmt.Errorf("record emitted reminder events: %w", err)
	}
	return nil
}

// responses are the responded events of acknowledgements: one per
// reminder of the acknowledged step sent before the acknowledgement.
func (j *Job) responses(ctx context.Context, acks map[string]*pendingEvent) ([]*pendingEvent, error) {
	if len(acks) == 0 {
		return nil, nil
	}
	var topics, cases []string
	for t, a := range acks {
		topics, cases = append(topics, t), append(cases, a.caseID)
	}
	slices.Sort(cases)
	cases = slices.Compact(cases)
	rows, err := j.conn.Query(ctx, fmt.Sprintf(`SELECT topic, reminder_id, min(at)
FROM %s.reminder_log
WHERE case_id IN (SELECT arrayJoin(?)) AND topic IN (SELECT arrayJoin(?)) AND record = 'sent' AND level = 'responsible' AND reminder_id != ''
GROUP BY topic, reminder_id`, j.db), cases, topics)
	if err != nil {
		return nil, fmt.Errorf("reminders of acknowledged steps: %w", err)
	}
	defer rows.Close()
	var out []*pendingEvent
	for rows.Next() {
		var topic, rid string
		var at time.Time
		if err := rows.Scan(&topic, &rid, &at); err != nil {
			return nil, fmt.Errorf("reminders of acknowledged steps: %w", err)
		}
		a := acks[topic]
		if a == nil || at.After(a.at) {
			continue
		}
		p := *a
		p.typ = event.TypeResponded.String()
		p.reminderID = rid
		p.id = eventID(p.typ, p.caseID, rid)
		out = append(out, &p)
	}
	return out, rows.Err()
}

type caseFact struct {
	kind   event.Kind
	region string
}

// caseFacts are the kind and region of the cases of owed events, from the
// cases' own events (a step item does not say its case's kind).
func (j *Job) caseFacts(ctx context.Context, owed []*pendingEvent) (map[string]caseFact, error) {
	out := map[string]caseFact{}
	var cases []string
	for _, p := range owed {
		cases = append(cases, p.caseID)
	}
	slices.Sort(cases)
	cases = slices.Compact(cases)
	for lo := 0; lo < len(cases); lo += chunkIDs {
		part := cases[lo:min(lo+chunkIDs, len(cases))]
		rows, err := j.conn.Query(ctx, fmt.Sprintf(`SELECT case_id, toInt8(argMin(kind, at)), argMinIf(region, at, type = 'accepted')
FROM %s.events
WHERE case_id IN (SELECT arrayJoin(?))
GROUP BY case_id`, j.db), part)
		if err != nil {
			return nil, fmt.Errorf("kinds of reminded cases: %w", err)
		}
		for rows.Next() {
			var id, region string
			var k int8
			if err := rows.Scan(&id, &k, &region); err != nil {
				rows.Close()
				return nil, fmt.Errorf("kinds of reminded cases: %w", err)
			}
			out[id] = caseFact{kind: event.Kind(k), region: region}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("kinds of reminded cases: %w", err)
		}
	}
	return out, nil
}

func (j *Job) wasEmitted(id string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.emitted[id]
}

func (j *Job) markEmitted(id string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.emitted) > 200000 {
		clear(j.emitted) // the log's emitted records still say it
	}
	j.emitted[id] = true
}
