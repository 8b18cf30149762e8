package remind

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"effidx/lights"
	"effidx/rules"
	"effidx/warehouse"
)

// Source is where the current lights come from: the lights job.
type Source interface {
	// Each calls fn with the items of the last lights run until fn returns
	// false, and returns when that run was (zero: none yet).
	Each(fn func(lights.Lit) bool) time.Time
}

// Options are what the job works with.
type Options struct {
	Warehouse *warehouse.Warehouse
	Lights    Source
	Calendar  func() (*rules.Calendar, error) // the current calendar (rules.Loader.Current)
	Rules     rules.ReminderRules
	Directory *Directory
	// Channels to send by; nil means the webhook, plus e-mail when
	// cfg.SMTP.Addr is set.
	Channels []Channel
	// Events takes the reminded and responded events (the collector); nil:
	// the job records them in the log only and emits nothing.
	Events     EventSink
	Registerer prometheus.Registerer
	Log        *slog.Logger
	// Now is the clock the rules are applied at; nil: time.Now. (The claim
	// protocol always uses ClickHouse's real clock.)
	Now func() time.Time
}

// Job sends the reminders due at each run.
type Job struct {
	cfg      Config
	wh       *warehouse.Warehouse
	conn     driver.Conn
	db       string
	src      Source
	calendar func() (*rules.Calendar, error)
	rules    rules.ReminderRules
	dir      *Directory
	channels []Channel
	sink     EventSink
	log      *slog.Logger
	now      func() time.Time
	replica  string
	m        *metrics

	running sync.Mutex
	runs    uint64                   // runs so far (topicState.seen)
	topics  map[topicKey]*topicState // between runs; only the run touches it
	held    map[string]bool          // deliveries held by quiet hours (counted once)
	matched map[[3]string]*rules.ReminderRule
	ackRead time.Time // acknowledgements up to here are in acked (zero: none read yet)

	mu      sync.Mutex             // acked and emitted: the HTTP handlers write them too
	acked   map[topicKey]time.Time // acknowledged topics: when
	emitted map[string]bool        // event ids emitted by this process
	outbox  sync.Mutex
}

// topicKey names an item's rule step; its strings are the lights
// snapshot's, so finding a topic's state costs no hashing.
type topicKey struct{ kind, caseID, item, step string }

// topicState is what a job remembers of a topic between runs, so that a
// run over a million open items touches ClickHouse only for the few with
// something new.
type topicState struct {
	id    string    // topicID
	first time.Time // the first outcome of its first reminder: repeats and escalations count from it (zero: none yet)
	// nextAt: nothing new falls due before it, and nothing is pending.
	// Zero: look at the topic every run.
	nextAt time.Time
	final  []string // deliveries known to be done
	seen   uint64   // the last run that saw it
	// quietChecked: looked at in the present quiet hours and nothing
	// could go out; nothing to learn until they end.
	quietChecked bool
}

func (st *topicState) isFinal(id string) bool {
	for _, f := range st.final {
		if f == id {
			return true
		}
	}
	return false
}

func (st *topicState) setFinal(id string) {
	if !st.isFinal(id) {
		st.final = append(st.final, id)
	}
}

// Report is what one run did.
type Report struct {
	Topics   int // items with an active rule step
	Due      int // deliveries due and not done
	Held     int // of those, held by quiet hours
	Claimed  int // attempts bid for
	Won      int // attempts this replica won
	Sent     int
	Failed   int
	Skipped  int // nobody to send to
	Emitted  int // reminded/responded events handed to the collector
	Retrying int // deliveries with a failed attempt and attempts left
}

// New builds the job.
func New(cfg Config, o Options) (*Job, error) {
	if o.Warehouse == nil || o.Lights == nil || o.Calendar == nil || o.Directory == nil {
		return nil, errors.New("remind: warehouse, lights, calendar and directory are required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	j := &Job{
		cfg: cfg, wh: o.Warehouse, conn: o.Warehouse.Conn(), db: o.Warehouse.Database(), src: o.Lights, calendar: o.Calendar,
		rules: o.Rules, dir: o.Directory, channels: o.Channels, sink: o.Events, log: o.Log, now: o.Now, replica: cfg.replica(),
		topics: map[topicKey]*topicState{}, acked: map[topicKey]time.Time{}, held: map[string]bool{}, emitted: map[string]bool{},
		matched: map[[3]string]*rules.ReminderRule{},
	}
	if j.channels == nil {
		cal, err := o.Calendar()
		if cal == nil {
			return nil, fmt.Errorf("remind: no calendar: %w", err)
		}
		j.channels = []Channel{NewWebhook(cfg.Webhook.Secret, cfg.Webhook.Timeout, o.Directory)}
		if cfg.SMTP.Addr != "" {
			j.channels = append(j.channels, NewEmail(cfg.SMTP, cal.Location()))
		}
	}
	j.m = newMetrics(o.Registerer, j.channels)
	return j, nil
}

// rule is the rule of an item, remembered per kind, department and matter.
func (j *Job) rule(kind, dept, matter string) *rules.ReminderRule {
	k := [3]string{kind, dept, matter}
	r, ok := j.matched[k]
	if !ok {
		r = j.rules.Match(kind, dept, matter)
		if len(j.matched) > 100000 {
			clear(j.matched)
		}
		j.matched[k] = r
	}
	return r
}

// RunOnce sends what is due now, after any run in progress.
func (j *Job) RunOnce(ctx context.Context) (Report, error) {
	j.running.Lock()
	defer j.running.Unlock()
	return j.runLocked(ctx)
}

func (j *Job) runLocked(ctx context.Context) (Report, error) {
	start := time.Now()
	rep, err := j.run(ctx)
	if err != nil {
		return rep, err
	}
	if err := j.emit(ctx, &rep); err != nil {
		return rep, err
	}
	j.m.duration.Set(time.Since(start).Seconds())
	j.m.lastSuccess.SetToCurrentTime()
	j.m.retrying.Set(float64(rep.Retrying))
	return rep, nil
}

func (j *Job) run(ctx context.Context) (Report, error) {
	var rep Report
	cal, err := j.calendar()
	if cal == nil {
		return rep, fmt.Errorf("remind: no calendar: %w", err)
	}
	now := j.now()
	ck := clock{cal: cal, quiet: j.rules.Quiet}
	if err := j.readAcks(ctx, now); err != nil {
		return rep, err
	}
	work, taken := j.walk(cal, now)
	if taken.IsZero() {
		j.log.Debug("reminders: no lights computed yet")
		return rep, nil
	}
	rep.Topics = len(j.topics)

	// The first reminder of each step to the responsible, on every
	// channel; once one has an outcome, its repeats and escalations, timed
	// from that outcome.
	var base []*delivery
	for _, t := range work {
		base = append(base, j.deliveries(t, 0, 0, t.at)...)
	}
	states, err := j.readStates(ctx, unfinished(base))
	if err != nil {
		return rep, err
	}
	for _, d := range base {
		if s := states[d.id]; s != nil && !s.first.IsZero() && (d.t.st.first.IsZero() || s.first.Before(d.t.st.first)) {
			d.t.st.first = s.first
		}
	}
	var more []*delivery
	for _, t := range work {
		b := t.st.first
		t.next = never
		if b.IsZero() || j.isAcked(t.key) {
			continue
		}
		if every := t.step.RepeatEvery; every > 0 {
			n := int(ck.since(t, b, now) / every)
			if n >= 1 {
				more = append(more, j.deliveries(t, n, 0, ck.add(t, b, time.Duration(n)*every))...)
			}
			t.next = ck.add(t, b, time.Duration(n+1)*every)
		}
		if t.step.Urge {
			for i, e := range t.rule.Escalation {
				if at := ck.add(t, b, e.After); !at.After(now) {
					more = append(more, j.deliveries(t, 0, i+1, at)...)
				} else if at.Before(t.next) {
					t.next = at
				}
			}
		}
	}
	moreStates, err := j.readStates(ctx, unfinished(more))
	if err != nil {
		return rep, err
	}
	for id, s := range moreStates {
		states[id] = s
	}

	// What to attempt now.
	var skip, attempt []*delivery
	var serverNow time.Time
	pending := map[*topic]bool{}
	due := map[string]bool{}
	for _, d := range append(base, more...) {
		s := states[d.id]
		if d.t.st.isFinal(d.id) || (s != nil && s.done(j.cfg.MaxAttempts)) {
			d.t.st.setFinal(d.id)
			continue
		}
		pending[d.t] = true
		due[d.id] = true
		rep.Due++
		if s != nil && !s.failedAt.IsZero() {
			rep.Retrying++
		}
		if !ck.open(d.t, now) {
			rep.Held++
			j.hold(d)
			d.t.st.quietChecked = true
			continue
		}
		if d.ch == nil {
			skip = append(skip, d)
			continue
		}
		switch {
		case s == nil || s.attempt == 0:
			d.attempt = 1
		case !s.failedAt.IsZero():
			if now.Before(s.failedAt.Add(j.backoff(s.attempt))) {
				continue
			}
			d.attempt = s.attempt + 1
		default: // claimed, no outcome: in flight, or abandoned once the lease is over
			if serverNow.IsZero() {
				if serverNow, err = j.serverNow(ctx); err != nil {
					return rep, err
				}
			}
			if serverNow.Before(s.claimedAt.Add(j.cfg.ClaimLease)) {
				continue
			}
			j.log.Warn("reminder attempt abandoned without an outcome; attempting again with the same idempotency key",
				"delivery", d.id, "case", d.t.ref.CaseID, "attempt", s.attempt)
			d.attempt = s.attempt + 1
		}
		attempt = append(attempt, d)
	}
	j.forgetHeld(due)
	// A topic with nothing pending need not be looked at again before its
	// next repeat or escalation falls due.
	for _, t := range work {
		if pending[t] || t.st.first.IsZero() {
			t.st.nextAt = time.Time{}
		} else {
			t.st.nextAt = t.next
		}
	}

	// Nobody to send to: recorded once, visible, never retried.
	if len(skip) > 0 {
		recs := make([]warehouse.ReminderRecord, len(skip))
		for i, d := range skip {
			recs[i] = d.record(warehouse.RecordSkipped, now, j.replica)
			j.log.Warn("reminder cannot be sent", "case", d.t.ref.CaseID, "item", d.t.ref.Item, "department", d.t.ref.Department, "why", d.note)
		}
		if err := j.writeRecords(ctx, recs); err != nil {
			return rep, err
		}
		for _, d := range skip {
			d.t.st.setFinal(d.id)
			d.t.st.nextAt = time.Time{}
			if d.level == 0 && d.repeat == 0 && d.t.st.first.IsZero() {
				d.t.st.first = now
			}
			j.m.failed.WithLabelValues("none").Inc()
		}
		rep.Skipped = len(skip)
	}

	rep.Claimed = len(attempt)
	won, err := j.claim(ctx, attempt, now)
	if err != nil {
		return rep, err
	}
	rep.Won = len(won)
	sent, failed := j.send(ctx, cal, won, now)
	rep.Sent, rep.Failed = sent, failed
	if failed > 0 {
		rep.Retrying += failed
	}
	return rep, nil
}

// never is the next instant of a topic with nothing more to come.
var never = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// unfinished are the deliveries their topics do not know to be done.
func unfinished(ds []*delivery) []*delivery {
	var out []*delivery
	for _, d := range ds {
		if !d.t.st.isFinal(d.id) {
			out = append(out, d)
		}
	}
	return out
}

// walk goes over the current lights, keeps the state of every item with
// a rule step in force at now, and returns the topics with something to
// look at; taken is when the lights were computed (zero: not yet).
func (j *Job) walk(cal *rules.Calendar, now time.Time) (work []*topic, taken time.Time) {
	j.runs++
	open := j.rules.Quiet.Open(cal, now)
	taken = j.src.Each(func(l lights.Lit) bool {
		rule := j.rule(l.Kind, l.Department, l.Matter)
		if rule == nil {
			return true
		}
		step, at := activeStep(cal, &l, rule, now)
		if step == nil {
			return true
		}
		key := topicKey{l.Kind, l.CaseID, l.Sub, step.ID}
		st := j.topics[key]
		if st == nil {
			st = &topicState{id: topicID(l.Kind, l.CaseID, l.Sub, step.ID)}
			j.topics[key] = st
		}
		st.seen = j.runs
		legal := !l.LegalDue.IsZero() && now.After(l.LegalDue)
		anytime := legal && j.rules.Quiet.LegalOverdueAnytime
		switch {
		case open || anytime:
			st.quietChecked = false
		case st.quietChecked:
			return true // held until the window opens, and counted already
		}
		if !st.first.IsZero() && (j.isAcked(key) || (!st.nextAt.IsZero() && now.Before(st.nextAt))) {
			return true
		}
		work = append(work, &topic{
			id: st.id, key: key, st: st,
			ref:  ItemRef{Kind: l.Kind, CaseID: l.CaseID, Item: l.Sub, Matter: l.Matter, Department: l.Department, Responsible: l.Responsible},
			rule: rule, step: step, at: at, light: l.Light, due: l.Due, legalDue: l.LegalDue, left: l.WorkdaysLeft,
			legal: legal, anytime: anytime,
		})
		return true
	})
	if !taken.IsZero() {
		// Items that closed, changed step or stopped their clock.
		for k, st := range j.topics {
			if st.seen != j.runs {
				delete(j.topics, k)
			}
		}
	}
	return work, taken
}

// backoff is the wait after attempt a failed: retry_min doubling, at most
// retry_max.
func (j *Job) backoff(a int) time.Duration {
	d := j.cfg.RetryMin
	for i := 1; i < a && d < j.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, j.cfg.RetryMax)
}

// send delivers the won attempts, cfg.Concurrency at a time, and records
// their outcomes.
func (j *Job) send(ctx context.Context, cal *rules.Calendar, ds []*delivery, now time.Time) (sent, failed int) {
	if len(ds) == 0 {
		return 0, 0
	}
	recs := make([]warehouse.ReminderRecord, len(ds))
	ok := make([]bool, len(ds))
	sem := make(chan struct{}, j.cfg.Concurrency)
	var wg sync.WaitGroup
	budget := j.cfg.ClaimLease - j.cfg.ClaimSettle - max(j.cfg.Webhook.Timeout, j.cfg.SMTP.Timeout)
	for i, d := range ds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// Past its share of the lease the attempt is left alone: a
			// later run will see it abandoned and try again.
			if time.Since(d.claimedAt) > budget {
				recs[i].Record = ""
				return
			}
			m := j.message(cal, d, now)
			err := d.ch.Send(ctx, d.addr, m)
			if err != nil {
				recs[i] = d.record(warehouse.RecordFailed, now, j.replica)
				recs[i].Note = err.Error()
				return
			}
			ok[i] = true
			recs[i] = d.record(warehouse.RecordSent, now, j.replica)
		}()
	}
	wg.Wait()
	var out []warehouse.ReminderRecord
	for i, d := range ds {
		if recs[i].Record == "" {
			continue
		}
		out = append(out, recs[i])
		// Any outcome of the first reminder starts the clock of its
		// repeats and escalations (one that cannot be delivered too: then
		// the heads must know).
		if d.level == 0 && d.repeat == 0 && d.t.st.first.IsZero() {
			d.t.st.first = now
		}
		if ok[i] {
			sent++
			j.m.sent.WithLabelValues(d.ch.Name()).Inc()
			d.t.st.setFinal(d.id)
		} else {
			failed++
			j.m.failed.WithLabelValues(d.ch.Name()).Inc()
			j.log.Warn("reminder not delivered; will retry", "case", d.t.ref.CaseID, "item", d.t.ref.Item, "channel", d.ch.Name(),
				"to", d.to.ID, "attempt", d.attempt, "err", recs[i].Note)
		}
	}
	// Use a context of its own: the outcome of a message that went out
	// must be recorded even when the job is being stopped.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := j.writeRecords(wctx, out); err != nil {
		j.log.Error("reminder outcomes not recorded: after the claim lease these deliveries are attempted again (same idempotency keys)",
			"count", len(out), "err", err)
	}
	return sent, failed
}

// message renders what d says.
func (j *Job) message(cal *rules.Calendar, d *delivery, now time.Time) *Message {
	t := d.t
	m := &Message{
		ID: d.id, ReminderID: d.reminderID(), Step: t.step.ID, Repeat: d.repeat, Level: levelNames[d.level],
		Note: d.note, Item: t.ref, Light: t.light, LegalOverdue: t.legal, WorkdaysLeft: t.left, DueAt: d.dueAt,
		Link: itemLink(j.cfg.BaseURL, t.ref),
	}
	if d.to != nil {
		m.To = *d.to
	}
	switch {
	case d.level > 0:
		m.Type = "escalation"
	case t.step.Urge:
		m.Type = "urge"
	default:
		m.Type = "notice"
	}
	if !t.due.IsZero() {
		due := t.due
		m.Due = &due
	}
	if !t.legalDue.IsZero() {
		ld := t.legalDue
		m.LegalDue = &ld
	}
	if t.step.Urge && j.cfg.BaseURL != "" && j.cfg.AckSecret != "" {
		m.AckURL = j.ackURL(ackClaims{Case: t.ref.CaseID, Topic: t.id, Person: m.To.ID, Expires: now.Add(j.cfg.AckValidFor).Unix()})
	}
	m.compose(cal.Location())
	return m
}

// Start runs the job on its schedule until ctx is done.
func (j *Job) Start(ctx context.Context) error {
	c := cron.New(cron.WithLogger(cron.DiscardLogger))
	run := func() {
		if !j.running.TryLock() {
			j.log.Warn("reminder run skipped: the previous one is still running")
			return
		}
		defer j.running.Unlock()
		rep, err := j.runLocked(ctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			j.log.Error("reminder job failed", "err", err)
			return
		}
		if rep.Sent+rep.Failed+rep.Skipped+rep.Emitted > 0 {
			j.log.Info("reminders", "sent", rep.Sent, "failed", rep.Failed, "skipped", rep.Skipped, "held", rep.Held, "events", rep.Emitted)
		}
	}
	if _, err := c.AddFunc(j.cfg.Schedule, run); err != nil {
		return fmt.Errorf("remind schedule %q: %w", j.cfg.Schedule, err)
	}
	c.Start()
	go func() {
		<-ctx.Done()
		<-c.Stop().Done()
	}()
	return nil
}

// isAcked says whether a topic was acknowledged.
func (j *Job) isAcked(k topicKey) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.acked[k]
	return ok
}

// hold counts a delivery held by quiet hours, once per delivery.
func (j *Job) hold(d *delivery) {
	if !j.held[d.id] {
		j.held[d.id] = true
		j.m.suppressed.WithLabelValues(d.channelName()).Inc()
	}
}

// forgetHeld drops held deliveries that are no longer due (sent, or their
// item left the lights); those of topics not looked at stay.
func (j *Job) forgetHeld(due map[string]bool) {
	if len(j.held) < 2*len(due)+1000 {
		return
	}
	for id := range j.held {
		if !due[id] {
			delete(j.held, id)
		}
	}
}

// readAcks learns the acknowledgements recorded since the last read (by
// any replica, or the API of another process): all of them at the first
// run, then those of the last hour and on (the margin covers clocks that
// disagree a little).
func (j *Job) readAcks(ctx context.Context, now time.Time) error {
	q := fmt.Sprintf(`SELECT kind, case_id, item, step, min(at)
FROM %s.reminder_log
WHERE record = 'ack' AND at >= ?
GROUP BY kind, case_id, item, step`, j.db)
	since := time.Unix(0, 0)
	if !j.ackRead.IsZero() {
		since = j.ackRead.Add(-time.Hour)
	}
	rows, err := j.conn.Query(ctx, q, since)
	if err != nil {
		return fmt.Errorf("read acknowledgements: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k topicKey
		var at time.Time
		if err := rows.Scan(&k.kind, &k.caseID, &k.item, &k.step, &at); err != nil {
			return fmt.Errorf("read acknowledgements: %w", err)
		}
		j.setAcked(k, at)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read acknowledgements: %w", err)
	}
	j.ackRead = now
	return nil
}

func (j *Job) setAcked(k topicKey, at time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if old, ok := j.acked[k]; !ok || at.Before(old) {
		j.acked[k] = at
	}
}
