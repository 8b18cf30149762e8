package indices

import (
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"effidx/rules"
)

// SourceSQL is one query of a computation, as Compute sends it: the named
// parameters (@from, @to, @from_day, @to_day, @today, @now, @calendar) are
// still unbound.
type SourceSQL struct {
	Source string // cases, steps, tasks, reminders, red lights, events
	SQL    string
}

// ComputeSQL returns the queries Compute may send for cat on database db,
// in the order it sends them (for a source with stored facts, both ways of
// reading them: see periodFactsSQL). bench compute names the queries it
// finds in system.query_log with it; compat probes every formula with
// AllFormulasSQL.
func ComputeSQL(cat *Catalog, db string) ([]SourceSQL, error) {
	p, err := planFor(cat)
	if err != nil {
		return nil, err
	}
	kindOf := func(id string) Kind { return cat.Indicator(id).Kind }
	var out []SourceSQL
	for _, s := range sourceOrder {
		if ids := p.bySource[s]; len(ids) > 0 {
			out = append(out, SourceSQL{s.String(), sumsSQL(db, periodFactsSQL(db, s, false), ids, p.formula, kindOf, s)})
			if _, ok := stored[s]; ok {
				out = append(out, SourceSQL{s.String(), sumsSQL(db, periodFactsSQL(db, s, true), ids, p.formula, kindOf, s)})
			}
		}
	}
	return out, nil
}

// AllFormulasSQL is ComputeSQL for a catalog that uses every known
// kind/query pair (KnownQueries) once: a later catalog may use formulas the
// current one does not, and their SQL should be checked too.
func AllFormulasSQL(db string) []SourceSQL {
	keys := KnownQueries()
	kindOf := func(key string) Kind { k, _, _ := strings.Cut(key, "/"); return Kind(k) }
	f := func(key string) formula { return formulas[key] }
	var out []SourceSQL
	for _, s := range sourceOrder {
		var ids []string
		for _, k := range keys {
			for _, p := range formulas[k].parts {
				if p.src == s {
					ids = append(ids, k)
					break
				}
			}
		}
		if len(ids) > 0 {
			out = append(out, SourceSQL{s.String(), sumsSQL(db, periodFactsSQL(db, s, false), ids, f, kindOf, s)})
		}
	}
	return out
}

// CalendarParams is the working-day parameters Compute binds for the
// period [from, to) computed at now (see calendarArgs), by name.
func CalendarParams(cal *rules.Calendar, from, to, now time.Time) map[string]any {
	out := map[string]any{}
	// Stored facts never compacted: readers sort out every item.
	for _, a := range append(calendarArgs(cal, from, to, now), compactionArgs(map[string]factsState{})...) {
		nv := a.(driver.NamedValue)
		out[nv.Name] = nv.Value
	}
	return out
}

// ItemsSQL returns the queries the deductions API (API.items) sends for
// each computed indicator of cat, counting and listing, with @dept, @limit
// and @offset unbound besides the computation's parameters.
func ItemsSQL(cat *Catalog, db string) ([]SourceSQL, error) {
	var out []SourceSQL
	for _, ind := range cat.Indicators() {
		if ind.Manual {
			continue
		}
		f, ok := lookupFormula(ind.Kind, ind.Query)
		if !ok {
			return nil, fmt.Errorf("no computation for %s", ind.ID)
		}
		for _, pt := range f.parts {
			for _, count := range []bool{true, false} {
				q := itemsSQL(db, pt.src, pt, kindNumber[ind.Kind], ind.Direction == Down, count)
				if pt.src == srcEvents {
					q = eventItemsSQL(db, ind.Query, count)
				}
				what := "list"
				if count {
					what = "count"
				}
				out = append(out, SourceSQL{fmt.Sprintf("%s %s %s", ind.ID, pt.src, what), q})
			}
		}
	}
	return out, nil
}

// LinesSQL is the query of the three-lines API (API.lines), with @matter
// unbound besides the computation's parameters.
func LinesSQL(db string) string { return linesSQL(db, false) }
