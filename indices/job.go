package indices

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"effidx/rules"
	"effidx/warehouse"
)

// Config schedules the index computation.
type Config struct {
	// Catalog is the catalog file; "" = the embedded indices/catalog.yaml.
	// It is re-read when it changes: a new weight needs no restart.
	Catalog string `yaml:"catalog"`
	// Schedule recomputes the current day, month, quarter and year.
	Schedule string `yaml:"schedule"`
	// CloseSchedule recomputes the periods that ended less than CloseAfter
	// ago (yesterday, the previous month...): late events still land there.
	CloseSchedule string `yaml:"close_schedule"`
	// CloseAfter is how long after its end a period stays open. After that
	// it is closed: neither late events nor a new catalog change it.
	CloseAfter time.Duration `yaml:"close_after"`
	// CatchUpDays bounds how many missed days a start-up catches up on
	// (months, quarters and years are always caught up).
	CatchUpDays int `yaml:"catch_up_days"`
	// Parallel is how many of a computation's source queries run at once
	// (ClickHouse runs each mostly on one core): about ClickHouse's cores
	// that the index may take from ingest and the dashboard.
	Parallel int `yaml:"parallel"`
}

// DefaultConfig: every 5 minutes, closing periods nightly at 02:30 for 10
// days after their end.
func DefaultConfig() Config {
	return Config{Schedule: "@every 5m", CloseSchedule: "30 2 * * *", CloseAfter: 10 * 24 * time.Hour, CatchUpDays: 31, Parallel: DefaultParallel}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	for _, s := range []struct{ name, spec string }{{"schedule", c.Schedule}, {"close_schedule", c.CloseSchedule}} {
		if _, err := cron.ParseStandard(s.spec); err != nil {
			errs = append(errs, fmt.Errorf("indices %s %q: %w (e.g. \"@every 5m\" or \"30 2 * * *\")", s.name, s.spec, err))
		}
	}
	if c.CloseAfter < 0 {
		errs = append(errs, fmt.Errorf("indices close_after must not be negative, got %s", c.CloseAfter))
	}
	if c.CatchUpDays < 0 {
		errs = append(errs, fmt.Errorf("indices catch_up_days must not be negative, got %d", c.CatchUpDays))
	}
	if c.Parallel < 1 || c.Parallel > 32 {
		errs = append(errs, fmt.Errorf("indices parallel must be 1 to 32 source queries at once, got %d", c.Parallel))
	}
	if c.Catalog != "" {
		if _, err := Load(c.Catalog); err != nil {
			errs = append(errs, fmt.Errorf("indices catalog: %w", err))
		}
	}
	return errors.Join(errs...)
}

// CatalogSource reads the catalog file again when it has changed (by size
// and modification time); a broken edit is logged and the previous catalog
// stays in use.
type CatalogSource struct {
	file string
	log  *slog.Logger

	mu   sync.Mutex
	cat  *Catalog
	stat [2]int64
}

// NewCatalogSource loads file ("" = embedded) once; an error here is fatal.
func NewCatalogSource(file string, log *slog.Logger) (*CatalogSource, error) {
	s := &CatalogSource{file: file, log: log}
	cat, err := Load(file)
	if err != nil {
		return nil, err
	}
	s.cat, s.stat = cat, s.statFile()
	return s, nil
}

func (s *CatalogSource) statFile() [2]int64 {
	if s.file == "" {
		return [2]int64{}
	}
	fi, err := os.Stat(s.file)
	if err != nil {
		return [2]int64{}
	}
	return [2]int64{fi.Size(), fi.ModTime().UnixNano()}
}

// Current is the catalog in force.
func (s *CatalogSource) Current() *Catalog {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.statFile(); st != s.stat && s.file != "" {
		s.stat = st
		cat, err := Load(s.file)
		if err != nil {
			s.log.Error("catalog changed but does not load; keeping the previous one (run `effidx check`)", "file", s.file, "err", err)
		} else if cat.Version() != s.cat.Version() {
			s.log.Info("catalog changed", "file", s.file, "from", s.cat.Version(), "to", cat.Version())
			s.cat = cat
		}
	}
	return s.cat
}

// Job computes, stores and keeps fresh the index of every period.
type Job struct {
	wh        *warehouse.Warehouse
	store     *Store
	catalogs  *CatalogSource
	calendars func() (*rules.Calendar, error)
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	metrics   *jobMetrics

	running sync.Mutex
	onWrite []func(Period) // told after a period's results were stored
}

type jobMetrics struct {
	lastSuccess prometheus.Gauge
	duration    prometheus.Gauge
	rowsRead    prometheus.Counter
	computed    *prometheus.CounterVec
	failures    prometheus.Counter
}

// NewJob builds the job; its metrics are registered on reg.
func NewJob(wh *warehouse.Warehouse, catalogs *CatalogSource, calendars func() (*rules.Calendar, error), cfg Config, reg prometheus.Registerer, log *slog.Logger) *Job {
	if log == nil {
		log = slog.Default()
	}
	labels := prometheus.Labels{"job_name": "indices"}
	m := &jobMetrics{
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "effidx_job_last_success_timestamp_seconds", Help: "When the job last succeeded.", ConstLabels: labels}),
		duration:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "effidx_job_duration_seconds", Help: "Duration of the job's last run.", ConstLabels: labels}),
		rowsRead: prometheus.NewCounter(prometheus.CounterOpts{Name: "effidx_job_rows_read_total",
			Help: "Rows ClickHouse read for the job (its own progress statistics).", ConstLabels: labels}),
		computed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "effidx_index_periods_computed_total",
			Help: "Periods computed and stored, by period kind."}, []string{"period_kind"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "effidx_job_failures_total", Help: "Failed job runs.", ConstLabels: labels}),
	}
	reg.MustRegister(m.lastSuccess, m.duration, m.rowsRead, m.computed, m.failures)
	return &Job{wh: wh, store: NewStore(wh), catalogs: catalogs, calendars: calendars, cfg: cfg, log: log, now: time.Now, metrics: m}
}

// Store is where the job keeps its results.
func (j *Job) Store() *Store { return j.store }

// Catalog is the catalog in force.
func (j *Job) Catalog() *Catalog { return j.catalogs.Current() }

// Calendar is the calendar in force.
func (j *Job) Calendar() (*rules.Calendar, error) { return j.calendars() }

// ComputePeriod computes period p as of now and stores it. When the stored
// run was computed with another catalog or calendar, the scores that moved
// are recorded (before and after).
func (j *Job) ComputePeriod(ctx context.Context, p Period) (Computation, Stats, error) {
	return j.computePeriod(ctx, nil, p)
}

// computePeriod is ComputePeriod with comp, which has refreshed the stored
// facts already when it computed a period before (nil: a new computer).
func (j *Job) computePeriod(ctx context.Context, comp *Computer, p Period) (Computation, Stats, error) {
	cat := j.catalogs.Current()
	if comp == nil || comp.Catalog() != cat {
		comp = NewComputer(j.wh, cat).WithParallel(j.cfg.Parallel)
	}
	cal, err := j.calendars()
	if cal == nil {
		return Computation{}, Stats{}, fmt.Errorf("compute %s: no calendar: %w", p, err)
	}
	if err != nil {
		j.log.Error("calendar reload failed; using the previous calendar", "err", err)
	}
	now := j.now()
	prev, had, err := j.store.Read(ctx, p)
	if err != nil {
		return Computation{}, Stats{}, err
	}
	res, st, err := comp.ComputeStats(ctx, cal, p, now)
	j.metrics.rowsRead.Add(float64(st.RowsRead))
	if err != nil {
		return Computation{}, st, err
	}
	if err := j.store.RememberCatalog(ctx, cat.Version(), cat.Text(), now); err != nil {
		return Computation{}, st, err
	}
	c, err := j.store.Write(ctx, p, res, cat.Version(), cal.Version(), now)
	if err != nil {
		return Computation{}, st, err
	}
	j.metrics.computed.WithLabelValues(p.Kind.String()).Inc()
	for _, f := range j.onWrite {
		f(p)
	}
	if had && (prev.Catalog != c.Catalog || prev.Calendar != c.Calendar) {
		if err := j.recordChanges(ctx, prev, c, cat); err != nil {
			j.log.Error("record score changes", "period", p.String(), "err", err)
		}
	}
	return c, st, nil
}

// recordChanges scores the previous run with its own catalog and the new
// one with the current catalog, and keeps every score that moved.
func (j *Job) recordChanges(ctx context.Context, prev, cur Computation, cat *Catalog) error {
	oldCat := cat
	if prev.Catalog != cat.Version() {
		c, ok, err := j.store.Catalog(ctx, prev.Catalog)
		if err != nil {
			return err
		}
		if ok {
			oldCat = c
		} else {
			j.log.Warn("previous catalog text not stored; scoring the previous run with the current catalog", "version", prev.Catalog)
		}
	}
	before := scoreAll(oldCat, prev.Results, nil)
	after := scoreAll(cat, cur.Results, nil)
	var changes []ScoreChange
	for key, a := range after {
		b, ok := before[key]
		if !ok {
			continue
		}
		for level, av := range a {
			bv, ok := b[level]
			if !ok || sameScore(av, bv) {
				continue
			}
			changes = append(changes, ScoreChange{
				Period: cur.Period.String(), SubjectType: key[0], Subject: key[1], Level: level, Before: bv, After: av,
				CatalogBefore: prev.Catalog, CatalogAfter: cur.Catalog, CalendarBefore: prev.Calendar, CalendarAfter: cur.Calendar,
				ChangedAt: cur.ComputedAt,
			})
		}
	}
	j.log.Info("recomputed after a catalog or calendar change", "period", cur.Period.String(), "scores_changed", len(changes),
		"catalog", prev.Catalog+" -> "+cur.Catalog, "calendar", prev.Calendar+" -> "+cur.Calendar)
	return j.store.WriteScoreChanges(ctx, changes)
}

func sameScore(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) < 1e-9
}

// scoreAll scores every subject of results: subject → level → score
// ("total", dimension, group and indicator ids).
func scoreAll(cat *Catalog, results []Result, manual map[string]map[string]float64) map[[2]string]map[string]float64 {
	out := map[[2]string]map[string]float64{}
	for _, card := range Cards(cat, results, manual) {
		m := map[string]float64{"total": card.Total}
		for _, l := range card.Dimensions {
			m[l.ID] = l.Score
		}
		for _, l := range card.Groups {
			m[l.ID] = l.Score
		}
		for _, l := range card.Indicators {
			m[l.ID] = l.Score
		}
		out[[2]string{card.SubjectType, card.Subject}] = m
	}
	return out
}

// Cards scores every subject of results (manual: department → indicator →
// value), unranked.
func Cards(cat *Catalog, results []Result, manual map[string]map[string]float64) []*Card {
	by := map[[2]string]map[string]Result{}
	var order [][2]string
	for _, r := range results {
		k := [2]string{r.SubjectType, r.Subject}
		if by[k] == nil {
			by[k] = map[string]Result{}
			order = append(order, k)
		}
		by[k][r.Indicator] = r
	}
	for dept := range manual {
		k := [2]string{SubjectDepartment, dept}
		if by[k] == nil {
			by[k] = map[string]Result{}
			order = append(order, k)
		}
	}
	cards := make([]*Card, 0, len(order))
	for _, k := range order {
		var m map[string]float64
		if k[0] == SubjectDepartment {
			m = manual[k[1]]
		}
		cards = append(cards, ScoreCard(cat, k[0], k[1], by[k], m))
	}
	return cards
}

// run computes ps one after another; one failing period does not stop the
// others.
func (j *Job) run(ctx context.Context, what string, ps []Period) error {
	start := time.Now()
	var errs []error
	var rows uint64
	comp := NewComputer(j.wh, j.catalogs.Current()).WithParallel(j.cfg.Parallel) // one refresh of the stored facts for all of ps
	for _, p := range ps {
		_, st, err := j.computePeriod(ctx, comp, p)
		rows += st.RowsRead
		if err != nil {
			errs = append(errs, err)
		}
	}
	took := time.Since(start)
	j.metrics.duration.Set(took.Seconds())
	if err := errors.Join(errs...); err != nil {
		j.metrics.failures.Inc()
		return fmt.Errorf("indices %s: %w", what, err)
	}
	j.metrics.lastSuccess.Set(float64(time.Now().Unix()))
	j.log.Debug("indices computed", "what", what, "periods", len(ps), "took", took, "rows_read", rows)
	return nil
}

// Current lists the periods holding now: its day, month, quarter and year.
func Current(now time.Time) []Period {
	return []Period{PeriodOf(Day, now), PeriodOf(Month, now), PeriodOf(Quarter, now), PeriodOf(Year, now)}
}

// Closing lists the periods that ended less than closeAfter before now,
// oldest first.
func Closing(now time.Time, closeAfter time.Duration) []Period {
	var out []Period
	for _, k := range []PeriodKind{Year, Quarter, Month, Day} {
		var ps []Period
		for p := PeriodOf(k, now).Previous(); now.Sub(p.End(now.Location())) < closeAfter; p = p.Previous() {
			ps = append(ps, p)
		}
		for i := len(ps) - 1; i >= 0; i-- {
			out = append(out, ps[i])
		}
	}
	return out
}

func (j *Job) loc() *time.Location {
	if cal, _ := j.calendars(); cal != nil {
		return cal.Location()
	}
	return time.Local
}

// RunCurrent recomputes the current periods, and any still-open period
// whose stored run used another catalog or calendar.
func (j *Job) RunCurrent(ctx context.Context) error {
	now := j.now().In(j.loc())
	ps := Current(now)
	stale, err := j.staleClosing(ctx, now)
	if err != nil {
		return err
	}
	return j.run(ctx, "current periods", append(stale, ps...))
}

// staleClosing lists the open, already ended periods computed with another
// catalog or calendar than the ones in force.
func (j *Job) staleClosing(ctx context.Context, now time.Time) ([]Period, error) {
	cat := j.catalogs.Current()
	cal, _ := j.calendars()
	if cal == nil {
		return nil, nil
	}
	runs, err := j.store.Runs(ctx)
	if err != nil {
		return nil, err
	}
	var out []Period
	for _, p := range Closing(now, j.cfg.CloseAfter) {
		if r, ok := runs[p.String()]; ok && (r.Catalog != cat.Version() || r.Calendar != cal.Version()) {
			out = append(out, p)
		}
	}
	return out, nil
}

// RunClosing recomputes the periods that ended less than CloseAfter ago.
func (j *Job) RunClosing(ctx context.Context) error {
	now := j.now().In(j.loc())
	return j.run(ctx, "closing periods", Closing(now, j.cfg.CloseAfter))
}

// CatchUp computes the ended periods that have no run since their end:
// those missed while effidx was down, or, on a fresh installation, every
// period since the first event (days: the last CatchUpDays only).
func (j *Job) CatchUp(ctx context.Context) error {
	now := j.now().In(j.loc())
	runs, err := j.store.Runs(ctx)
	if err != nil {
		return err
	}
	from, err := j.catchUpFrom(ctx, runs, now)
	if err != nil || from.IsZero() {
		return err
	}
	ps := j.periodsSince(from, now, func(p Period) bool {
		r, ok := runs[p.String()]
		return !p.End(now.Location()).After(now) && (!ok || r.ComputedAt.Before(p.End(now.Location())))
	})
	if len(ps) == 0 {
		return nil
	}
	j.log.Info("catching up on periods not computed since they ended", "periods", len(ps), "from", ps[0].String())
	return j.run(ctx, "catch-up", ps)
}

// periodsSince lists the periods of every kind from the one holding from
// up to the one holding now (days: the last CatchUpDays only) that want
// says to compute, years first.
func (j *Job) periodsSince(from, now time.Time, want func(Period) bool) []Period {
	var ps []Period
	for _, k := range []PeriodKind{Year, Quarter, Month, Day} {
		start := from
		if k == Day {
			if lim := now.AddDate(0, 0, -j.cfg.CatchUpDays); start.Before(lim) {
				start = lim
			}
		}
		last := PeriodOf(k, now)
		for p := PeriodOf(k, start); p != last.Next(); p = p.Next() {
			if want(p) {
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// ComputeSince computes every period from the one holding from up to the
// current ones (days: the last CatchUpDays): the demo's fresh city.
func (j *Job) ComputeSince(ctx context.Context, from time.Time) (int, error) {
	now := j.now().In(j.loc())
	ps := j.periodsSince(from.In(now.Location()), now, func(Period) bool { return true })
	j.running.Lock()
	defer j.running.Unlock()
	return len(ps), j.run(ctx, "since "+from.Format(time.DateOnly), ps)
}

// catchUpFrom is the last computation, or on a fresh installation the
// first event; zero when there are no events.
func (j *Job) catchUpFrom(ctx context.Context, runs map[string]Computation, now time.Time) (time.Time, error) {
	var last time.Time
	for _, r := range runs {
		if r.ComputedAt.After(last) {
			last = r.ComputedAt
		}
	}
	if !last.IsZero() {
		return last.In(now.Location()), nil
	}
	var first time.Time
	var n uint64
	q := fmt.Sprintf("SELECT count(), min(at) FROM %s.events WHERE at <= toDateTime(?)", j.wh.Database())
	if err := j.wh.Conn().QueryRow(ctx, q, now.Unix()).Scan(&n, &first); err != nil {
		return time.Time{}, fmt.Errorf("first event: %w", err)
	}
	if n == 0 {
		return time.Time{}, nil
	}
	return first.In(now.Location()), nil
}

// Start catches up, then runs the schedules until ctx is done. A run that
// outlasts its interval is not doubled up.
func (j *Job) Start(ctx context.Context) error {
	c := cron.New(cron.WithLogger(cron.DiscardLogger))
	guarded := func(what string, f func(context.Context) error) func() {
		return func() {
			if !j.running.TryLock() {
				j.log.Warn("indices run skipped: the previous one is still running", "what", what)
				return
			}
			defer j.running.Unlock()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				j.log.Error("indices job failed", "what", what, "err", err)
			}
		}
	}
	if _, err := c.AddFunc(j.cfg.Schedule, guarded("current", j.RunCurrent)); err != nil {
		return fmt.Errorf("indices schedule %q: %w", j.cfg.Schedule, err)
	}
	if _, err := c.AddFunc(j.cfg.CloseSchedule, guarded("closing", j.RunClosing)); err != nil {
		return fmt.Errorf("indices close_schedule %q: %w", j.cfg.CloseSchedule, err)
	}
	go func() {
		guarded("catch-up", j.CatchUp)()
		guarded("current", j.RunCurrent)()
		c.Start()
		<-ctx.Done()
		<-c.Stop().Done()
	}()
	return nil
}
