package lights

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"effidx/warehouse"
)

// Light levels, worst last.
const (
	Green  = "green"
	Yellow = "yellow"
	Red    = "red"
)

// Verdict is an item's light at an instant.
type Verdict struct {
	Light        string
	LegalOverdue bool
	Due          time.Time // zero while the clock is stopped or there is no limit
	LegalDue     time.Time
	WorkdaysLeft int       // negative: working days overdue
	YellowSince  time.Time // when it turned yellow / red, by the rules
	RedSince     time.Time
	Provisional  bool // the deadline reaches a year without calendar data
	level        int8 // of Light, for sorting and counting
}

// Judge applies the time rules to an item. ok is false for items without
// a clock (no limit), which have no light.
type Judge interface {
	// Begin is called once per run and fixes the calendar and rules its
	// verdicts use; it returns their version. With an error and a version
	// the run goes on with the last good calendar.
	Begin() (version string, err error)
	Judge(it *Item, now time.Time) (v Verdict, ok bool)
}

// Config schedules the job.
type Config struct {
	Schedule string `yaml:"schedule"` // cron spec (robfig/cron/v3, seconds optional)
	// Between full reads, a run re-derives only the cases with an event
	// received in the last LateMargin before the previous run: the margin
	// covers events that reach ClickHouse late (collector spool backlog).
	LateMargin time.Duration `yaml:"late_margin"`
	// FullEvery re-reads every open item from scratch, catching anything
	// that landed later than LateMargin (a long ClickHouse outage).
	FullEvery time.Duration `yaml:"full_every"`
}

// DefaultConfig runs the job every minute, re-reading everything hourly.
func DefaultConfig() Config {
	return Config{Schedule: "@every 1m", LateMargin: 10 * time.Minute, FullEvery: time.Hour}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if _, err := cron.ParseStandard(c.Schedule); err != nil {
		errs = append(errs, fmt.Errorf("lights schedule %q: %w (e.g. \"@every 1m\" or \"*/5 * * * *\")", c.Schedule, err))
	}
	if c.LateMargin <= 0 {
		errs = append(errs, fmt.Errorf("lights late_margin must be positive, got %s", c.LateMargin))
	}
	if c.FullEvery < 0 {
		errs = append(errs, fmt.Errorf("lights full_every must not be negative, got %s (0 = every run)", c.FullEvery))
	}
	return errors.Join(errs...)
}

// Lit is an open item with its verdict, as served by the API. Item points
// into the run's item slice: a million items are not copied again.
type Lit struct {
	*Item
	Verdict
}

// Job computes all lights, records new light changes and keeps the current
// snapshot for the API and the gauges.
type Job struct {
	wh      *warehouse.Warehouse
	judge   Judge
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	metrics *jobMetrics

	// The open items between runs: chunks of items, and where each case's
	// items are. A re-derived case marks its old items dead.
	chunks   [][]Item
	byCase   map[string][]itemRef
	dead     int
	lastFull time.Time // wall clock of the last full read
	lastRun  time.Time // wall clock at the start of the last read

	running  sync.Mutex
	mu       sync.RWMutex
	snapshot []Lit
	order    []int32 // snapshot indexes, worst first
	taken    time.Time
	known    map[uint64]uint8 // per item hash: the lights already recorded (lightBit)
	seed     maphash.Seed
}

type jobMetrics struct {
	counts      *counts
	lastSuccess prometheus.Gauge
	duration    prometheus.Gauge
	items       prometheus.Gauge
}

type itemRef struct{ chunk, idx int32 }

// NewJob builds the job; its gauges are registered on reg.
func NewJob(wh *warehouse.Warehouse, judge Judge, cfg Config, reg prometheus.Registerer, log *slog.Logger) *Job {
	if log == nil {
		log = slog.Default()
	}
	m := &jobMetrics{
		counts: &counts{
			openDesc: prometheus.NewDesc("effidx_open_items", "Open cases, steps, tickets, tasks and milestones by department, kind and light.",
				[]string{"department", "kind", "light"}, nil),
			legalDesc: prometheus.NewDesc("effidx_legal_overdue_items", "Open items past their statutory deadline, by department and kind.",
				[]string{"department", "kind"}, nil),
		},
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "effidx_job_last_success_timestamp_seconds", Help: "When the job last succeeded.", ConstLabels: prometheus.Labels{"job_name": "lights"},
		}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "effidx_job_duration_seconds", Help: "Duration of the job's last run.", ConstLabels: prometheus.Labels{"job_name": "lights"},
		}),
		items: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "effidx_lights_items", Help: "Open items with a clock in the last lights run.",
		}),
	}
	reg.MustRegister(m.counts, m.lastSuccess, m.duration, m.items)
	return &Job{wh: wh, judge: judge, cfg: cfg, log: log, now: time.Now, metrics: m}
}

// RunOnce computes every light now, after any run in progress.
func (j *Job) RunOnce(ctx context.Context) error {
	j.running.Lock()
	defer j.running.Unlock()
	return j.runOnce(ctx)
}

func (j *Job) runOnce(ctx context.Context) error {
	start := time.Now()
	if j.known == nil {
		keys, err := j.wh.LightChangeKeys(ctx)
		if err != nil {
			return err
		}
		j.seed = maphash.MakeSeed()
		j.known = make(map[uint64]uint8, len(keys))
		for _, k := range keys {
			j.known[j.hash(k.Kind, k.CaseID, k.Item)] |= lightBit(k.Light)
		}
	}
	version, err := j.judge.Begin()
	if version == "" {
		return fmt.Errorf("lights: no calendar: %w", err)
	}
	if err != nil {
		j.log.Error("lights: calendar reload failed; using the previous calendar", "err", err)
	}
	full, err := j.read(ctx)
	if err != nil {
		return err
	}
	read := time.Since(start)
	now := j.now()
	// Judge every live item on every core. Each chunk's verdicts go to its
	// own span of lit, so nothing is copied afterwards; items without a
	// light leave an empty slot, which sortOrder leaves out.
	type job struct {
		items []Item
		out   []Lit
	}
	total := 0
	for _, c := range j.chunks {
		total += len(c)
	}
	lit := make([]Lit, total)
	jobs := make(chan job, len(j.chunks))
	off := 0
	for _, c := range j.chunks {
		jobs <- job{c, lit[off : off+len(c)]}
		off += len(c)
	}
	close(jobs)
	parts := make([]judged, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for p := range parts {
		parts[p] = judged{open: map[gaugeKey]int{}, legal: map[gaugeKey]int{}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for jb := range jobs {
				j.judgeAll(&parts[p], jb.items, jb.out, now, version)
			}
		}()
	}
	wg.Wait()
	loaded := time.Since(start)
	open, legal, changes := parts[0].open, parts[0].legal, parts[0].changes
	for _, p := range parts[1:] {
		for k, n := range p.open {
			open[k] += n
		}
		for k, n := range p.legal {
			legal[k] += n
		}
		changes = append(changes, p.changes...)
	}
	judgedIn := time.Since(start)
	if err := j.wh.WriteLightChanges(ctx, changes); err != nil {
		return err
	}
	for _, c := range changes {
		j.known[j.hash(c.Kind, c.CaseID, c.Item)] |= lightBit(c.Light)
	}
	order := sortOrder(lit)
	j.metrics.counts.set(open, legal)
	j.mu.Lock()
	j.snapshot, j.order, j.taken = lit, order, now
	j.mu.Unlock()
	took := time.Since(start)
	j.metrics.items.Set(float64(len(order)))
	j.metrics.duration.Set(took.Seconds())
	j.metrics.lastSuccess.SetToCurrentTime()
	j.log.Debug("lights computed", "items", len(order), "changes", len(changes), "took", took,
		"full", full, "read", read, "judge", loaded-read, "merge", judgedIn-loaded)
	return nil
}

const legalOverdue = "legal_overdue"

// lightBit is a recorded light's bit in Job.known.
func lightBit(light string) uint8 {
	switch light {
	case Yellow:
		return 1
	case Red:
		return 2
	case legalOverdue:
		return 4
	}
	return 0
}

// hash keys an item in the set of recorded changes. 64-bit hashes instead
// of the strings keep a million-entry set small and cheap for the GC, and
// one lookup per item answers for all its lights; a collision (odds ~1e-7
// at 1.5M items) would only skip recording one change.
func (j *Job) hash(kind, caseID, sub string) uint64 {
	var h maphash.Hash
	h.SetSeed(j.seed)
	h.WriteString(kind)
	h.WriteByte(0)
	h.WriteString(caseID)
	h.WriteByte(0)
	h.WriteString(sub)
	return h.Sum64()
}

var levels = [...]string{Green, Yellow, Red}

func level(light string) int8 {
	switch light {
	case Red:
		return 2
	case Yellow:
		return 1
	}
	return 0
}

type gaugeKey struct {
	dept, kind string
	level      int8
}

// counts exports the last run's counts. Swapping whole maps under a lock,
// instead of resetting and refilling gauge vectors, means a scrape never
// sees a half-updated set (a red series missing for one scrape would
// resolve its alert).
type counts struct {
	openDesc, legalDesc *prometheus.Desc
	mu                  sync.RWMutex
	open, legal         map[gaugeKey]int
}

func (c *counts) set(open, legal map[gaugeKey]int) {
	c.mu.Lock()
	c.open, c.legal = open, legal
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *counts) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.openDesc
	ch <- c.legalDesc
}

// Collect implements prometheus.Collector.
func (c *counts) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for k, n := range c.open {
		ch <- prometheus.MustNewConstMetric(c.openDesc, prometheus.GaugeValue, float64(n), k.dept, k.kind, levels[k.level])
	}
	for k, n := range c.legal {
		ch <- prometheus.MustNewConstMetric(c.legalDesc, prometheus.GaugeValue, float64(n), k.dept, k.kind)
	}
}

// judged is what judging a share of the items gives, besides the verdicts.
type judged struct {
	open, legal map[gaugeKey]int
	changes     []warehouse.LightChange
}

// judgeAll judges items into lit (lit[i] for items[i]) and out; it only
// reads the job's state, so chunks are judged concurrently, each worker
// with its own out.
func (j *Job) judgeAll(out *judged, items []Item, lit []Lit, now time.Time, version string) {
	for i := range items {
		it := &items[i]
		if it.dead {
			continue
		}
		v, ok := j.judge.Judge(it, now)
		if !ok {
			continue
		}
		v.level = level(v.Light)
		lit[i] = Lit{Item: it, Verdict: v}
		out.open[gaugeKey{it.Department, it.Kind, v.level}]++
		if v.LegalOverdue {
			out.legal[gaugeKey{it.Department, it.Kind, 0}]++
		}
		if v.level == 0 && !v.LegalOverdue {
			continue
		}
		var want uint8
		if v.level >= 1 {
			want |= lightBit(Yellow)
		}
		if v.level == 2 {
			want |= lightBit(Red)
		}
		if v.LegalOverdue {
			want |= lightBit(legalOverdue)
		}
		have := j.known[j.hash(it.Kind, it.CaseID, it.Sub)]
		if want&^have == 0 {
			continue
		}
		for _, c := range [...]struct {
			light string
			since time.Time
		}{{Yellow, v.YellowSince}, {Red, v.RedSince}, {legalOverdue, v.LegalDue}} {
			if b := lightBit(c.light); want&b == 0 || have&b != 0 {
				continue
			}
			since := c.since
			if since.IsZero() {
				since = now
			}
			out.changes = append(out.changes, warehouse.LightChange{Kind: it.Kind, CaseID: it.CaseID, Item: it.Sub, Department: it.Department,
				Light: c.light, Since: since, ObservedAt: now, Calendar: version})
		}
	}
}

// read brings the open items up to date: everything on the first run and
// every FullEvery, else only the cases with events received since the
// previous run (less LateMargin). It reports whether it read everything.
func (j *Job) read(ctx context.Context) (bool, error) {
	wall := time.Now()
	conn, db := j.wh.Conn(), j.wh.Database()
	if j.byCase == nil || wall.Sub(j.lastFull) >= j.cfg.FullEvery {
		var chunks [][]Item
		if err := Stream(ctx, conn, db, time.Time{}, 10000, func(c []Item) error {
			chunks = append(chunks, c)
			return nil
		}); err != nil {
			return true, err
		}
		byCase := make(map[string][]itemRef, len(j.byCase))
		for ci, c := range chunks {
			for ii := range c {
				byCase[c[ii].CaseID] = append(byCase[c[ii].CaseID], itemRef{int32(ci), int32(ii)})
			}
		}
		j.chunks, j.byCase, j.dead = chunks, byCase, 0
		j.lastFull, j.lastRun = wall, wall
		return true, nil
	}
	since := j.lastRun.Add(-j.cfg.LateMargin)
	touched, err := Touched(ctx, conn, db, since)
	if err != nil {
		return false, err
	}
	var fresh []Item
	if len(touched) > 0 {
		if err := Stream(ctx, conn, db, since, 10000, func(c []Item) error {
			fresh = append(fresh, c...)
			return nil
		}); err != nil {
			return false, err
		}
	}
	// Drop what is known of every touched case (closed ones simply do not
	// come back), including cases whose events landed between the two
	// queries, then add what was derived.
	drop := func(caseID string) {
		for _, r := range j.byCase[caseID] {
			j.chunks[r.chunk][r.idx].dead = true
			j.dead++
		}
		delete(j.byCase, caseID)
	}
	for _, c := range touched {
		drop(c)
	}
	for i := range fresh {
		drop(fresh[i].CaseID)
	}
	if len(fresh) > 0 {
		ci := int32(len(j.chunks))
		j.chunks = append(j.chunks, fresh)
		for ii := range fresh {
			j.byCase[fresh[ii].CaseID] = append(j.byCase[fresh[ii].CaseID], itemRef{ci, int32(ii)})
		}
	}
	j.lastRun = wall
	return false, nil
}

// sortOrder lists lit worst first: red, then yellow, then green; within a
// light, legally overdue first, then the fewest working days left. Sorting
// 16-byte keys instead of the items keeps a million-item run fast. Empty
// slots (items without a light) are left out.
func sortOrder(lit []Lit) []int32 {
	type entry struct {
		key uint64
		idx int32
	}
	es := make([]entry, 0, len(lit))
	for i := range lit {
		l := &lit[i]
		if l.Item == nil {
			continue // no light: dead, or no limit
		}
		var overdue uint64
		if l.LegalOverdue {
			overdue = 1
		}
		left := uint64(int64(l.WorkdaysLeft) + 1<<40) // non-negative, order kept
		es = append(es, entry{key: uint64(2-l.level)<<62 | (1-overdue)<<61 | left, idx: int32(i)})
	}
	slices.SortFunc(es, func(a, b entry) int {
		if a.key != b.key {
			if a.key < b.key {
				return -1
			}
			return 1
		}
		return int(a.idx - b.idx)
	})
	order := make([]int32, len(es))
	for i, e := range es {
		order[i] = e.idx
	}
	return order
}

// Snapshot returns the items of the last run, worst first, and when it
// ran. The slice is shared: do not modify it.
func (j *Job) Snapshot() ([]Lit, time.Time) {
	j.mu.RLock()
	lit, order, taken := j.snapshot, j.order, j.taken
	j.mu.RUnlock()
	out := make([]Lit, len(order))
	for i, k := range order {
		out[i] = lit[k]
	}
	return out, taken
}

// Counts is how many items of the last run have each light.
func (j *Job) Counts() (green, yellow, red int) {
	j.each(func(l *Lit) bool {
		switch l.level {
		case 2:
			red++
		case 1:
			yellow++
		default:
			green++
		}
		return true
	})
	return green, yellow, red
}

// each calls f for the items of the last run, worst first, until f
// returns false.
func (j *Job) each(f func(*Lit) bool) time.Time {
	j.mu.RLock()
	lit, order, taken := j.snapshot, j.order, j.taken
	j.mu.RUnlock()
	for _, k := range order {
		if !f(&lit[k]) {
			break
		}
	}
	return taken
}

// Start runs the job once now and then on schedule until ctx is done.
func (j *Job) Start(ctx context.Context) error {
	cfg := j.cfg
	c := cron.New(cron.WithLogger(cron.DiscardLogger))
	run := func() {
		// A run that outlasts the interval is not doubled up.
		if !j.running.TryLock() {
			j.log.Warn("lights run skipped: the previous one is still running")
			return
		}
		defer j.running.Unlock()
		if err := j.runOnce(ctx); err != nil && !errors.Is(err, context.Canceled) {
			j.log.Error("lights job failed", "err", err)
		}
	}
	if _, err := c.AddFunc(cfg.Schedule, run); err != nil {
		return fmt.Errorf("lights schedule %q: %w", cfg.Schedule, err)
	}
	go run()
	c.Start()
	go func() {
		<-ctx.Done()
		<-c.Stop().Done()
	}()
	return nil
}
