package indices

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"effidx/rules"
	"effidx/warehouse"
)

// Subject types: results are per department, per region and for the city.
const (
	SubjectDepartment = "department"
	SubjectRegion     = "region"
	SubjectCity       = "city"
)

// CityID is the subject id of the city as a whole.
const CityID = "city"

// Result is one computed indicator of one subject in one period.
type Result struct {
	SubjectType string  `json:"subject_type"` // department, region or city
	Subject     string  `json:"subject"`      // department or region code; CityID for the city
	Indicator   string  `json:"indicator"`    // S1.1 ...
	Numerator   float64 `json:"numerator"`
	Denominator float64 `json:"denominator"`
	Value       float64 `json:"value"` // Numerator / Denominator; NaN (n/a) when Denominator is 0
}

// Stats is what a computation cost, from ClickHouse's own progress
// reports.
type Stats struct {
	Queries   int
	RowsRead  uint64
	BytesRead uint64
	Duration  time.Duration
	Sources   map[string]time.Duration // wall time of each source query
}

// Computer computes the catalog's computed indicators from the events in
// ClickHouse (see indicators.md for the exact definitions).
type Computer struct {
	wh  *warehouse.Warehouse
	cat *Catalog
	// fromEvents: derive every item's facts from the events (the
	// definition), not from the stored facts (see facts.go).
	fromEvents bool
	parallel   int // source queries at once
	mu         sync.Mutex
	prepared   bool         // the stored facts were refreshed by this computer
	read       factsReading // how to read them since
}

// NewComputer computes the indicators of cat from the events of wh, with
// DefaultParallel source queries at a time.
func NewComputer(wh *warehouse.Warehouse, cat *Catalog) *Computer {
	return &Computer{wh: wh, cat: cat, parallel: DefaultParallel}
}

// DefaultParallel is how many source queries a computation runs at once
// unless configured (indices.parallel): two keep a 2-core ClickHouse busy.
const DefaultParallel = 2

// WithParallel is c running n source queries at once (at least one).
func (c *Computer) WithParallel(n int) *Computer {
	c.parallel = max(1, n)
	return c
}

// FromEvents is c deriving every item's facts from the events directly,
// without the stored facts: the reference the stored path is tested
// against, and much slower on a large table.
func (c *Computer) FromEvents() *Computer {
	return &Computer{wh: c.wh, cat: c.cat, fromEvents: true, parallel: c.parallel}
}

// Catalog is the catalog the computer computes.
func (c *Computer) Catalog() *Catalog { return c.cat }

// Compute computes every computed indicator of the catalog for period p,
// for every department, region and the city, as of now (windows that
// have not closed by now are left out; see indicators.md). It reads only;
// Store writes the results.
func (c *Computer) Compute(ctx context.Context, cal *rules.Calendar, p Period, now time.Time) ([]Result, error) {
	res, _, err := c.ComputeStats(ctx, cal, p, now)
	return res, err
}

// ComputeStats is Compute, also reporting what ClickHouse read. A
// computer refreshes the stored facts before its first computation only:
// one computer serves one round of periods, the next round takes a new one
// (or calls Refresh).
func (c *Computer) ComputeStats(ctx context.Context, cal *rules.Calendar, p Period, now time.Time) ([]Result, Stats, error) {
	start := time.Now()
	st := Stats{Sources: map[string]time.Duration{}}
	plan, err := planFor(c.cat)
	if err != nil {
		return nil, st, err
	}
	loc := cal.Location()
	from, to := p.Start(loc), p.End(loc)
	args := calendarArgs(cal, from, to, now)
	var progressMu sync.Mutex // the source queries run side by side
	ctx = clickhouse.Context(ctx, clickhouse.WithProgress(func(pr *clickhouse.Progress) {
		progressMu.Lock()
		st.RowsRead += pr.Rows
		st.BytesRead += pr.Bytes
		progressMu.Unlock()
	}))
	read, err := c.prepare(ctx, cal, &st)
	if err != nil {
		return nil, st, fmt.Errorf("compute %s: %w", p, err)
	}
	args = append(args, read.args...)

	// The sources are independent queries, each of which ClickHouse runs
	// mostly on one core (the stored facts are read FINAL, in one sorted
	// stream): side by side they use the server's cores. The heaviest start
	// first so that the light ones fill in behind them.
	var todo []source
	for _, s := range heaviestFirst {
		if len(plan.bySource[s]) > 0 {
			todo = append(todo, s)
		}
	}
	got := make([]sourceSums, len(todo))
	errs := make([]error, len(todo))
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int, len(todo))
	for i := range todo {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range min(c.parallel, len(todo)) {
		wg.Go(func() {
			for i := range next {
				if qctx.Err() != nil {
					return
				}
				qstart := time.Now()
				got[i], errs[i] = c.sourceSums(qctx, todo[i], &plan, read, args)
				got[i].took = time.Since(qstart)
				if errs[i] != nil {
					errs[i] = fmt.Errorf("compute %s for %s: %w", todo[i], p, errs[i])
					cancel()
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, st, err
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, st, err
	}

	// Summed in the catalog's source order, whatever order the queries
	// finished in: the same floating-point sums every run.
	acc := newAccumulator()
	// The city has every computed indicator, n/a or not: a period with no
	// data at all still has a stored run.
	for _, ids := range plan.bySource {
		for _, id := range ids {
			acc.add("", "", id, 0, 0, false)
		}
	}
	for _, s := range sourceOrder {
		i := slices.Index(todo, s)
		if i < 0 {
			continue
		}
		ids := plan.bySource[s]
		for _, r := range got[i].rows {
			for j, id := range ids {
				acc.add(r.dept, r.region, id, r.vals[2*j], r.vals[2*j+1], !plan.byID[id].noRegion)
			}
		}
		st.Queries++
		st.Sources[s.String()] = got[i].took
	}
	st.Duration = time.Since(start)
	return acc.results(), st, nil
}

// shardwise is the SETTINGS clause, on a cluster, of a query over the
// Distributed tables whose GROUP BYs keep a case whole or add up across
// cases: a case's events, facts and lights are all on one shard, so each
// shard's groups are final (or, for the event counts, disjoint and summed
// after) and the initiator concatenates them instead of merging millions
// of partial per-case states. Merging them ran out of memory building the
// facts of 10 million cases on two shards.
func (c *Computer) shardwise() string {
	if c.wh.Config().Cluster == "" {
		return ""
	}
	return "\nSETTINGS distributed_group_by_no_merge = 1"
}

// sourceSums is what one source query answered: the numerators and
// denominators of its indicators per (department, region).
type sourceSums struct {
	rows []sumsRow
	took time.Duration
}

// sumsRow is one (department, region) row of a source query: numerator
// and denominator of each of its indicators, in turn.
type sumsRow struct {
	dept, region string
	vals         []float64
}

// sourceSums runs the query of source s.
func (c *Computer) sourceSums(ctx context.Context, s source, plan *plan, read factsReading, args []any) (sourceSums, error) {
	var out sourceSums
	db := c.wh.Database()
	ids := plan.bySource[s]
	var facts string
	if c.fromEvents {
		facts = factsSQL(db, s, "")
	} else {
		facts = periodFactsSQL(db, s, read.final[s])
	}
	q := sumsSQL(db, facts, ids, plan.formula, func(id string) Kind { return c.cat.Indicator(id).Kind }, s) + c.shardwise()
	rows, err := c.wh.Conn().Query(ctx, q, args...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		r := sumsRow{vals: make([]float64, 2*len(ids))}
		ptrs := make([]any, 2+len(r.vals))
		ptrs[0], ptrs[1] = &r.dept, &r.region
		for i := range r.vals {
			ptrs[2+i] = &r.vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return out, err
		}
		out.rows = append(out.rows, r)
	}
	return out, rows.Err()
}

// prepare refreshes the stored facts and decides how to read them, once
// per computer: a round of periods reads them as they were after its
// refresh (a compaction by another process meanwhile only means more items
// to sort out, see periodFactsSQL).
func (c *Computer) prepare(ctx context.Context, cal *rules.Calendar, st *Stats) (factsReading, error) {
	if c.fromEvents {
		return factsReading{}, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.prepared {
		return c.read, nil
	}
	start := time.Now()
	if err := c.Refresh(ctx, cal); err != nil {
		return factsReading{}, err
	}
	st.Sources["refresh"] = time.Since(start)
	read, err := c.reading(ctx)
	if err != nil {
		return factsReading{}, err
	}
	c.read, c.prepared = read, true
	return read, nil
}

// accumulator folds the (department, region) sums into departments,
// regions and the city: numerators and denominators are sums, so they add.
type accumulator struct {
	m map[[3]string]*[2]float64 // subject type, subject, indicator
}

func newAccumulator() *accumulator { return &accumulator{m: map[[3]string]*[2]float64{}} }

func (a *accumulator) add(dept, region, id string, num, den float64, regions bool) {
	put := func(typ, subj string) {
		k := [3]string{typ, subj, id}
		v := a.m[k]
		if v == nil {
			v = new([2]float64)
			a.m[k] = v
		}
		v[0] += num
		v[1] += den
	}
	if dept != "" {
		put(SubjectDepartment, dept)
	}
	if regions && region != "" {
		put(SubjectRegion, region)
	}
	put(SubjectCity, CityID)
}

func (a *accumulator) results() []Result {
	out := make([]Result, 0, len(a.m))
	for k, v := range a.m {
		r := Result{SubjectType: k[0], Subject: k[1], Indicator: k[2], Numerator: v[0], Denominator: v[1], Value: math.NaN()}
		if v[1] != 0 {
			r.Value = v[0] / v[1]
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].SubjectType != out[j].SubjectType {
			return subjectOrder(out[i].SubjectType) < subjectOrder(out[j].SubjectType)
		}
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].Indicator < out[j].Indicator
	})
	return out
}

func subjectOrder(t string) int {
	switch t {
	case SubjectDepartment:
		return 0
	case SubjectRegion:
		return 1
	}
	return 2
}

// plan is, per source, the indicator ids computed from it (catalog order)
// and their formulas.
type plan struct {
	bySource map[source][]string
	byID     map[string]formula
}

func (p plan) formula(id string) formula { return p.byID[id] }

// CheckComputable reports the computed indicators of cat whose kind and
// query name no computation this binary knows.
func CheckComputable(cat *Catalog) error {
	_, err := planFor(cat)
	return err
}

// planFor finds the formula of every computed indicator of cat; an
// indicator whose kind and query name no formula is an error listing them
// all.
func planFor(cat *Catalog) (plan, error) {
	p := plan{bySource: map[source][]string{}, byID: map[string]formula{}}
	var missing []string
	for _, ind := range cat.Indicators() {
		if ind.Manual {
			continue
		}
		f, ok := lookupFormula(ind.Kind, ind.Query)
		if !ok {
			missing = append(missing, fmt.Sprintf("%s (kind %s, query %s)", ind.ID, ind.Kind, ind.Query))
			continue
		}
		for _, part := range f.parts {
			p.bySource[part.src] = append(p.bySource[part.src], ind.ID)
		}
		p.byID[ind.ID] = f
	}
	if len(missing) > 0 {
		return p, fmt.Errorf("catalog %s: no computation for %s; known kind/query pairs: %s",
			cat.Version(), strings.Join(missing, ", "), strings.Join(KnownQueries(), ", "))
	}
	return p, nil
}
