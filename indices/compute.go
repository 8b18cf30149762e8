package indices

import (
	"context"
	"fmt"
	"math"
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
	mu         sync.Mutex
	prepared   bool         // the stored facts were refreshed by this computer
	read       factsReading // how to read them since
}

// NewComputer computes the indicators of cat from the events of wh.
func NewComputer(wh *warehouse.Warehouse, cat *Catalog) *Computer {
	return &Computer{wh: wh, cat: cat}
}

// FromEvents is c deriving every item's facts from the events directly,
// without the stored facts: the reference the stored path is tested
// against, and much slower on a large table.
func (c *Computer) FromEvents() *Computer {
	return &Computer{wh: c.wh, cat: c.cat, fromEvents: true}
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
	ctx = clickhouse.Context(ctx, clickhouse.WithProgress(func(pr *clickhouse.Progress) {
		st.RowsRead += pr.Rows
		st.BytesRead += pr.Bytes
	}))
	read, err := c.prepare(ctx, cal, &st)
	if err != nil {
		return nil, st, fmt.Errorf("compute %s: %w", p, err)
	}
	args = append(args, read.args...)
	acc := newAccumulator()
	// The city has every computed indicator, n/a or not: a period with no
	// data at all still has a stored run.
	for _, ids := range plan.bySource {
		for _, id := range ids {
			acc.add("", "", id, 0, 0, false)
		}
	}
	db := c.wh.Database()
	for _, s := range sourceOrder {
		ids := plan.bySource[s]
		if len(ids) == 0 {
			continue
		}
		var facts string
		if c.fromEvents {
			facts = factsSQL(db, s, "")
		} else {
			facts = periodFactsSQL(db, s, read.final[s])
		}
		q := sumsSQL(db, facts, ids, plan.formula, func(id string) Kind { return c.cat.Indicator(id).Kind }, s)
		qstart := time.Now()
		rows, err := c.wh.Conn().Query(ctx, q, args...)
		if err != nil {
			return nil, st, fmt.Errorf("compute %s for %s: %w", s, p, err)
		}
		st.Queries++
		vals := make([]float64, 2*len(ids))
		ptrs := make([]any, 2+len(vals))
		var dept, region string
		ptrs[0], ptrs[1] = &dept, &region
		for i := range vals {
			ptrs[2+i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, st, fmt.Errorf("compute %s for %s: %w", s, p, err)
			}
			for i, id := range ids {
				acc.add(dept, region, id, vals[2*i], vals[2*i+1], !plan.byID[id].noRegion)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, st, fmt.Errorf("compute %s for %s: %w", s, p, err)
		}
		st.Sources[s.String()] = time.Since(qstart)
	}
	st.Duration = time.Since(start)
	return acc.results(), st, nil
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
