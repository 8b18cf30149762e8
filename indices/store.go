package indices

import (
	"context"
	"fmt"
	"time"

	"effidx/warehouse"
)

// Computation is one stored run of a period: its results and what they
// were computed with.
type Computation struct {
	Period     Period
	Results    []Result
	Catalog    string // catalog version
	Calendar   string // calendar version
	ComputedAt time.Time
	Run        uint64
}

// Store keeps computed results in the indicator_results table.
type Store struct {
	wh *warehouse.Warehouse
}

// NewStore stores results in wh.
func NewStore(wh *warehouse.Warehouse) *Store { return &Store{wh: wh} }

// Write stores the results of one run of period p in a single insert: one
// part, so a reader sees the whole run or none of it. Readers take the
// latest run of a period, so writing again replaces, never adds.
func (s *Store) Write(ctx context.Context, p Period, res []Result, catalog, calendar string, at time.Time) (Computation, error) {
	// The run is the wall clock of the write, not the as-of instant: two
	// runs as of the same instant must still be told apart.
	run := uint64(time.Now().UnixNano())
	b, err := s.wh.Conn().PrepareBatch(ctx, fmt.Sprintf(`INSERT INTO %s.indicator_results
(period, period_kind, subject_type, subject, indicator, numerator, denominator, value, catalog, calendar, computed_at, run)`, s.wh.Database()))
	if err != nil {
		return Computation{}, fmt.Errorf("store results of %s: %w", p, err)
	}
	for _, r := range res {
		if err := b.Append(p.String(), int8(p.Kind), subjectTypeNumber(r.SubjectType), r.Subject, r.Indicator,
			r.Numerator, r.Denominator, r.Value, catalog, calendar, at, run); err != nil {
			b.Abort()
			return Computation{}, fmt.Errorf("store results of %s: %w", p, err)
		}
	}
	if err := b.Send(); err != nil {
		return Computation{}, fmt.Errorf("store results of %s: %w", p, err)
	}
	return Computation{Period: p, Results: res, Catalog: catalog, Calendar: calendar, ComputedAt: at, Run: run}, nil
}

func subjectTypeNumber(t string) int8 {
	switch t {
	case SubjectDepartment:
		return 1
	case SubjectRegion:
		return 2
	}
	return 3
}

// Read returns the latest run of period p; ok is false when p was never
// computed.
func (s *Store) Read(ctx context.Context, p Period) (c Computation, ok bool, err error) {
	db := s.wh.Database()
	rows, err := s.wh.Conn().Query(ctx, fmt.Sprintf(`SELECT toString(subject_type), subject, indicator, numerator, denominator, value, catalog, calendar, computed_at, run
FROM %[1]s.indicator_results
WHERE period = ? AND run = (SELECT max(run) FROM %[1]s.indicator_results WHERE period = ?)
ORDER BY subject_type, subject, indicator`, db), p.String(), p.String())
	if err != nil {
		return c, false, fmt.Errorf("read results of %s: %w", p, err)
	}
	defer rows.Close()
	c.Period = p
	for rows.Next() {
		var r Result
		if err := rows.Scan(&r.SubjectType, &r.Subject, &r.Indicator, &r.Numerator, &r.Denominator, &r.Value,
			&c.Catalog, &c.Calendar, &c.ComputedAt, &c.Run); err != nil {
			return c, false, fmt.Errorf("read results of %s: %w", p, err)
		}
		c.Results = append(c.Results, r)
	}
	if err := rows.Err(); err != nil {
		return c, false, fmt.Errorf("read results of %s: %w", p, err)
	}
	return c, len(c.Results) > 0, nil
}

// Runs lists, per stored period, when its latest run was computed and with
// which catalog and calendar.
func (s *Store) Runs(ctx context.Context) (map[string]Computation, error) {
	rows, err := s.wh.Conn().Query(ctx, fmt.Sprintf(`SELECT period, max(computed_at), argMax(catalog, run), argMax(calendar, run), max(run)
FROM %s.indicator_results GROUP BY period`, s.wh.Database()))
	if err != nil {
		return nil, fmt.Errorf("list computed periods: %w", err)
	}
	defer rows.Close()
	out := map[string]Computation{}
	for rows.Next() {
		var name string
		var c Computation
		if err := rows.Scan(&name, &c.ComputedAt, &c.Catalog, &c.Calendar, &c.Run); err != nil {
			return nil, fmt.Errorf("list computed periods: %w", err)
		}
		if c.Period, err = ParsePeriod(name); err != nil {
			continue // not ours
		}
		out[name] = c
	}
	return out, rows.Err()
}

// RememberCatalog stores the text of a catalog version once, so that its
// scores can be recomputed after the file has changed.
func (s *Store) RememberCatalog(ctx context.Context, version string, text []byte, at time.Time) error {
	var n uint64
	if err := s.wh.Conn().QueryRow(ctx, fmt.Sprintf("SELECT count() FROM %s.catalogs WHERE version = ?", s.wh.Database()), version).Scan(&n); err != nil {
		return fmt.Errorf("look up catalog %s: %w", version, err)
	}
	if n > 0 {
		return nil
	}
	b, err := s.wh.Conn().PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.catalogs (version, yaml, first_used)", s.wh.Database()))
	if err != nil {
		return fmt.Errorf("store catalog %s: %w", version, err)
	}
	if err := b.Append(version, string(text), at); err != nil {
		b.Abort()
		return fmt.Errorf("store catalog %s: %w", version, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("store catalog %s: %w", version, err)
	}
	return nil
}

// Catalog parses a stored catalog version; ok is false when it was never
// stored.
func (s *Store) Catalog(ctx context.Context, version string) (cat *Catalog, ok bool, err error) {
	var text []string
	rows, err := s.wh.Conn().Query(ctx, fmt.Sprintf("SELECT yaml FROM %s.catalogs WHERE version = ? LIMIT 1", s.wh.Database()), version)
	if err != nil {
		return nil, false, fmt.Errorf("read catalog %s: %w", version, err)
	}
	defer rows.Close()
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, false, fmt.Errorf("read catalog %s: %w", version, err)
		}
		text = append(text, t)
	}
	if len(text) == 0 {
		return nil, false, rows.Err()
	}
	cat, err = Parse("stored catalog "+version, []byte(text[0]))
	return cat, err == nil, err
}

// ScoreChange is a score that a recompute after a catalog or calendar
// change moved.
type ScoreChange struct {
	Period                        string
	SubjectType, Subject          string
	Level                         string // indicator, group or dimension id, or "total"
	Before, After                 float64
	CatalogBefore, CatalogAfter   string
	CalendarBefore, CalendarAfter string
	ChangedAt                     time.Time
}

// WriteScoreChanges records changed scores.
func (s *Store) WriteScoreChanges(ctx context.Context, cs []ScoreChange) error {
	if len(cs) == 0 {
		return nil
	}
	b, err := s.wh.Conn().PrepareBatch(ctx, fmt.Sprintf(`INSERT INTO %s.score_changes
(period, subject_type, subject, level, before, after, catalog_before, catalog_after, calendar_before, calendar_after, changed_at)`, s.wh.Database()))
	if err != nil {
		return fmt.Errorf("store score changes: %w", err)
	}
	for _, c := range cs {
		if err := b.Append(c.Period, subjectTypeNumber(c.SubjectType), c.Subject, c.Level, c.Before, c.After,
			c.CatalogBefore, c.CatalogAfter, c.CalendarBefore, c.CalendarAfter, c.ChangedAt); err != nil {
			b.Abort()
			return fmt.Errorf("store score changes: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("store score changes: %w", err)
	}
	return nil
}

// ScoreChanges lists the recorded changes of period p.
func (s *Store) ScoreChanges(ctx context.Context, p Period) ([]ScoreChange, error) {
	rows, err := s.wh.Conn().Query(ctx, fmt.Sprintf(`SELECT period, toString(subject_type), subject, level, before, after,
    catalog_before, catalog_after, calendar_before, calendar_after, changed_at
FROM %s.score_changes FINAL WHERE period = ? ORDER BY changed_at, subject_type, subject, level`, s.wh.Database()), p.String())
	if err != nil {
		return nil, fmt.Errorf("read score changes of %s: %w", p, err)
	}
	defer rows.Close()
	var out []ScoreChange
	for rows.Next() {
		var c ScoreChange
		if err := rows.Scan(&c.Period, &c.SubjectType, &c.Subject, &c.Level, &c.Before, &c.After,
			&c.CatalogBefore, &c.CatalogAfter, &c.CalendarBefore, &c.CalendarAfter, &c.ChangedAt); err != nil {
			return nil, fmt.Errorf("read score changes of %s: %w", p, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
