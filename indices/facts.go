package indices

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"effidx/rules"
)

// Stored facts. Deriving a case's facts means aggregating all of its
// events, and a period needs the cases accepted, completed or rated in it,
// whose events lie anywhere in the table: `case_id IN (subquery)` cannot
// use the events table's key, so every computation read and aggregated the
// whole table (a year of 10M cases: two minutes). The facts of a case or a
// step do not depend on the period, so they are kept in a table
// (case_facts, step_facts, migration 4; event_facts, the event counts of
// E5.1 and E5.3 per case, migration 6), refreshed for the items whose
// events arrived since the last refresh (Computer.Refresh). Facts that
// count working days (on time, working days used, fixed within 15 working
// days) depend on the calendar: they are stored with the calendar's
// version, and a new calendar rebuilds the table. A computation then reads
// one row per item and derives the period's flags from it, with the same
// SQL that derives them from the events directly: the stored columns are
// exactly what the aggregation over events yields (caseAgg, stepAgg), and
// the derivation (caseDerive, stepDerive) runs over either.

// caseStored are the stored facts of a case, in the order caseAgg yields
// them: everything caseDerive needs.
var caseStored = []string{
	"k", "f_case", "has_acc", "f_dept", "f_region", "f_matter", "f_matter_name",
	"acc_at", "has_done", "done_at", "promised", "legal", "on_time", "used",
	"ch", "mt", "ms", "visits", "has_rating", "r_last", "rated_at",
	"has_bad", "bad_at", "bad_fixed", "wd_bad", "has_fb", "sign24",
	"resolved_v", "n_step_deps", "n_steps", "overlap",
}

// itemPick says which items an aggregation derives: those with an event
// matching in (an IN over the item's key: only that column is read to find
// the items' events, and 18.16 does not move such an IN to PREWHERE by
// itself); else every item whose events match whole, a condition on
// case_id alone, which keeps a case's events together (a full build, in
// chunks); else every item.
type itemPick struct{ in, whole string }

// prewhere is the PREWHERE of pick for items keyed by cols, also being a
// further condition on the events of in.
func (p itemPick) prewhere(db, cols, also string) string {
	switch {
	case p.in != "":
		return "PREWHERE (" + cols + ") IN (SELECT " + cols + " FROM " + db + ".events WHERE " + also + p.in + ")"
	case p.whole != "":
		return "PREWHERE " + p.whole
	}
	return ""
}

// caseAgg derives the stored facts of the cases pick picks, from all of
// their events. Duplicates of an event change nothing (min, argMin,
// uniqExact, groupUniqArray; the step arrays only feed an existence test),
// so unmerged events need no FINAL.
func caseAgg(db string, pick itemPick) string {
	return calendarWith(db) + `
SELECT
    toInt8(kind) AS k,
    case_id AS f_case,
    countIf(type = 'accepted') > 0 AS has_acc,
    if(has_acc, argMinIf(department, at, type = 'accepted'), argMinIf(department, at, type NOT IN ('step_started', 'step_finished'))) AS f_dept,
    if(has_acc, argMinIf(region, at, type = 'accepted'), argMinIf(region, at, type NOT IN ('step_started', 'step_finished'))) AS f_region,
    argMinIf(matter, at, type = 'accepted') AS f_matter,
    argMinIf(matter_name, at, type = 'accepted') AS f_matter_name,
    minIf(at, type = 'accepted') AS acc_at,
    countIf(type = 'completed') > 0 AS has_done,
    minIf(at, type = 'completed') AS done_at,
    argMinIf(promised_days, at, type = 'accepted') AS promised,
    argMinIf(legal_days, at, type = 'accepted') AS legal,
    if(promised >= 0, promised, legal) AS lim,
    ` + day("acc_at") + ` AS acc_d,
    ` + day("done_at") + ` AS done_d,
    arraySort(groupUniqArrayIf(at, type = 'suspended')) AS susp,
    arraySort(groupUniqArrayIf(at, type = 'resumed')) AS res,
    arraySum(arrayMap((s, r) -> if(s > done_at, 0,
        greatest(0, ` + wd(day("if(toInt64(r) > 0 AND r <= done_at, r, done_at)")) + ` - ` + wd("greatest("+day("s")+", acc_d)") + `)),
        susp, arrayResize(res, length(susp)))) AS extra,
    ` + wd("done_d - 1") + ` < ` + wd("acc_d") + ` + lim + extra + if(lim = 0 AND ` + wd("acc_d") + ` = ` + wd("acc_d - 1") + `, 1, 0) AS on_time,
    greatest(0, ` + wd("done_d") + ` - ` + wd("acc_d") + ` - extra) AS used,
    argMinIf(channel, at, type = 'accepted') AS ch,
    greatest(0, argMinIf(materials_total, at, type = 'accepted')) AS mt,
    greatest(0, argMinIf(materials_shared, at, type = 'accepted')) AS ms,
    uniqExactIf(event_id, type = 'visit') AS visits,
    countIf(type = 'rated') > 0 AS has_rating,
    argMaxIf(rating, at, type = 'rated') AS r_last,
    maxIf(at, type = 'rated') AS rated_at,
    countIf(type = 'rated' AND rating BETWEEN 1 AND 2) > 0 AS has_bad,
    minIf(at, type = 'rated' AND rating BETWEEN 1 AND 2) AS bad_at,
    countIf(type = 'rectified') > 0 AND ` + within(day("minIf(at, type = 'rectified')"), day("bad_at"), "15") + ` AS bad_fixed,
    ` + wd(day("bad_at")) + ` AS wd_bad,
    countIf(type = 'feedback') > 0 AS has_fb,
    countIf(type = 'signed') > 0 AND toInt64(minIf(at, type = 'signed')) - toInt64(acc_at) <= 86400 AS sign24,
    argMinIf(resolved, at, type = 'completed') AS resolved_v,
    uniqExactIf(department, type = 'step_started') AS n_step_deps,
    uniqExactIf(step, type = 'step_started') AS n_steps,
    groupArrayIf(step, type = 'step_started') AS st_id,
    groupArrayIf(department, type = 'step_started') AS st_dep,
    groupArrayIf(at, type = 'step_started') AS st_at,
    groupArrayIf(step, type = 'step_finished') AS sf_id,
    groupArrayIf(at, type = 'step_finished') AS sf_at,
    arrayMap(i -> if(has(sf_id, st_id[i]), arrayReduce('min', arrayFilter((t, s) -> s = st_id[i], sf_at, sf_id)), done_at), arrayEnumerate(st_id)) AS st_end,
    arrayExists(i -> arrayExists(j -> st_dep[j] != st_dep[i] AND st_at[j] < st_end[i] AND st_at[i] < st_end[j], arrayEnumerate(st_id)), arrayEnumerate(st_id)) AS overlap,
    cityHash64(kind, case_id) AS h
FROM ` + db + `.events
` + pick.prewhere(db, "case_id", "kind IN ('service', 'internal', 'scenario', 'ticket') AND ") + `
WHERE kind IN ('service', 'internal', 'scenario', 'ticket')
GROUP BY kind, f_case`
}

// caseDerive derives a case's facts in the period from rows of its stored
// facts (the subquery from): the period flags, and whether the 15 working
// days to fix a bad rating have passed by today (@wd_yesterday).
func caseDerive(from string) string {
	return `
SELECT
    k, f_case, '' AS f_sub, has_acc, f_dept, f_region, f_matter, f_matter_name,
    acc_at, has_done, done_at,
    acc_at AS f_start,
    done_at AS f_end,
    ` + day("acc_at") + ` AS acc_d,
    ` + day("done_at") + ` AS done_d,
    has_acc AND ` + periodCond("acc_at") + ` AS acc_in,
    has_done AND ` + periodCond("done_at") + ` AS done_any_in,
    has_acc AND done_any_in AS done_in,
    promised, legal,
    if(promised >= 0, promised, legal) AS lim,
    on_time, used, ch, mt, ms, visits, has_rating, r_last,
    has_rating AND ` + periodCond("rated_at") + ` AS rated_in,
    has_bad, bad_at,
    has_bad AND ` + periodCond("bad_at") + ` AS bad_in,
    bad_fixed,
    @wd_yesterday >= wd_bad + 15 AS bad_closed,
    has_fb,
    (toInt64(done_at) - toInt64(acc_at)) / 3600 AS hours,
    sign24, resolved_v, n_step_deps, n_steps, overlap
FROM
(` + from + `
) AS c`
}

// casePeriodPick picks the events of the cases that can count in the
// period: accepted, completed or rated in it.
var casePeriodPick = "type IN ('accepted', 'completed', 'rated') AND " + periodCond("at")

// stepStored are the stored facts of a step, in the order stepAgg yields
// them.
var stepStored = []string{
	"f_case", "f_sub", "f_dept", "f_region", "f_matter", "has_start", "st_at", "has_fin", "fin_at",
	"s_lim", "s_type", "s_ok", "s_ok1", "s_ok3",
}

// stepAgg derives the stored facts of the steps pick picks, from all of
// their events.
func stepAgg(db string, pick itemPick) string {
	return calendarWith(db) + `
SELECT
    case_id AS f_case,
    step AS f_sub,
    argMinIf(department, at, type = 'step_started') AS f_dept,
    argMinIf(region, at, type = 'step_started') AS f_region,
    argMinIf(matter, at, type = 'step_started') AS f_matter,
    countIf(type = 'step_started') > 0 AS has_start,
    minIf(at, type = 'step_started') AS st_at,
    countIf(type = 'step_finished') > 0 AS has_fin,
    minIf(at, type = 'step_finished') AS fin_at,
    argMinIf(limit_days, at, type = 'step_started') AS s_lim,
    argMinIf(step_type, at, type = 'step_started') AS s_type,
    ` + day("st_at") + ` AS st_d,
    ` + day("fin_at") + ` AS fin_d,
    ` + within("fin_d", "st_d", "s_lim") + ` AS s_ok,
    ` + within("fin_d", "st_d", "1") + ` AS s_ok1,
    ` + within("fin_d", "st_d", "3") + ` AS s_ok3,
    cityHash64(case_id, step) AS h
FROM ` + db + `.events
` + pick.prewhere(db, "case_id, step", "type IN ('step_started', 'step_finished') AND ") + `
WHERE type IN ('step_started', 'step_finished')
GROUP BY f_case, f_sub`
}

// stepDerive derives a step's facts in the period from rows of its
// stored facts.
func stepDerive(from string) string {
	return `
SELECT
    f_case, f_sub, f_dept, f_region, f_matter, has_start, st_at, fin_at,
    st_at AS f_start,
    fin_at AS f_end,
    has_start AND has_fin AND ` + periodCond("fin_at") + ` AS fin_in,
    s_lim, s_type, s_ok, s_ok1, s_ok3
FROM
(` + from + `
) AS s`
}

// stepPeriodPick picks the events of the steps finished in the period.
var stepPeriodPick = "type = 'step_finished' AND " + periodCond("at")

// eventStored are the stored event counts of a case, in the order
// eventAgg yields them.
var eventStored = []string{"f_case", "at_lo", "at_hi", "rc_lo", "rc_hi", "e_dept", "e_region", "e_at", "e_rc", "e_n", "e_n1h"}

// eventAgg counts the events of the cases pick picks, per (department,
// region, day of at, day of first receipt), one array element each. An
// event is what the events table collapses a resent one to, its first copy
// (FINAL keeps the largest ver, the earliest receipt): counting it once,
// at its first receipt, is what E5.3 means, a resent copy is not another
// event received. FINAL rather than a GROUP BY over event ids, and groups
// keyed by hashes, not strings: the event counts of 10M cases took ~500 s
// grouping (case, department, event id), under 200 s this way. PREWHERE
// with FINAL is safe: case_id is in the sorting key, so a copy is kept or
// dropped with its original.
func eventAgg(db string, pick itemPick) string {
	return `
SELECT
    any(c) AS f_case,
    min(lo_at) AS at_lo, max(hi_at) AS at_hi, min(lo_rc) AS rc_lo, max(hi_rc) AS rc_hi,
    groupArray(dept) AS e_dept, groupArray(reg) AS e_region, groupArray(at_d) AS e_at, groupArray(rc_d) AS e_rc,
    groupArray(n) AS e_n, groupArray(n1h) AS e_n1h,
    hc AS h
FROM
(
    SELECT cityHash64(case_id) AS hc, any(case_id) AS c, any(department) AS dept, any(region) AS reg,
        toDate(at) AS at_d, toDate(received_at) AS rc_d,
        min(at) AS lo_at, max(at) AS hi_at, min(received_at) AS lo_rc, max(received_at) AS hi_rc,
        toUInt32(count()) AS n, toUInt32(countIf(received_at <= at + 3600)) AS n1h
    FROM ` + db + `.events FINAL
    ` + pick.prewhere(db, "case_id", "") + `
    GROUP BY hc, cityHash64(department, region), at_d, rc_d
) AS g
GROUP BY hc`
}

// eventDerive counts a case's events in the period from rows of its
// stored counts: by at (E5.1) and by first receipt (E5.3), with the
// rejected events of the period (E5.3), which belong to no case.
func eventDerive(db, from string) string {
	at := "toInt64(e_at) >= @from_day AND toInt64(e_at) < @to_day"
	rc := "toInt64(e_rc) >= @from_day AND toInt64(e_rc) < @to_day"
	return `
SELECT e_dept AS f_dept, e_region AS f_region,
    toUInt64(if(` + at + `, e_n, 0)) AS n_at,
    toUInt64(if(` + at + `, e_n1h, 0)) AS n_at_1h,
    toUInt64(if(` + rc + `, e_n, 0)) AS n_recv,
    toUInt64(0) AS n_rej
FROM
(` + from + `
) AS e
ARRAY JOIN e_dept, e_region, e_at, e_rc, e_n, e_n1h
WHERE ` + at + ` OR ` + rc + `
UNION ALL
SELECT department AS f_dept, '' AS f_region, toUInt64(0) AS n_at, toUInt64(0) AS n_at_1h, toUInt64(0) AS n_recv,
    uniqExact(cityHash64(source, raw)) AS n_rej
FROM ` + db + `.rejected_events
WHERE ` + periodCond("received_at") + `
GROUP BY department`
}

// eventPeriodPick picks the events of the cases that can count in the
// period: an event happened or was received in it.
var eventPeriodPick = "(" + periodCond("at") + " OR " + periodCond("received_at") + ")"

// storedColumns lists cols for a SELECT or an INSERT.
func storedColumns(cols []string) string { return strings.Join(cols, ", ") }

// storedFacts describes one table of stored facts.
type storedFacts struct {
	table   string
	columns []string // the stored columns but h and ver
	agg     func(db string, pick itemPick) string
	derive  func(db, from string) string
	// inPeriod keeps the stored rows that can count in the period: a
	// superset is fine (the derivation decides), a row left out is lost.
	inPeriod string
	// compacted names the parameter bound to the table's compaction mark
	// (see periodFactsSQL).
	compacted string
	// calendarFree: the facts count no working days, so a new calendar
	// does not rebuild the table.
	calendarFree bool
}

var stored = map[source]storedFacts{
	srcCases: {table: "case_facts", columns: caseStored, agg: caseAgg,
		derive: func(_, from string) string { return caseDerive(from) },
		inPeriod: "has_acc AND " + periodCond("acc_at") + " OR has_done AND " + periodCond("done_at") +
			" OR has_rating AND " + periodCond("rated_at") + " OR has_bad AND " + periodCond("bad_at"),
		compacted: "compacted_cases"},
	srcSteps: {table: "step_facts", columns: stepStored, agg: stepAgg,
		derive:   func(_, from string) string { return stepDerive(from) },
		inPeriod: "has_fin AND " + periodCond("fin_at"), compacted: "compacted_steps"},
	srcEvents: {table: "event_facts", columns: eventStored, agg: eventAgg, derive: eventDerive,
		inPeriod:  "at_hi >= toDateTime(@from) AND at_lo < toDateTime(@to) OR rc_hi >= toDateTime(@from) AND rc_lo < toDateTime(@to)",
		compacted: "compacted_events", calendarFree: true},
}

// storedSources are the sources with stored facts, in refresh order.
var storedSources = []source{srcCases, srcSteps, srcEvents}

// periodFactsSQL is the per-item subquery of source s for the period, read
// from the stored facts where s has them.
//
// An item refreshed since ClickHouse last merged its rows has several rows;
// the latest counts. FINAL would pick it, but on 18.16 FINAL merges in one
// thread and cannot filter before the merge (a month's case facts of 10M
// cases: 12 s with FINAL, 6 s without, measured side by side). The rows at
// or below the table's compaction mark are all in one part, which holds one
// row per item (see compact); an item with a row above the mark was
// refreshed since, and its rows other than the latest are left out. Items
// are told apart by h, a 64-bit hash of their key: comparing it costs a
// fraction of comparing the strings (a NOT IN over the strings added 4.4 s
// to the 10 s of a year of 10M cases); two items whose hashes collide (odds
// about 3 in a million for 10M items) could hide one another's superseded
// row only when one of them was refreshed. The period filter is a PREWHERE; a
// superseded row it keeps is left out all the same.
//
// With final, the table is read FINAL instead: when most rows are above
// the mark (a cluster, which is never compacted; a compaction that could
// not merge), sorting them out costs more than FINAL (a month's steps,
// 7.4M rows all above the mark: 145 s).
func periodFactsSQL(db string, s source, final bool) string {
	t, ok := stored[s]
	if !ok {
		return factsSQL(db, s, "")
	}
	table, mark, cols := db+"."+t.table, "@"+t.compacted, storedColumns(t.columns)
	if final {
		return t.derive(db, "SELECT "+cols+"\n    FROM "+table+" FINAL\n    WHERE "+t.inPeriod)
	}
	return t.derive(db, "SELECT "+cols+"\n    FROM "+table+"\n    PREWHERE "+t.inPeriod+
		"\n    WHERE (h, ver) NOT IN (SELECT h, ver FROM "+table+
		"\n        WHERE h IN (SELECT h FROM "+table+" WHERE ver > "+mark+")"+
		"\n          AND (h, ver) NOT IN (SELECT h, max(ver) FROM "+table+" WHERE ver > "+mark+" GROUP BY h))")
}

// refreshSQL re-derives the stored facts of s for the items with an event
// received at or after @since, or, in a full build, for the items whose
// case hashes to @chunk modulo @chunks, as version @ver.
func refreshSQL(db string, s source, full bool) string {
	t := stored[s]
	pick := itemPick{in: "received_at >= toDateTime(@since)"}
	if full {
		pick = itemPick{whole: "cityHash64(case_id) % @chunks = @chunk"}
	}
	cols := storedColumns(t.columns)
	return "INSERT INTO " + db + "." + t.table + " (" + cols + ", h, ver)\nSELECT " + cols + ", h, toUInt64(@ver)\nFROM\n(" + t.agg(db, pick) + "\n) AS a"
}

// chunkEvents is about how many events one query of a full build
// aggregates: the build runs in as many chunks of cases, so that its
// memory stays the same however large the table (building the event counts
// of 10M cases in one query spilled its GROUP BY to disk and took 370 s).
// A variable for the tests of several chunks.
var chunkEvents uint64 = 10_000_000

// refreshMargin is how far before the last refresh a refresh looks for
// received events: an event is stored some time after the collector
// received it (the spool's flush, a ClickHouse restart), and received_at
// is the collector's time.
const refreshMargin = 15 * time.Minute

// compactEvery is how often a refresh compacts a stored-facts table;
// compactAttempts is how many times it asks.
const (
	compactEvery    = time.Hour
	compactAttempts = 10
)

// factsState is what facts_builds says of a table: the calendar of its last
// complete build, that build's version, its compaction mark (a version)
// and when it was last compacted.
type factsState struct {
	calendar         string
	built, compacted uint64
	compactedAt      time.Time
}

func (c *Computer) factsStates(ctx context.Context) (map[string]factsState, error) {
	rows, err := c.wh.Conn().Query(ctx, "SELECT table_name, argMaxIf(calendar, ver, what = 'built'), maxIf(ver, what = 'built'),\n"+
		"    maxIf(ver, what = 'compacted'), maxIf(at, what = 'compacted')\nFROM "+c.wh.Database()+".facts_builds GROUP BY table_name")
	if err != nil {
		return nil, fmt.Errorf("read facts_builds: %w", err)
	}
	defer rows.Close()
	out := map[string]factsState{}
	for rows.Next() {
		var name string
		var st factsState
		if err := rows.Scan(&name, &st.calendar, &st.built, &st.compacted, &st.compactedAt); err != nil {
			return nil, fmt.Errorf("read facts_builds: %w", err)
		}
		out[name] = st
	}
	return out, rows.Err()
}

// factsReading is how a computation reads the stored facts: which tables
// FINAL (see periodFactsSQL), and the compaction marks to bind.
type factsReading struct {
	final map[source]bool
	args  []any
}

// finalAbove: a table with more than this share of its rows above its
// compaction mark is read FINAL (a variable for the tests of both ways).
var finalAbove = 0.1

func (c *Computer) reading(ctx context.Context) (factsReading, error) {
	r := factsReading{final: map[source]bool{}}
	states, err := c.factsStates(ctx)
	if err != nil {
		return r, err
	}
	for _, s := range storedSources {
		t := stored[s]
		mark := states[t.table].compacted
		var above, all uint64
		if err := c.wh.Conn().QueryRow(ctx, "SELECT countIf(ver > @m), count() FROM "+c.wh.Database()+"."+t.table,
			clickhouse.Named("m", mark)).Scan(&above, &all); err != nil {
			return r, fmt.Errorf("read %s: %w", t.table, err)
		}
		r.final[s] = mark == 0 || float64(above) > finalAbove*float64(all)
	}
	r.args = compactionArgs(states)
	return r, nil
}

// compactionArgs binds each stored-facts table's compaction mark (0 for a
// table never compacted).
func compactionArgs(states map[string]factsState) []any {
	var out []any
	for _, s := range storedSources {
		t := stored[s]
		out = append(out, clickhouse.Named(t.compacted, states[t.table].compacted))
	}
	return out
}

// Refresh brings the stored facts up to date for calendar cal: it
// re-derives the items with an event received since the previous refresh
// started (less refreshMargin); every item when the table was never built
// or was built with another calendar (unless its facts count no working
// days). Then, at most every compactEvery, it compacts the table. Refreshes from several processes at once are safe:
// each writes whole rows, and the latest row of an item counts. A full
// build is not atomic: until it ends, readers see some items under the
// previous calendar.
func (c *Computer) Refresh(ctx context.Context, cal *rules.Calendar) error {
	states, err := c.factsStates(ctx)
	if err != nil {
		return err
	}
	db := c.wh.Database()
	conn := c.wh.Conn()
	for _, s := range storedSources {
		t := stored[s]
		st := states[t.table]
		ver := uint64(time.Now().UnixNano())
		full := st.built == 0 || !t.calendarFree && st.calendar != cal.Version()
		var since time.Time
		if !full {
			// The last refresh is the latest row's or, when no item
			// changed since, the last build's.
			var last uint64
			if err := conn.QueryRow(ctx, "SELECT max(ver) FROM "+db+"."+t.table).Scan(&last); err != nil {
				return fmt.Errorf("refresh %s: %w", t.table, err)
			}
			since = time.Unix(0, int64(max(last, st.built))).Add(-refreshMargin)
		}
		// Events to derive from: those received since, or all of them.
		var n uint64
		q, qargs := "SELECT count() FROM "+db+".events", []any{}
		if !full {
			q, qargs = q+" WHERE received_at >= toDateTime(@since)", []any{clickhouse.Named("since", since.Unix())}
		}
		if err := conn.QueryRow(ctx, q, qargs...).Scan(&n); err != nil {
			return fmt.Errorf("refresh %s: %w", t.table, err)
		}
		chunks := uint64(1)
		if full {
			chunks = max(1, (n+chunkEvents-1)/chunkEvents)
		}
		for chunk := uint64(0); n > 0 && chunk < chunks; chunk++ {
			args := append(refreshArgs(cal, time.Now()), clickhouse.Named("since", since.Unix()), clickhouse.Named("ver", ver),
				clickhouse.Named("chunks", chunks), clickhouse.Named("chunk", chunk))
			if err := conn.Exec(ctx, refreshSQL(db, s, full)+c.shardwise(), args...); err != nil {
				return fmt.Errorf("refresh %s (chunk %d of %d): %w", t.table, chunk+1, chunks, err)
			}
		}
		if full {
			if err := c.recordFacts(ctx, t.table, "built", cal.Version(), ver); err != nil {
				return err
			}
		}
		// By when it was compacted: the mark is a row version, which stays
		// old while nothing arrives.
		if full || time.Since(st.compactedAt) > compactEvery {
			if err := c.compact(ctx, t.table, cal.Version()); err != nil {
				return err
			}
		}
	}
	return nil
}

// compact merges the rows of table (OPTIMIZE ... FINAL) and records its
// compaction mark: the highest version at or below which every row is in
// the oldest part. Each part holds one row per item (a refresh inserts one
// per item, a merge keeps the latest), so rows at or below the mark are one
// per item whether or not the OPTIMIZE merged everything (a merge running
// in the background may refuse it): the mark only says how many items a
// reader must sort out. Clusters are not compacted (OPTIMIZE does not run
// on a Distributed table): their readers sort out every item.
func (c *Computer) compact(ctx context.Context, table, calendar string) error {
	if c.wh.Config().Cluster != "" {
		return nil
	}
	db := c.wh.Database()
	conn := c.wh.Conn()
	// OPTIMIZE does nothing, without an error, while a background merge
	// holds some of the parts: try again a few times.
	var oldest string
	for attempt := 0; ; attempt++ {
		if err := conn.Exec(ctx, "OPTIMIZE TABLE "+db+"."+table+" FINAL"); err != nil {
			return fmt.Errorf("compact %s: %w", table, err)
		}
		var parts uint64
		err := conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE database = @db AND table = @t AND active",
			clickhouse.Named("db", db), clickhouse.Named("t", table)).Scan(&parts)
		if err != nil {
			return fmt.Errorf("compact %s: %w", table, err)
		}
		if parts == 0 {
			return nil // nothing stored yet
		}
		if parts == 1 || attempt == compactAttempts-1 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if err := conn.QueryRow(ctx, "SELECT name FROM system.parts WHERE database = @db AND table = @t AND active ORDER BY min_block_number LIMIT 1",
		clickhouse.Named("db", db), clickhouse.Named("t", table)).Scan(&oldest); err != nil {
		return fmt.Errorf("compact %s: %w", table, err)
	}
	var others, minOther, maxAll uint64
	if err := conn.QueryRow(ctx, "SELECT countIf(_part != @p), minIf(ver, _part != @p), max(ver) FROM "+db+"."+table,
		clickhouse.Named("p", oldest)).Scan(&others, &minOther, &maxAll); err != nil {
		return fmt.Errorf("compact %s: %w", table, err)
	}
	mark := maxAll
	if others > 0 {
		mark = minOther - 1
	}
	return c.recordFacts(ctx, table, "compacted", calendar, mark)
}

// recordFacts records a build or a compaction of table in facts_builds.
func (c *Computer) recordFacts(ctx context.Context, table, what, calendar string, ver uint64) error {
	b, err := c.wh.Conn().PrepareBatch(ctx, "INSERT INTO "+c.wh.Database()+".facts_builds (table_name, what, calendar, ver, at)")
	if err != nil {
		return fmt.Errorf("record %s %s: %w", what, table, err)
	}
	if err := b.Append(table, what, calendar, ver, time.Now()); err != nil {
		b.Abort()
		return fmt.Errorf("record %s %s: %w", what, table, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("record %s %s: %w", what, table, err)
	}
	return nil
}
