package lights

import (
	"cmp"
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

	"effidx/event"
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
// into the run's item chunks: a million items are not copied again.
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

	// The open items between runs, in chunks of at most chunkSize. A
	// re-derived case marks its old items dead.
	src      *source
	chunks   [][]Item
	dead     int
	lastFull time.Time // wall clock of the last full read; zero: none yet
	lastRun  time.Time // wall clock at the start of the last read

	running sync.Mutex
	mu      sync.RWMutex
	snap    *snapshot // of the last run; nil before the first
	known   *recorded // per item hash: the lights already recorded (lightBit)
	seed    maphash.Seed
}

type jobMetrics struct {
	counts      *counts
	lastSuccess prometheus.Gauge
	duration    prometheus.Gauge
	items       prometheus.Gauge
}

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
	return &Job{wh: wh, judge: judge, cfg: cfg, log: log, now: time.Now, metrics: m, src: newSource(wh.Conn(), wh.Database())}
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
		j.known = newRecorded(len(keys))
		for _, k := range keys {
			j.known.add(j.hash(k.Kind, k.CaseID, k.Item), lightBit(k.Light))
		}
	}
	version, err := j.judge.Begin()
	if version == "" {
		return fmt.Errorf("lights: no calendar: %w", err)
	}
	if err != nil {
		j.log.Error("lights: calendar reload failed; using the previous calendar", "err", err)
	}
	// Items are judged on every core while the read goes on: a full read
	// hands over each chunk as it arrives, so judging overlaps the rest of
	// the read. now is therefore taken before the read.
	now := j.now()
	jd := j.startJudging(now, version)
	full, err := j.read(ctx, jd.add)
	if err != nil {
		jd.wait()
		return err
	}
	read := time.Since(start)
	// What a full read has not handed over already: every chunk after an
	// incremental read.
	for _, c := range j.chunks[len(jd.chunks):] {
		jd.add(c)
	}
	jd.wait()
	loaded := time.Since(start)
	open, legal := gauges(jd.parts)
	changes, exact := jd.parts[0].changes, jd.parts[0].exact
	for _, p := range jd.parts[1:] {
		changes = append(changes, p.changes...)
		for k, v := range p.exact {
			exact[k] = v
		}
	}
	judgedIn := time.Since(start)
	if err := j.wh.WriteLightChanges(ctx, changes); err != nil {
		return err
	}
	for _, c := range changes {
		j.known.add(j.hash(c.Kind, c.CaseID, c.Item), lightBit(c.Light))
	}
	keys := make([][]uint64, len(jd.chunks))
	for c, jc := range jd.chunks {
		keys[c] = jc.keys
	}
	order := sortOrder(keys)
	j.metrics.counts.set(open, legal)
	snap := &snapshot{items: j.chunks, chunks: jd.chunks, exact: exact, order: order, taken: now}
	j.mu.Lock()
	j.snap = snap
	j.mu.Unlock()
	took := time.Since(start)
	j.metrics.items.Set(float64(len(order)))
	j.metrics.duration.Set(took.Seconds())
	j.metrics.lastSuccess.SetToCurrentTime()
	j.log.Debug("lights computed", "items", len(order), "changes", len(changes), "took", took,
		"full", full, "read", read, "judge", loaded-read, "merge", judgedIn-loaded)
	return nil
}

// judging judges chunks on every core as they are added.
type judging struct {
	chunks []*judgedChunk // the verdicts of the chunks added, in order
	jobs   chan chunkJob
	wg     sync.WaitGroup
	parts  []judged // one per worker
}

type chunkJob struct {
	c     int // place of the chunk
	items []Item
	out   *judgedChunk
}

func (j *Job) startJudging(now time.Time, version string) *judging {
	jd := &judging{jobs: make(chan chunkJob, 64), parts: make([]judged, runtime.GOMAXPROCS(0))}
	for p := range jd.parts {
		jd.parts[p] = newJudged()
		jd.wg.Add(1)
		go func() {
			defer jd.wg.Done()
			for c := range jd.jobs {
				j.judgeAll(&jd.parts[p], c, now, version)
			}
		}()
	}
	return jd
}

// add queues a chunk. Calls must not overlap (read makes them under its
// lock) and come in chunk order.
func (jd *judging) add(items []Item) {
	out := &judgedChunk{v: make([]verdict, len(items)), keys: make([]uint64, len(items))}
	jd.jobs <- chunkJob{len(jd.chunks), items, out}
	jd.chunks = append(jd.chunks, out)
}

// wait lets the workers finish.
func (jd *judging) wait() {
	close(jd.jobs)
	jd.wg.Wait()
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
	depts   map[string]*deptCounts // by department
	other   map[gaugeKey]int       // items of a kind not in kinds (none expected)
	changes []warehouse.LightChange
	exact   map[int32]Verdict // verdicts that do not pack, by place
	asks    []ask             // scratch of judgeAll
}

// kinds are the item kinds counted in deptCounts.
var kinds = [...]string{event.KindService.String(), event.KindInternal.String(), event.KindScenario.String(),
	event.KindTicket.String(), event.KindTask.String(), KindStep, KindMilestone}

func kindIndex(kind string) int {
	for i, k := range kinds {
		if k == kind {
			return i
		}
	}
	return -1
}

// deptCounts counts a department's items by kind and light, and the legally
// overdue ones by kind: counting into arrays found by one string lookup per
// item is much cheaper than a map keyed by department, kind and light.
type deptCounts struct {
	open  [len(kinds)][len(levels)]int
	legal [len(kinds)]int
}

func newJudged() judged {
	return judged{depts: map[string]*deptCounts{}, other: map[gaugeKey]int{}, exact: map[int32]Verdict{}}
}

// count adds an item's light to the counts.
func (out *judged) count(it *Item, v *Verdict) {
	k := kindIndex(it.Kind)
	if k < 0 {
		out.other[gaugeKey{it.Department, it.Kind, v.level}]++
		if v.LegalOverdue {
			out.other[gaugeKey{it.Department, it.Kind, legalLevel}]++
		}
		return
	}
	d := out.depts[it.Department]
	if d == nil {
		d = &deptCounts{}
		out.depts[it.Department] = d
	}
	d.open[k][v.level]++
	if v.LegalOverdue {
		d.legal[k]++
	}
}

// legalLevel marks the legally overdue count of a kind in judged.other.
const legalLevel = -1

// gauges adds the counts of parts up into the gauges' maps.
func gauges(parts []judged) (open, legal map[gaugeKey]int) {
	open, legal = map[gaugeKey]int{}, map[gaugeKey]int{}
	for _, p := range parts {
		for dept, d := range p.depts {
			for k := range kinds {
				for l, n := range d.open[k] {
					if n > 0 {
						open[gaugeKey{dept, kinds[k], int8(l)}] += n
					}
				}
				if d.legal[k] > 0 {
					legal[gaugeKey{dept, kinds[k], 0}] += d.legal[k]
				}
			}
		}
		for key, n := range p.other {
			if key.level == legalLevel {
				key.level = 0
				legal[key] += n
			} else {
				open[key] += n
			}
		}
	}
	return open, legal
}

// ask is an item whose recorded lights judgeAll looks up.
type ask struct {
	i          int32 // in the chunk
	want, have uint8 // lightBit of its lights now; of those recorded
	h          uint64
}

// judgeAll judges a chunk's items into its verdicts and out; it only reads
// the job's state, so chunks are judged concurrently, each worker with its
// own out.
func (j *Job) judgeAll(out *judged, c chunkJob, now time.Time, version string) {
	asks := out.asks[:0]
	for i := range c.items {
		it := &c.items[i]
		if it.dead {
			continue
		}
		v, ok := j.judge.Judge(it, now)
		if !ok {
			continue
		}
		v.level = level(v.Light)
		var packed bool
		if c.out.v[i], packed = pack(&v, &c.out.loc); !packed {
			out.exact[int32(c.c<<chunkBits|i)] = v
		}
		c.out.keys[i] = sortKey(&v)
		out.count(it, &v)
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
		if want != 0 {
			asks = append(asks, ask{i: int32(i), want: want, h: j.hash(it.Kind, it.CaseID, it.Sub)})
		}
	}
	// The lookups in a loop of their own, so that their cache misses overlap.
	for k := range asks {
		asks[k].have = j.known.get(asks[k].h)
	}
	for _, a := range asks {
		if a.want&^a.have == 0 {
			continue
		}
		it := &c.items[a.i]
		v, ok := out.exact[int32(c.c<<chunkBits)|a.i]
		if !ok {
			v = c.out.v[a.i].unpack(c.out.loc)
		}
		for _, l := range [...]struct {
			light string
			since time.Time
		}{{Yellow, v.YellowSince}, {Red, v.RedSince}, {legalOverdue, v.LegalDue}} {
			if b := lightBit(l.light); a.want&b == 0 || a.have&b != 0 {
				continue
			}
			since := l.since
			if since.IsZero() {
				since = now
			}
			out.changes = append(out.changes, warehouse.LightChange{Kind: it.Kind, CaseID: it.CaseID, Item: it.Sub, Department: it.Department,
				Light: l.light, Since: since, ObservedAt: now, Calendar: version})
		}
	}
	out.asks = asks[:0]
}

// read brings the open items up to date: everything on the first run and
// every FullEvery, else only the cases with events received since the
// previous run (less LateMargin). It reports whether it read everything. A
// full read hands each new chunk to fresh as it arrives, in chunk order.
func (j *Job) read(ctx context.Context, fresh func([]Item)) (bool, error) {
	wall := time.Now()
	if j.lastFull.IsZero() || wall.Sub(j.lastFull) >= j.cfg.FullEvery {
		var mu sync.Mutex
		var chunks [][]Item
		if err := j.src.stream(ctx, time.Time{}, func(c []Item) {
			mu.Lock()
			defer mu.Unlock()
			chunks = append(chunks, c)
			fresh(c)
		}); err != nil {
			return true, err
		}
		j.chunks, j.dead = chunks, 0
		j.lastFull, j.lastRun = wall, wall
		return true, nil
	}
	since := j.lastRun.Add(-j.cfg.LateMargin)
	touched, err := Touched(ctx, j.src.conn, j.src.db, since)
	if err != nil {
		return false, err
	}
	var mu sync.Mutex
	var chunks [][]Item
	if len(touched) > 0 {
		if err := j.src.stream(ctx, since, func(c []Item) {
			mu.Lock()
			chunks = append(chunks, c)
			mu.Unlock()
		}); err != nil {
			return false, err
		}
	}
	// Drop what is known of every touched case (closed ones simply do not
	// come back), including cases whose events landed between the two
	// queries, then add what was derived. One pass over the items with a
	// set of the few re-derived cases costs an incremental run less than a
	// map of every case would cost each full read.
	gone := make(map[string]struct{}, len(touched))
	for _, c := range touched {
		gone[c] = struct{}{}
	}
	for _, c := range chunks {
		for i := range c {
			gone[c[i].CaseID] = struct{}{}
		}
	}
	if len(gone) > 0 {
		for _, c := range j.chunks {
			for i := range c {
				if it := &c[i]; !it.dead {
					if _, ok := gone[it.CaseID]; ok {
						it.dead = true
						j.dead++
					}
				}
			}
		}
	}
	j.chunks = append(j.chunks, chunks...)
	j.lastRun = wall
	return false, nil
}

// sortKey orders verdicts worst first: red, then yellow, then green;
// within a light, legally overdue first, then the fewest working days
// left. 0 marks an empty slot (an item without a light).
func sortKey(v *Verdict) uint64 {
	rank := uint64(2-v.level) * 2
	if !v.LegalOverdue {
		rank++
	}
	left := min(max(v.WorkdaysLeft, -leftBias+1), leftBias-1) // days: far inside
	return rank<<(leftBits+1) | uint64(left+leftBias)
}

const (
	leftBits = 40
	leftBias = 1 << leftBits
	leftMask = 1<<(leftBits+1) - 1
)

// sortOrder lists the places (chunk<<chunkBits | index) of the verdicts
// by sortKey, ties in place order. The keys span a few thousand values at
// most (working days left), so a counting sort does it in two passes over
// the compact keys; an unusually wide span falls back to sorting.
func sortOrder(keys [][]uint64) []int32 {
	n := 0
	var lo, hi uint64
	for _, c := range keys {
		for _, k := range c {
			if k == 0 {
				continue
			}
			left := k & leftMask
			if n == 0 || left < lo {
				lo = left
			}
			if n == 0 || left > hi {
				hi = left
			}
			n++
		}
	}
	order := make([]int32, 0, n)
	if n == 0 {
		return order
	}
	span := hi - lo + 1
	if span > 1<<20 {
		type entry struct {
			key   uint64
			place int32
		}
		es := make([]entry, 0, n)
		for c := range keys {
			for i, k := range keys[c] {
				if k != 0 {
					es = append(es, entry{k, int32(c<<chunkBits | i)})
				}
			}
		}
		slices.SortFunc(es, func(a, b entry) int {
			return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.place, b.place))
		})
		for _, e := range es {
			order = append(order, e.place)
		}
		return order
	}
	order = order[:n]
	bucket := func(k uint64) uint64 { return (k>>(leftBits+1))*span + k&leftMask - lo }
	start := make([]int32, 6*span+1)
	for _, c := range keys {
		for _, k := range c {
			if k != 0 {
				start[bucket(k)+1]++
			}
		}
	}
	for b := 1; b < len(start); b++ {
		start[b] += start[b-1]
	}
	for c := range keys {
		for i, k := range keys[c] {
			if k != 0 {
				b := bucket(k)
				order[start[b]] = int32(c<<chunkBits | i)
				start[b]++
			}
		}
	}
	return order
}

// current is the snapshot of the last run; nil before the first.
func (j *Job) current() *snapshot {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.snap
}

// Snapshot returns the items of the last run, worst first, and when it
// ran. The items are shared: do not modify them.
func (j *Job) Snapshot() ([]Lit, time.Time) {
	s := j.current()
	if s == nil {
		return nil, time.Time{}
	}
	out := make([]Lit, len(s.order))
	for i, p := range s.order {
		out[i] = s.lit(p)
	}
	return out, s.taken
}

// Each calls fn with the items of the last run, worst first, until fn
// returns false, and returns when that run judged them (zero before the
// first run). Unlike Snapshot it copies nothing: the reminder job walks a
// million items every minute. The items are shared: do not modify them.
func (j *Job) Each(fn func(Lit) bool) time.Time {
	s := j.current()
	if s == nil {
		return time.Time{}
	}
	for _, p := range s.order {
		if !fn(s.lit(p)) {
			break
		}
	}
	return s.taken
}

// SetClock replaces the clock the lights are judged at (tests run
// simulated days with it). Call it before the first run.
func (j *Job) SetClock(now func() time.Time) { j.now = now }

// Counts is how many items of the last run have each light.
func (j *Job) Counts() (green, yellow, red int) {
	s := j.current()
	if s == nil {
		return 0, 0, 0
	}
	for _, p := range s.order {
		switch s.verdict(p).level {
		case 2:
			red++
		case 1:
			yellow++
		default:
			green++
		}
	}
	return green, yellow, red
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
