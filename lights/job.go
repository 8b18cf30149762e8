package lights

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
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
}

// DefaultConfig runs the job every minute.
func DefaultConfig() Config { return Config{Schedule: "@every 1m"} }

// Validate checks the schedule.
func (c *Config) Validate() error {
	if _, err := cron.ParseStandard(c.Schedule); err != nil {
		return fmt.Errorf("lights schedule %q: %w (e.g. \"@every 1m\" or \"*/5 * * * *\")", c.Schedule, err)
	}
	return nil
}

// Lit is an open item with its verdict, as served by the API.
type Lit struct {
	Item
	Verdict
}

// Job computes all lights, records new light changes and keeps the current
// snapshot for the API and the gauges.
type Job struct {
	wh      *warehouse.Warehouse
	judge   Judge
	log     *slog.Logger
	now     func() time.Time
	metrics *jobMetrics

	running  sync.Mutex
	mu       sync.RWMutex
	snapshot []Lit
	taken    time.Time
	known    map[string]bool // light changes already recorded
}

type jobMetrics struct {
	open        *prometheus.GaugeVec
	legal       *prometheus.GaugeVec
	lastSuccess prometheus.Gauge
	duration    prometheus.Gauge
	items       prometheus.Gauge
}

// NewJob builds the job; its gauges are registered on reg.
func NewJob(wh *warehouse.Warehouse, judge Judge, reg prometheus.Registerer, log *slog.Logger) *Job {
	if log == nil {
		log = slog.Default()
	}
	m := &jobMetrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "effidx_open_items", Help: "Open cases, steps, tickets, tasks and milestones by department, kind and light.",
		}, []string{"department", "kind", "light"}),
		legal: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "effidx_legal_overdue_items", Help: "Open items past their statutory deadline, by department and kind.",
		}, []string{"department", "kind"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "effidx_job_last_success_timestamp_seconds", Help: "When the job last succeeded.", ConstLabels: prometheus.Labels{"job": "lights"},
		}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "effidx_job_duration_seconds", Help: "Duration of the job's last run.", ConstLabels: prometheus.Labels{"job": "lights"},
		}),
		items: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "effidx_lights_items", Help: "Open items with a clock in the last lights run.",
		}),
	}
	reg.MustRegister(m.open, m.legal, m.lastSuccess, m.duration, m.items)
	return &Job{wh: wh, judge: judge, log: log, now: time.Now, metrics: m}
}

// RunOnce computes every light now.
func (j *Job) RunOnce(ctx context.Context) error {
	start := time.Now()
	if j.known == nil {
		known, err := j.wh.LightChangeKeys(ctx)
		if err != nil {
			return err
		}
		j.known = known
	}
	version, err := j.judge.Begin()
	if version == "" {
		return fmt.Errorf("lights: no calendar: %w", err)
	}
	if err != nil {
		j.log.Error("lights: calendar reload failed; using the previous calendar", "err", err)
	}
	items, err := Load(ctx, j.wh.Conn(), j.wh.Database())
	if err != nil {
		return err
	}
	now := j.now()
	lit := make([]Lit, 0, len(items))
	type gaugeKey struct{ dept, kind, light string }
	open := map[gaugeKey]int{}
	legal := map[gaugeKey]int{}
	var changes []warehouse.LightChange
	for i := range items {
		v, ok := j.judge.Judge(&items[i], now)
		if !ok {
			continue
		}
		it := &items[i]
		lit = append(lit, Lit{Item: *it, Verdict: v})
		open[gaugeKey{it.Department, it.Kind, v.Light}]++
		if v.LegalOverdue {
			legal[gaugeKey{it.Department, it.Kind, ""}]++
		}
		for _, c := range []struct {
			light string
			since time.Time
			on    bool
		}{{Yellow, v.YellowSince, v.Light == Yellow || v.Light == Red}, {Red, v.RedSince, v.Light == Red}, {"legal_overdue", v.LegalDue, v.LegalOverdue}} {
			if !c.on {
				continue
			}
			key := warehouse.LightKey(it.Kind, it.CaseID, it.Sub, c.light)
			if j.known[key] {
				continue
			}
			since := c.since
			if since.IsZero() {
				since = now
			}
			changes = append(changes, warehouse.LightChange{Kind: it.Kind, CaseID: it.CaseID, Item: it.Sub, Department: it.Department,
				Light: c.light, Since: since, ObservedAt: now, Calendar: version})
		}
	}
	if err := j.wh.WriteLightChanges(ctx, changes); err != nil {
		return err
	}
	for _, c := range changes {
		j.known[warehouse.LightKey(c.Kind, c.CaseID, c.Item, c.Light)] = true
	}
	sort.Slice(lit, func(a, b int) bool { return worse(&lit[a], &lit[b]) })
	j.metrics.open.Reset()
	for k, n := range open {
		j.metrics.open.WithLabelValues(k.dept, k.kind, k.light).Set(float64(n))
	}
	j.metrics.legal.Reset()
	for k, n := range legal {
		j.metrics.legal.WithLabelValues(k.dept, k.kind).Set(float64(n))
	}
	j.mu.Lock()
	j.snapshot, j.taken = lit, now
	j.mu.Unlock()
	took := time.Since(start)
	j.metrics.items.Set(float64(len(lit)))
	j.metrics.duration.Set(took.Seconds())
	j.metrics.lastSuccess.SetToCurrentTime()
	j.log.Debug("lights computed", "items", len(lit), "changes", len(changes), "took", took)
	return nil
}

var rank = map[string]int{Green: 0, Yellow: 1, Red: 2}

// worse orders red first, then yellow, then green; within a light, the
// most overdue (fewest working days left) first.
func worse(a, b *Lit) bool {
	if ra, rb := rank[a.Light], rank[b.Light]; ra != rb {
		return ra > rb
	}
	if a.LegalOverdue != b.LegalOverdue {
		return a.LegalOverdue
	}
	if a.WorkdaysLeft != b.WorkdaysLeft {
		return a.WorkdaysLeft < b.WorkdaysLeft
	}
	return a.CaseID+a.Sub < b.CaseID+b.Sub
}

// Snapshot returns the items of the last run and when it ran.
func (j *Job) Snapshot() ([]Lit, time.Time) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.snapshot, j.taken
}

// Start runs the job once now and then on schedule until ctx is done.
func (j *Job) Start(ctx context.Context, cfg Config) error {
	c := cron.New(cron.WithLogger(cron.DiscardLogger))
	run := func() {
		// A run that outlasts the interval is not doubled up.
		if !j.running.TryLock() {
			j.log.Warn("lights run skipped: the previous one is still running")
			return
		}
		defer j.running.Unlock()
		if err := j.RunOnce(ctx); err != nil && !errors.Is(err, context.Canceled) {
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
