// Package lights computes the overdue light (亮灯) of every open case, step,
// ticket, task and milestone from the events in ClickHouse, keeps when each
// item turned yellow and red, and serves the current lights.
package lights

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
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
// run.
//
// casesSQL is the hot query (a million open cases): it sends no strings but
// the case id. Department and matter come as one cityHash64 of the pair and
// the responsible as its cityHash64, resolved through the name tables
// (source); the two limits come packed in one UInt64 (two Int32 bit
// patterns) and the suspensions and resumptions as one text list of
// at*2+resumed. Fewer, fixed-size aggregate states cost ClickHouse about a
// third less CPU than argMin of each string, and a row scans with one
// string allocation instead of four plus two reflected arrays. argMin of
// the pair keeps department and matter from the same (earliest) accepted
// event.
const (
	casesSQL = `SELECT toInt8(kind), case_id,
    argMinIf(cityHash64(department, matter), at, type = 'accepted'),
    toUInt32(minIf(at, type = 'accepted')),
    argMinIf(bitShiftLeft(toUInt64(toUInt32(promised_days)), 32) + toUInt32(legal_days), at, type = 'accepted'),
    argMaxIf(cityHash64(responsible), at, responsible != ''),
    arrayStringConcat(arrayMap(x -> toString(x), groupArrayIf(toUInt32(at) * 2 + (type = 'resumed'), type IN ('suspended', 'resumed'))), ',')
FROM %[1]s.events
WHERE kind IN ('service', 'internal', 'scenario', 'ticket')%[2]s
GROUP BY kind, case_id
HAVING countIf(type = 'accepted') > 0 AND countIf(type IN ('completed', 'rejected', 'withdrawn')) = 0`

	// casesByNameSQL derives the same items with their names as strings:
	// for the rare case whose hashes the name tables cannot resolve (a
	// version of an event replaced by a merge between the two queries).
	casesByNameSQL = `SELECT toInt8(kind), case_id,
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

	// The name tables of casesSQL's hashes. Hashing in ClickHouse and
	// looking up here keeps the two sides from ever disagreeing.
	deptMatterSQL  = "SELECT cityHash64(department, matter), department, matter FROM %s.events WHERE type = 'accepted' GROUP BY department, matter"
	responsibleSQL = "SELECT cityHash64(responsible), responsible FROM %s.events WHERE responsible != '' GROUP BY responsible"
)

// touchedSQL restricts a query to the cases with an event received since
// a given instant: an incremental run re-derives only those.
const touchedSQL = "\n  AND case_id IN (SELECT case_id FROM %s.events WHERE received_at >= ?)"

// chunkBits sets the chunk size: items are read, judged and indexed in
// chunks of at most 1<<chunkBits, so an item's place is one int32
// (chunk<<chunkBits | index).
const (
	chunkBits = 13
	chunkSize = 1 << chunkBits
)

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
	var mu sync.Mutex
	var items []Item
	err := newSource(conn, db).stream(ctx, time.Time{}, func(chunk []Item) {
		mu.Lock()
		items = append(items, chunk...)
		mu.Unlock()
	})
	return items, err
}

// deptMatter is a department and matter pair of the name table.
type deptMatter struct{ dept, matter string }

// source reads open items. It keeps the name tables of casesSQL between
// runs: names only ever get added, so a hash once resolved stays right.
type source struct {
	conn        driver.Conn
	db          string
	deptMatter  map[uint64]deptMatter
	responsible map[uint64]string
}

func newSource(conn driver.Conn, db string) *source {
	return &source{conn: conn, db: db}
}

// pending is a case row whose name hashes were not in the name tables.
type pending struct {
	it         Item
	dm, person uint64
}

// stream reads every open item and hands them to emit in chunks of at most
// chunkSize as they arrive; emit owns each chunk and is called from several
// goroutines at once. With a non-zero since, only the cases with an event
// received since then are read (whole: all their events), open or not; see
// Touched.
//
// The cases, steps and tasks queries run at once (three connections of the
// pool). Splitting the cases query further, by cityHash64(case_id) % N, was
// measured: each share costs ClickHouse another scan of the table, and on
// two cores that cost more than scanning the rows on more goroutines saved.
func (s *source) stream(ctx context.Context, since time.Time, emit func([]Item)) error {
	filter, args := "", []any(nil)
	if !since.IsZero() {
		filter, args = fmt.Sprintf(touchedSQL, s.db), []any{since}
	}
	var unknown []pending
	var tasks []func(context.Context) error
	// The name tables are read once, alongside the cases query (whose rows
	// come only once ClickHouse has aggregated everything).
	names := make(chan struct{})
	if s.deptMatter == nil {
		tasks = append(tasks, func(ctx context.Context) error {
			err := s.loadNames(ctx)
			close(names)
			return err
		})
	} else {
		close(names)
	}
	tasks = append(tasks,
		func(ctx context.Context) error {
			var err error
			unknown, err = s.cases(ctx, fmt.Sprintf(casesSQL, s.db, filter), args, names, emit)
			return err
		},
		func(ctx context.Context) error {
			return s.rowWise(ctx, "steps", fmt.Sprintf(stepsSQL, s.db, filter), args, scanStep, emit)
		},
		func(ctx context.Context) error {
			return s.rowWise(ctx, "tasks", fmt.Sprintf(tasksSQL, s.db, filter), args, scanTask, emit)
		})
	if err := all(ctx, tasks); err != nil {
		return err
	}
	if len(unknown) > 0 {
		return s.resolve(ctx, unknown, emit)
	}
	return nil
}

// all runs the tasks at once and returns the first error; the others are
// then cancelled.
func all(ctx context.Context, tasks []func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(tasks))
	for _, t := range tasks {
		go func() { errs <- t(ctx) }()
	}
	var first error
	for range tasks {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// cases runs one casesSQL query and emits its items; rows whose names are
// not (yet) in the name tables are returned instead.
func (s *source) cases(ctx context.Context, query string, args []any, names <-chan struct{}, emit func([]Item)) ([]pending, error) {
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("load open cases: %w", err)
	}
	defer rows.Close()
	select {
	case <-names:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var (
		unknown        []pending
		kind           int8
		id, susp       string
		dm, pl, person uint64
		at             uint32
		times          []uint64
	)
	// One destination list for all rows: a variadic list built per call
	// would be a heap object per row.
	dest := []any{&kind, &id, &dm, &at, &pl, &person, &susp}
	// The case ids of a chunk end up in one string: a million tiny
	// strings would each be an object for the GC to mark on every cycle.
	chunk, n := make([]Item, chunkSize), 0
	ids, ends := make([]byte, 0, 16*chunkSize), make([]int, 0, chunkSize)
	flush := func() {
		all, from := string(ids), 0
		for i, end := range ends {
			chunk[i].CaseID, from = all[from:end], end
		}
		emit(chunk[:n:n])
		chunk, n, ids, ends = make([]Item, chunkSize), 0, ids[:0], ends[:0]
	}
	for rows.Next() {
		// Filled in place: an Item is 200 bytes, worth not copying a
		// million times.
		it := &chunk[n] // zero: new, or cleared below
		if err := rows.Scan(dest...); err != nil {
			return unknown, fmt.Errorf("load open cases: %w", err)
		}
		it.CaseID, it.Kind = id, event.Kind(kind).String()
		it.Start = time.Unix(int64(at), 0)
		it.Promised, it.Legal = int(int32(pl>>32)), int(int32(pl))
		if susp != "" {
			if times, err = parseUints(times[:0], susp); err != nil {
				return unknown, fmt.Errorf("load open cases: case %s: %w", it.CaseID, err)
			}
			it.Suspensions = suspensions(times)
		}
		if !s.names(it, dm, person) {
			unknown = append(unknown, pending{*it, dm, person})
			*it = Item{}
			continue
		}
		ids = append(ids, it.CaseID...)
		ends = append(ends, len(ids))
		if n++; n == chunkSize {
			flush()
		}
	}
	if err := rows.Err(); err != nil {
		return unknown, fmt.Errorf("load open cases: %w", err)
	}
	if n > 0 {
		flush()
	}
	return unknown, nil
}

// names fills in an item's department, matter and responsible from their
// hashes (0 for the responsible: none); false if one is not known.
func (s *source) names(it *Item, dm, person uint64) bool {
	n, ok := s.deptMatter[dm]
	if !ok {
		return false
	}
	it.Department, it.Matter = n.dept, n.matter
	if person != 0 {
		if it.Responsible, ok = s.responsible[person]; !ok {
			return false
		}
	}
	return true
}

// loadNames (re)reads the name tables whole.
func (s *source) loadNames(ctx context.Context) error {
	dms, people := map[uint64]deptMatter{}, map[uint64]string{}
	err := all(ctx, []func(context.Context) error{
		func(ctx context.Context) error {
			return s.nameRows(ctx, deptMatterSQL, func(rows driver.Rows) error {
				var h uint64
				var n deptMatter
				err := rows.Scan(&h, &n.dept, &n.matter)
				dms[h] = n
				return err
			})
		},
		func(ctx context.Context) error {
			return s.nameRows(ctx, responsibleSQL, func(rows driver.Rows) error {
				var h uint64
				var p string
				err := rows.Scan(&h, &p)
				people[h] = p
				return err
			})
		},
	})
	if err != nil {
		return err
	}
	s.deptMatter, s.responsible = dms, people
	return nil
}

func (s *source) nameRows(ctx context.Context, query string, scan func(driver.Rows) error) error {
	rows, err := s.conn.Query(ctx, fmt.Sprintf(query, s.db))
	if err != nil {
		return fmt.Errorf("load department, matter and responsible names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("load department, matter and responsible names: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load department, matter and responsible names: %w", err)
	}
	return nil
}

// resolve emits the cases that came with unknown names: after re-reading
// the name tables (a name new since the last read), or else by deriving
// the case again with its names as strings.
func (s *source) resolve(ctx context.Context, unknown []pending, emit func([]Item)) error {
	if err := s.loadNames(ctx); err != nil {
		return err
	}
	var items []Item
	var again []string
	for i := range unknown {
		p := &unknown[i]
		if s.names(&p.it, p.dm, p.person) {
			items = append(items, p.it)
		} else {
			again = append(again, p.it.CaseID)
		}
	}
	for len(items) > 0 {
		n := min(len(items), chunkSize)
		emit(items[:n:n])
		items = items[n:]
	}
	if len(again) == 0 {
		return nil
	}
	return s.rowWise(ctx, "cases by name", fmt.Sprintf(casesByNameSQL, s.db, "\n  AND case_id IN (SELECT arrayJoin(?))"), []any{again}, scanCase, emit)
}

// rowWise runs a query whose rows scan one by one into items (the small
// ones: steps, tasks, and cases by name) and emits them in chunks.
func (s *source) rowWise(ctx context.Context, what, query string, args []any, scan func(driver.Rows, *Item) error, emit func([]Item)) error {
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("load open %s: %w", what, err)
	}
	defer rows.Close()
	var chunk []Item
	for rows.Next() {
		if chunk == nil {
			chunk = make([]Item, 0, chunkSize)
		}
		chunk = chunk[:len(chunk)+1]
		if err := scan(rows, &chunk[len(chunk)-1]); err != nil {
			return fmt.Errorf("load open %s: %w", what, err)
		}
		if len(chunk) == chunkSize {
			emit(chunk)
			chunk = nil
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load open %s: %w", what, err)
	}
	if len(chunk) > 0 {
		emit(chunk)
	}
	return nil
}

func scanCase(rows driver.Rows, it *Item) error {
	*it = Item{}
	var kind int8
	var promised, legal int32
	var susp, res []uint32
	err := rows.Scan(&kind, &it.CaseID, &it.Department, &it.Matter, &it.Responsible, &it.Start, &promised, &legal, &susp, &res)
	it.Kind = event.Kind(kind).String()
	it.Promised, it.Legal = int(promised), int(legal)
	if len(susp) > 0 {
		it.Suspensions = pair(unixTimes(susp), unixTimes(res))
	}
	return err
}

func scanStep(rows driver.Rows, it *Item) error {
	*it = Item{Kind: KindStep, Legal: -1}
	var limit int32
	err := rows.Scan(&it.CaseID, &it.Sub, &it.Department, &it.Matter, &it.Responsible, &it.Start, &limit)
	it.Promised = int(limit)
	return err
}

func scanTask(rows driver.Rows, it *Item) error {
	*it = Item{Kind: "task", Promised: -1, Legal: -1}
	err := rows.Scan(&it.CaseID, &it.Sub, &it.Department, &it.Responsible, &it.Start, &it.DueDate)
	if it.Sub != "" {
		it.Kind = KindMilestone
	}
	return err
}

// parseUints appends the numbers of a comma-separated list to dst.
func parseUints(dst []uint64, s string) ([]uint64, error) {
	for s != "" {
		f, rest, _ := strings.Cut(s, ",")
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return dst, fmt.Errorf("suspension list: %w", err)
		}
		dst, s = append(dst, v), rest
	}
	return dst, nil
}

// suspensions pairs the instants of casesSQL's list (at*2, +1 for a
// resumption).
func suspensions(times []uint64) []Interval {
	var susp, res []time.Time
	for _, v := range times {
		t := time.Unix(int64(v>>1), 0)
		if v&1 == 1 {
			res = append(res, t)
		} else {
			susp = append(susp, t)
		}
	}
	return pair(susp, res)
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
