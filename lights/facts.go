// Package lights computes the overdue light (亮灯) of every open case, step,
// ticket, task and milestone from the events in ClickHouse, keeps when each
// item turned yellow and red, and serves the current lights.
package lights

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"effidx/event"
)

// Item kinds: the case kinds of SPEC 3 plus the two sub-items with clocks of
// their own.
const (
	KindStep      = "step"
	KindMilestone = "milestone"
)

// Interval is a suspension; To is zero while it is still open.
type Interval struct{ From, To time.Time }

// Item is one open thing with a clock, as derived from its events.
type Item struct {
	Kind        string // service, internal, scenario, ticket, task, step, milestone
	CaseID      string
	Sub         string // step or milestone id; "" for the case itself
	Department  string // owning department; for steps the step's department
	Matter      string
	Responsible string
	Start       time.Time // accepted, or step started
	Promised    int       // working days; -1 when absent (steps: limit_days)
	Legal       int       // working days; -1 when absent
	DueDate     time.Time // calendar due date (tasks and milestones), else zero
	Suspensions []Interval

	dead bool // superseded by a newer derivation of its case (Job state)
}

// Every query reads the events table whole and de-duplicates by
// aggregation (min/argMin ignore a resent copy; pair skips a repeated
// suspension), so late and out-of-order events are simply part of the next
// run. Suspension instants come as UInt32 and the kind as Int8: scanning
// them is much cheaper than DateTime arrays and strings for a million rows.
const (
	casesSQL = `SELECT toInt8(kind), case_id,
    argMinIf(department, at, type = 'accepted'),
    argMinIf(matter, at, type = 'accepted'),
    argMaxIf(responsible, at, responsible != ''),
    minIf(at, type = 'accepted'),
    argMinIf(promised_days, at, type = 'accepted'),
    argMinIf(legal_days, at, type = 'accepted'),
    groupArrayIf(toUInt32(at), type = 'suspended'),
    groupArrayIf(toUInt32(at), type = 'resumed')
FROM %[1]s.events
WHERE kind IN ('service', 'internal', 'scenario', 'ticket')%[2]s
GROUP BY kind, case_id
HAVING countIf(type = 'accepted') > 0 AND countIf(type IN ('completed', 'rejected', 'withdrawn')) = 0`

	stepsSQL = `SELECT case_id, step,
    argMinIf(department, at, type = 'step_started'),
    argMinIf(matter, at, type = 'step_started'),
    argMaxIf(responsible, at, responsible != ''),
    minIf(at, type = 'step_started'),
    argMinIf(limit_days, at, type = 'step_started')
FROM %[1]s.events
WHERE type IN ('step_started', 'step_finished')
  AND case_id NOT IN (SELECT case_id FROM %[1]s.events WHERE type IN ('completed', 'rejected', 'withdrawn'))%[2]s
GROUP BY case_id, step
HAVING countIf(type = 'step_started') > 0 AND countIf(type = 'step_finished') = 0
   AND argMinIf(limit_days, at, type = 'step_started') >= 0`

	tasksSQL = `SELECT case_id, step,
    argMinIf(department, at, type IN ('accepted', 'milestone_due')),
    argMaxIf(responsible, at, responsible != ''),
    minIf(at, type IN ('accepted', 'milestone_due')),
    argMaxIf(due, at, type IN ('accepted', 'milestone_due'))
FROM %[1]s.events
WHERE kind = 'task' AND (type IN ('accepted', 'completed', 'withdrawn') AND step = '' OR type IN ('milestone_due', 'milestone_met'))%[2]s
GROUP BY case_id, step
HAVING countIf(type IN ('accepted', 'milestone_due')) > 0
   AND countIf(type IN ('completed', 'withdrawn', 'milestone_met')) = 0`
)

// touchedSQL restricts a query to the cases with an event received since
// a given instant: an incremental run re-derives only those.
const touchedSQL = "\n  AND case_id IN (SELECT case_id FROM %s.events WHERE received_at >= ?)"

// Touched lists the cases with an event received at or after since.
func Touched(ctx context.Context, conn driver.Conn, db string, since time.Time) ([]string, error) {
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT DISTINCT case_id FROM %s.events WHERE received_at >= ?", db), since)
	if err != nil {
		return nil, fmt.Errorf("cases with new events: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("cases with new events: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Load reads every open item from the events table of database db.
func Load(ctx context.Context, conn driver.Conn, db string) ([]Item, error) {
	var items []Item
	err := Stream(ctx, conn, db, time.Time{}, 10000, func(chunk []Item) error {
		items = append(items, chunk...)
		return nil
	})
	return items, err
}

// Stream reads every open item and hands them to f in chunks of up to size
// items as they arrive. f owns each chunk. With a non-zero since, only the
// cases with an event received since then are read (whole: all their
// events), open or not; see Touched.
func Stream(ctx context.Context, conn driver.Conn, db string, since time.Time, size int, f func([]Item) error) error {
	filter, args := "", []any(nil)
	if !since.IsZero() {
		filter, args = fmt.Sprintf(touchedSQL, db), []any{since}
	}
	chunk := make([]Item, 0, size)
	// each runs one query and emits an item per row.
	each := func(what, query string, scan func(driver.Rows) (Item, error)) error {
		rows, err := conn.Query(ctx, fmt.Sprintf(query, db, filter), args...)
		if err != nil {
			return fmt.Errorf("load open %s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			it, err := scan(rows)
			if err != nil {
				return fmt.Errorf("load open %s: %w", what, err)
			}
			if chunk = append(chunk, it); len(chunk) == size {
				if err := f(chunk); err != nil {
					return err
				}
				chunk = make([]Item, 0, size)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load open %s: %w", what, err)
		}
		return nil
	}
	var susp, res []uint32
	if err := each("cases", casesSQL, func(rows driver.Rows) (Item, error) {
		var it Item
		var kind int8
		var promised, legal int32
		susp, res = susp[:0], res[:0]
		err := rows.Scan(&kind, &it.CaseID, &it.Department, &it.Matter, &it.Responsible, &it.Start, &promised, &legal, &susp, &res)
		it.Kind = event.Kind(kind).String()
		it.Promised, it.Legal = int(promised), int(legal)
		if len(susp) > 0 {
			it.Suspensions = pair(unixTimes(susp), unixTimes(res))
		}
		return it, err
	}); err != nil {
		return err
	}
	if err := each("steps", stepsSQL, func(rows driver.Rows) (Item, error) {
		it := Item{Kind: KindStep, Legal: -1}
		var limit int32
		err := rows.Scan(&it.CaseID, &it.Sub, &it.Department, &it.Matter, &it.Responsible, &it.Start, &limit)
		it.Promised = int(limit)
		return it, err
	}); err != nil {
		return err
	}
	if err := each("tasks", tasksSQL, func(rows driver.Rows) (Item, error) {
		it := Item{Kind: "task", Promised: -1, Legal: -1}
		err := rows.Scan(&it.CaseID, &it.Sub, &it.Department, &it.Responsible, &it.Start, &it.DueDate)
		if it.Sub != "" {
			it.Kind = KindMilestone
		}
		return it, err
	}); err != nil {
		return err
	}
	if len(chunk) > 0 {
		return f(chunk)
	}
	return nil
}

func unixTimes(ts []uint32) []time.Time {
	out := make([]time.Time, len(ts))
	for i, t := range ts {
		out[i] = time.Unix(int64(t), 0)
	}
	return out
}

// pair matches suspensions with the resumptions that follow them, in time
// order; a suspension with no later resumption is still open.
func pair(susp, res []time.Time) []Interval {
	if len(susp) == 0 {
		return nil
	}
	sort.Slice(susp, func(i, j int) bool { return susp[i].Before(susp[j]) })
	sort.Slice(res, func(i, j int) bool { return res[i].Before(res[j]) })
	out := make([]Interval, 0, len(susp))
	j := 0
	for _, s := range susp {
		// A suspension while already suspended changes nothing.
		if n := len(out); n > 0 && (out[n-1].To.IsZero() || s.Before(out[n-1].To)) {
			continue
		}
		for j < len(res) && res[j].Before(s) {
			j++
		}
		iv := Interval{From: s}
		if j < len(res) {
			iv.To = res[j]
			j++
		}
		out = append(out, iv)
	}
	return out
}
