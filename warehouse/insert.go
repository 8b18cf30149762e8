package warehouse

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"effidx/event"
)

func columnList(cols []Column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// Version orders copies of one event: the earliest receipt gets the largest
// version, so ReplacingMergeTree keeps the first copy (a resend is a no-op).
func Version(receivedAt time.Time) uint64 { return uint64(math.MaxInt64 - receivedAt.UnixNano()) }

// WriteBatch inserts a batch: events into events, rejections into
// rejected_events. Each call prepares new clickhouse-go batches (a batch
// whose Send failed cannot be sent again); the caller retries by calling
// again. Inserting the same rows twice is harmless: they collapse.
func (w *Warehouse) WriteBatch(ctx context.Context, b *event.Batch) error {
	if len(b.Events) > 0 {
		if err := w.insertEvents(ctx, b.Events); err != nil {
			return err
		}
	}
	if len(b.Rejected) > 0 {
		if err := w.insertRejected(ctx, b.Rejected); err != nil {
			return err
		}
	}
	return nil
}

// eventCols holds the column slices of one insert; appending whole columns
// skips clickhouse-go's per-value reflection, which dominates row Append.
type eventCols struct {
	id, caseID, dept, region, matter, matterName, step, joint, resp, source []string
	kind, typ, channel, stepType, rating, resolved                          []int8
	legal, promised, matTotal, matShared, limit                             []int32
	at, received                                                            []int64
	due                                                                     []time.Time
	ver                                                                     []uint64
}

func (w *Warehouse) insertEvents(ctx context.Context, evs []event.Stored) error {
	n := len(evs)
	c := eventCols{}
	for _, p := range []*[]string{&c.id, &c.caseID, &c.dept, &c.region, &c.matter, &c.matterName, &c.step, &c.joint, &c.resp, &c.source} {
		*p = make([]string, 0, n)
	}
	for _, p := range []*[]int8{&c.kind, &c.typ, &c.channel, &c.stepType, &c.rating, &c.resolved} {
		*p = make([]int8, 0, n)
	}
	for _, p := range []*[]int32{&c.legal, &c.promised, &c.matTotal, &c.matShared, &c.limit} {
		*p = make([]int32, 0, n)
	}
	c.at, c.received = make([]int64, 0, n), make([]int64, 0, n)
	c.due, c.ver = make([]time.Time, 0, n), make([]uint64, 0, n)
	for i := range evs {
		e := &evs[i]
		c.id = append(c.id, e.ID)
		c.kind = append(c.kind, int8(e.Kind))
		c.caseID = append(c.caseID, e.CaseID)
		c.typ = append(c.typ, int8(e.Type))
		c.at = append(c.at, e.At.Unix())
		c.dept = append(c.dept, e.Department)
		c.region = append(c.region, e.Region)
		c.matter = append(c.matter, e.Matter)
		c.matterName = append(c.matterName, e.MatterName)
		c.channel = append(c.channel, int8(e.Channel))
		c.legal = append(c.legal, e.LegalDays)
		c.promised = append(c.promised, e.PromisedDays)
		c.matTotal = append(c.matTotal, e.MaterialsTotal)
		c.matShared = append(c.matShared, e.MaterialsShared)
		c.step = append(c.step, e.Step)
		c.stepType = append(c.stepType, int8(e.StepType))
		c.limit = append(c.limit, e.LimitDays)
		c.joint = append(c.joint, e.JointID)
		c.rating = append(c.rating, e.Rating)
		c.resolved = append(c.resolved, e.Resolved)
		due := e.Due
		if due.IsZero() {
			due = time.Unix(0, 0).UTC()
		}
		c.due = append(c.due, due)
		c.resp = append(c.resp, e.Responsible)
		c.source = append(c.source, e.Source)
		c.received = append(c.received, e.ReceivedAt.Unix())
		c.ver = append(c.ver, Version(e.ReceivedAt))
	}
	// Same order as eventColumns.
	cols := []any{c.id, c.kind, c.caseID, c.typ, c.at, c.dept, c.region, c.matter, c.matterName, c.channel,
		c.legal, c.promised, c.matTotal, c.matShared, c.step, c.stepType, c.limit, c.joint, c.rating,
		c.resolved, c.due, c.resp, c.source, c.received, c.ver}
	return w.insertColumns(ctx, "events", eventColumns, cols)
}

func (w *Warehouse) insertRejected(ctx context.Context, rs []event.StoredRejection) error {
	n := len(rs)
	received := make([]int64, 0, n)
	source, reqID, dept, errs, raw := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	idx, ver := make([]uint32, 0, n), make([]uint64, 0, n)
	for i := range rs {
		r := &rs[i]
		received = append(received, r.ReceivedAt.Unix())
		source = append(source, r.Source)
		reqID = append(reqID, r.RequestID)
		idx = append(idx, uint32(r.Index))
		dept = append(dept, r.Department)
		errs = append(errs, r.Error)
		raw = append(raw, string(r.Raw))
		ver = append(ver, Version(r.ReceivedAt))
	}
	return w.insertColumns(ctx, "rejected_events", rejectedColumns, []any{received, source, reqID, idx, dept, errs, raw, ver})
}

func (w *Warehouse) insertColumns(ctx context.Context, table string, schema []Column, cols []any) error {
	q := fmt.Sprintf("INSERT INTO %s.%s (%s)", w.cfg.Database, table, columnList(schema))
	batch, err := w.conn.PrepareBatch(ctx, q)
	if err != nil {
		return fmt.Errorf("prepare insert into %s: %w", table, err)
	}
	defer batch.Abort() //nolint:errcheck // after Send, Abort is a no-op
	for i, col := range cols {
		if err := batch.Column(i).Append(col); err != nil {
			return fmt.Errorf("insert into %s, column %s: %w", table, schema[i].Name, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", batch.Rows(), table, err)
	}
	return nil
}

// EventColumnList is the events insert column list (for baselines and
// tools that insert rows themselves).
func EventColumnList() string { return columnList(eventColumns) }

// EventRow is one stored event as row values in EventColumnList order, for
// clickhouse-go's row-wise Append.
func EventRow(e *event.Stored) []any {
	due := e.Due
	if due.IsZero() {
		due = time.Unix(0, 0).UTC()
	}
	return []any{e.ID, int8(e.Kind), e.CaseID, int8(e.Type), e.At, e.Department, e.Region, e.Matter,
		e.MatterName, int8(e.Channel), e.LegalDays, e.PromisedDays, e.MaterialsTotal, e.MaterialsShared,
		e.Step, int8(e.StepType), e.LimitDays, e.JointID, e.Rating, e.Resolved, due, e.Responsible,
		e.Source, e.ReceivedAt, Version(e.ReceivedAt)}
}

// LightChange is one row of light_changes.
type LightChange struct {
	Kind, CaseID, Item, Department string
	Light                          string // yellow, red or legal_overdue
	Since, ObservedAt              time.Time
	Calendar                       string
}

// WriteLightChanges inserts light changes; a repeated one collapses.
func (w *Warehouse) WriteLightChanges(ctx context.Context, cs []LightChange) error {
	if len(cs) == 0 {
		return nil
	}
	kind, caseID, item, dept, light, cal := make([]string, len(cs)), make([]string, len(cs)), make([]string, len(cs)), make([]string, len(cs)), make([]string, len(cs)), make([]string, len(cs))
	since, observed := make([]int64, len(cs)), make([]int64, len(cs))
	ver := make([]uint64, len(cs))
	for i, c := range cs {
		kind[i], caseID[i], item[i], dept[i], light[i], cal[i] = c.Kind, c.CaseID, c.Item, c.Department, c.Light, c.Calendar
		since[i], observed[i], ver[i] = c.Since.Unix(), c.ObservedAt.Unix(), Version(c.ObservedAt)
	}
	return w.insertColumns(ctx, "light_changes", lightChangeColumns, []any{kind, caseID, item, dept, light, since, observed, cal, ver})
}

// LightChangeKeys lists the (kind, case, item, light) already recorded, so
// that a restarted job records only what is new.
func (w *Warehouse) LightChangeKeys(ctx context.Context) ([]LightKey, error) {
	rows, err := w.conn.Query(ctx, fmt.Sprintf("SELECT DISTINCT toString(kind), case_id, item, toString(light) FROM %s.light_changes", w.cfg.Database))
	if err != nil {
		return nil, fmt.Errorf("read light_changes: %w", err)
	}
	defer rows.Close()
	var out []LightKey
	for rows.Next() {
		var k LightKey
		if err := rows.Scan(&k.Kind, &k.CaseID, &k.Item, &k.Light); err != nil {
			return nil, fmt.Errorf("read light_changes: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// LightKey identifies a light change.
type LightKey struct{ Kind, CaseID, Item, Light string }
