package simulate

import (
	"bufio"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"effidx/event"
)

// Stats summarises a generated stream.
type Stats struct {
	Events      int            // valid events written
	Malformed   int            // deliberately invalid lines written
	ByKind      map[string]int // valid events per kind
	Cases       int            // cases with at least one event written, all kinds
	CasesByKind map[string]int
}

// Shares and rates of the model. The service figures are calibrated against
// the Lishui platform report (see the calibration test).
const (
	shareInternal = 0.15 // internal matters per service case
	shareTickets  = 0.20
	shareScenario = 0.03
	shareJoint    = 0.02 // service cases that belong to a "一件事"
	tasksPerDept  = 2

	lateSentShare = 0.01  // events sent up to a few hours after they happened
	rejectShare   = 0.012 // 不予受理
	withdrawShare = 0.008
	suspendShare  = 0.05
	lateService   = 0.043 // non-instant service cases finished late (city mean)
	lateInstant   = 0.004 // instant cases that slip to a later working day
	lateInternal  = 0.05
	visitInPerson = 0.75 // window/kiosk cases with a recorded visit (the rest are agents, 帮代办)
	visitOnline   = 0.025
	secondVisit   = 0.08
	ratedShare    = 0.5
	goodRating    = 0.97
)

type caseInfo struct {
	id          string
	kind        event.Kind
	dept        int16
	region      int8 // −1: none
	channel     event.Channel
	legal       int32
	promised    int32
	matTotal    int32
	matShared   int32
	due         int32 // task due day, −1: none
	matter      string
	matterName  string
	joint       string
	responsible string
}

// item is one pending event: small, because a long window at a high rate
// keeps the open cases of several weeks in the heap.
type item struct {
	emit     int64 // when it is written (at, or later for late-sent events)
	at       int64
	ord      uint64 // tie-break: keeps the output deterministic and per-case order
	c        *caseInfo
	typ      event.Type
	stepType event.StepType
	rating   int8
	resolved int8
	staff    int8
	dept     int16 // step department; −1: the case's own
	step     int16 // step, milestone or reminder number
	limit    int16 // −1: none
	seq      int16
	due      int32 // milestone due day, −1: none
}

type generator struct {
	cfg   Config
	city  City
	cal   calendar
	r     *rand.Rand // the model
	bad   *rand.Rand // malformed lines, drawn at write time
	pBad  float64
	end   int64
	pq    []item
	ord   uint64
	buf   []item
	w     *bufio.Writer
	line  []byte
	ev    event.Event
	stats Stats
	kinds [6]int // events per kind
	cases [6]int
	seq   [6]int // case numbers of the current day per kind
	tag   string // current day, yyyymmdd
	ids   [3][]string

	maxPending int // peak heap size, for the memory test
}

// Generate writes the stream as NDJSON, one event per line, in nondecreasing
// `at` order except for about 1% of late-sent events written up to a few
// hours after their `at` position; malformed lines are mixed in at
// MalformedShare. Memory stays bounded: days are generated one by one, each
// case's lifecycle goes into a min-heap, and everything before the start of a
// day is written before that day's cases are made.
func Generate(cfg Config, w io.Writer) (Stats, error) {
	st, _, err := generate(cfg, w)
	return st, err
}

func generate(cfg Config, w io.Writer) (Stats, *generator, error) {
	if err := cfg.Validate(); err != nil {
		return Stats{}, nil, err
	}
	g := &generator{
		cfg:  cfg,
		city: NewCity(cfg.Seed),
		cal:  newCalendar(cfg.Start),
		r:    rand.New(rand.NewPCG(uint64(cfg.Seed), 0x73747265616d)), // "stream"
		bad:  rand.New(rand.NewPCG(uint64(cfg.Seed), 0x626164)),       // "bad"
		end:  cfg.End.Unix(),
		w:    bufio.NewWriterSize(w, 256<<10),
	}
	if cfg.MalformedShare > 0 {
		// Per valid event, so that the share of all lines is MalformedShare.
		g.pBad = cfg.MalformedShare / (1 - cfg.MalformedShare)
	}
	err := g.run()
	st := g.stats
	st.ByKind, st.CasesByKind = map[string]int{}, map[string]int{}
	for _, k := range event.Kinds() {
		if g.kinds[k] > 0 {
			st.ByKind[k.String()] = g.kinds[k]
		}
		if g.cases[k] > 0 {
			st.CasesByKind[k.String()] = g.cases[k]
		}
		st.Cases += g.cases[k]
	}
	return st, g, err
}

func (g *generator) run() error {
	for d := 0; d < g.cfg.Days; d++ {
		ds := g.cal.dayStart(d)
		if ds >= g.end {
			break
		}
		if err := g.flush(ds); err != nil {
			return err
		}
		g.day(d)
		g.maxPending = max(g.maxPending, len(g.pq))
	}
	if err := g.flush(math.MaxInt64); err != nil {
		return err
	}
	return g.w.Flush()
}

func (g *generator) day(d int) {
	r := g.r
	g.tag = g.cal.date(d).Format("20060102")
	g.seq = [6]int{}
	if d == 0 {
		g.tasks()
	}
	work := g.cal.isWork(d)
	cpd := float64(g.cfg.CasesPerDay)
	// Weekday/weekend factors average to 1 over a week (5·wd + 2·we = 7).
	n := g.volume(cpd, work, 1.3, 0.25)
	for nb := g.volume(cpd*shareJoint/3.6, work, 1.3, 0.25); nb > 0 && n > 0; nb-- {
		n -= g.joint(d)
	}
	for ; n > 0; n-- {
		mi := g.city.service.pick(r)
		region := g.city.regions.pick(r)
		ch := g.channel(g.city.deptOf[mi], region)
		g.matterCase(event.KindService, d, mi, region, ch, g.acceptSec(d, ch), "")
	}
	for n := g.volume(cpd*shareInternal, work, 1.4, 0); n > 0; n-- {
		g.internalCase(d)
	}
	for n := g.volume(cpd*shareTickets, work, 1.08, 0.8); n > 0; n-- {
		g.ticket(d)
	}
	for n := g.volume(cpd*shareScenario, work, 1, 1); n > 0; n-- {
		g.scenario(d)
	}
}

// volume draws a day's count around mean×factor (±8%, stochastic rounding so
// that small rates still average right).
func (g *generator) volume(mean float64, work bool, wd, we float64) int {
	f := we
	if work {
		f = wd
	}
	x := mean * f * (1 + 0.08*g.r.NormFloat64())
	return max(0, int(x+g.r.Float64()))
}

// ---- time helpers ----

// hallSlots: relative arrivals per half hour from 08:30 to 17:30 (the
// morning peak, a lunch dip, the afternoon peak).
var hallSlots = cumulative([]float64{1.5, 2.5, 3, 3, 3, 2.8, 2.2, 1.2, 0.8, 0.8, 1.5, 2.5, 2.8, 2.8, 2.6, 2.2, 1.6, 0.8})

// hourly: 12345 calls and scenario reports by hour of day.
var hourly = cumulative([]float64{0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.5, 1.2, 2.5, 3.2, 3.2, 2.6, 1.8, 2.2, 2.8, 2.9, 2.7, 2.2, 1.6, 1.5, 1.4, 1.1, 0.8, 0.5})

func cumulative(w []float64) []float64 {
	out := make([]float64, len(w))
	t := 0.0
	for i, x := range w {
		t += x
		out[i] = t
	}
	for i := range out {
		out[i] /= t
	}
	return out
}

func pickCum(r *rand.Rand, cum []float64) int {
	u := r.Float64()
	for i, c := range cum {
		if u < c {
			return i
		}
	}
	return len(cum) - 1
}

func (g *generator) hallSec() int { return workStart + pickCum(g.r, hallSlots)*1800 + g.r.IntN(1800) }
func (g *generator) daySec() int  { return pickCum(g.r, hourly)*3600 + g.r.IntN(3600) }

// acceptSec: halls accept in working hours (weekend mornings in the halls
// that stay open); online applications are mostly accepted by staff in
// working hours, some automatically at any time.
func (g *generator) acceptSec(d int, ch event.Channel) int {
	r := g.r
	work := g.cal.isWork(d)
	switch {
	case ch == event.ChannelWindow || ch == event.ChannelSelfService:
		if work {
			return g.hallSec()
		}
		return 9*3600 + r.IntN(3*3600)
	case work && r.Float64() < 0.75:
		return g.hallSec()
	case work:
		return 7*3600 + r.IntN(16*3600)
	default:
		return 8*3600 + r.IntN(14*3600)
	}
}

// workPos is where an acceptance at sec on a day falls in that day's working
// hours, as a fraction: 1 when the day is over or not a working day, so the
// handling starts on the next working day.
func workPos(work bool, sec int) float64 {
	switch {
	case !work || sec >= workEnd:
		return 1
	case sec <= workStart:
		return 0
	}
	return float64(sec-workStart) / workLen
}

// wtime converts a position in working time counted from acceptance day d
// (integer part: working days after d; fraction: share of the working hours)
// to a unix second.
func (g *generator) wtime(d int, w float64) int64 {
	k := int(w)
	day := g.cal.workdayAfter(d, k)
	return g.cal.unixAt(day, workStart+int((w-float64(k))*workLen))
}

// snapWork moves u into working hours (for completions and the like).
func (g *generator) snapWork(u int64) int64 {
	d := g.cal.dayOf(u)
	sec := int(u - g.cal.dayStart(d))
	work := g.cal.isWork(d)
	switch {
	case work && sec >= workStart && sec < workEnd:
		return u
	case work && sec < workStart:
		return g.cal.unixAt(d, workStart+g.r.IntN(5400))
	}
	return g.cal.unixAt(g.cal.workdayAfter(d, 1), workStart+g.r.IntN(5400))
}

// ---- cases ----

func (g *generator) caseID(prefix string, k event.Kind) string {
	g.seq[k]++
	b := make([]byte, 0, 20)
	b = append(b, prefix...)
	b = append(b, '-')
	b = append(b, g.tag...)
	b = append(b, '-')
	b = appendPad(b, g.seq[k], 6)
	return string(b)
}

func appendPad(b []byte, n, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], int64(n), 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

func (g *generator) staff(dept int) string {
	s := g.city.staff[dept]
	return s[g.r.IntN(len(s))]
}

func (g *generator) newCase(kind event.Kind, prefix string, dept, region int) *caseInfo {
	return &caseInfo{
		id: g.caseID(prefix, kind), kind: kind, dept: int16(dept), region: int8(region),
		legal: event.Absent, promised: event.Absent, matTotal: event.Absent, matShared: event.Absent,
		due: -1, responsible: g.staff(dept),
	}
}

func (g *generator) add(c *caseInfo, t event.Type, at int64) *item {
	g.buf = append(g.buf, item{at: at, c: c, typ: t, dept: -1, limit: -1, due: -1, resolved: event.ResolvedAbsent})
	return &g.buf[len(g.buf)-1]
}

// finish numbers the case's events in time order and queues those before End.
func (g *generator) finish(c *caseInfo) {
	b := g.buf
	for i := 1; i < len(b); i++ { // stable: same-second events keep their order
		for j := i; j > 0 && b[j].at < b[j-1].at; j-- {
			b[j], b[j-1] = b[j-1], b[j]
		}
	}
	counted := false
	for i := range b {
		it := b[i]
		it.seq = int16(i + 1)
		if it.at >= g.end {
			continue
		}
		if !counted {
			g.cases[c.kind]++
			counted = true
		}
		it.emit = it.at
		if g.r.Float64() < lateSentShare {
			it.emit += 600 + g.r.Int64N(4*3600)
		}
		it.ord = g.ord
		g.ord++
		g.push(it)
	}
	clear(b)
	g.buf = b[:0]
}

// channel draws the channel; better departments move more cases to mobile
// and fewer to the window.
func (g *generator) channel(dept, region int) event.Channel {
	q := g.city.quality(dept, region)
	mobile := clamp(targetMobile+0.16*q, 0.1, 0.9)
	window := clamp(targetWindow-0.11*q, 0.02, 0.5)
	switch u := g.r.Float64(); {
	case u < mobile:
		return event.ChannelMobile
	case u < mobile+window:
		return event.ChannelWindow
	case u < mobile+window+targetSelf:
		return event.ChannelSelfService
	}
	return event.ChannelOnline
}

// joint makes the cases of one "一件事": one application, several
// departments, one joint id. It returns the number of cases.
func (g *generator) joint(d int) int {
	r := g.r
	b := &g.city.bundles[r.IntN(len(g.city.bundles))]
	region := g.city.regions.pick(r)
	ch := g.channel(g.city.deptOf[b.matters[0]], region)
	sec := g.acceptSec(d, ch)
	g.seq[0]++
	id := "YJS-" + g.tag + "-" + string(appendPad(nil, g.seq[0], 6))
	for _, mi := range b.matters {
		s := min(sec+r.IntN(600), 86400-3600)
		g.matterCase(event.KindService, d, mi, region, ch, s, id)
	}
	return len(b.matters)
}

func (g *generator) internalCase(d int) {
	r := g.r
	mi := g.city.internal.pick(r)
	region := g.city.regions.pick(r)
	q := g.city.quality(g.city.deptOf[mi], region)
	// A visit here is a civil servant walking over with paper: the channel
	// is then the window.
	ch := event.ChannelOnline
	if r.Float64() < clamp(0.12*(1-0.8*q), 0.01, 0.4) {
		ch = event.ChannelWindow
	}
	sec := g.hallSec()
	if !g.cal.isWork(d) {
		sec = 9*3600 + r.IntN(3*3600)
	}
	g.matterCase(event.KindInternal, d, mi, region, ch, sec, "")
}

// matterCase generates the lifecycle of a service or internal case accepted
// on day d at second accSec.
func (g *generator) matterCase(kind event.Kind, d, mi, region int, ch event.Channel, accSec int, joint string) {
	r := g.r
	m := &g.city.Matters[mi]
	dept := g.city.deptOf[mi]
	q := g.city.quality(dept, region)
	prefix := "SV"
	if kind == event.KindInternal {
		prefix = "IN"
	}
	c := g.newCase(kind, prefix, dept, region)
	c.channel, c.legal, c.promised = ch, int32(m.LegalDays), int32(m.PromisedDays)
	c.matter, c.matterName, c.joint = m.Code, m.Name, joint
	c.matTotal, c.matShared = int32(m.Materials), 0
	p := clamp(m.SharedBase+0.1*q, 0.02, 0.99)
	for range m.Materials {
		if r.Float64() < p {
			c.matShared++
		}
	}
	ds := g.cal.dayStart(d)
	acc := g.cal.unixAt(d, accSec)
	online := ch == event.ChannelOnline || ch == event.ChannelMobile
	if online && r.Float64() < 0.8 || ch == event.ChannelSelfService && r.Float64() < 0.5 {
		g.add(c, event.TypeSubmitted, max(ds, acc-60-r.Int64N(7200)))
	}
	reject := rejectShare
	if kind == event.KindInternal {
		reject = 0.005
	}
	if r.Float64() < reject {
		g.add(c, event.TypeRejected, min(acc+600+r.Int64N(3*3600), ds+86400-1))
		g.finish(c)
		return
	}
	g.add(c, event.TypeAccepted, acc)

	// Visits: in-person channels mostly record the visit at acceptance;
	// online ones occasionally need one (originals, on-site checks).
	visitAtAcc, visitLater := false, false
	switch {
	case kind == event.KindInternal:
		visitAtAcc = ch == event.ChannelWindow
	case !online:
		visitAtAcc = r.Float64() < visitInPerson
	default:
		visitLater = r.Float64() < clamp(visitOnline*(1-0.6*q), 0.003, 0.08)
	}
	if visitAtAcc {
		g.add(c, event.TypeVisit, acc)
		visitLater = r.Float64() < secondVisit
	}
	late := lateService
	if kind == event.KindInternal {
		late = lateInternal
	}
	late *= g.city.lateMult(dept, region)

	if m.PromisedDays == 0 {
		var done int64
		if r.Float64() < lateInstant*g.city.lateMult(dept, region) {
			done = g.wtime(d, float64(1+r.IntN(2))+0.05+0.9*r.Float64())
		} else {
			// Done at once, also out of hours: online instant matters are
			// approved automatically (秒办).
			done = min(acc+60+r.Int64N(40*60), ds+86400-1)
		}
		if visitLater {
			g.add(c, event.TypeVisit, done)
		}
		g.add(c, event.TypeCompleted, done)
		if kind == event.KindService {
			g.rate(c, done, q)
		}
		g.finish(c)
		return
	}

	w0 := workPos(g.cal.isWork(d), accSec)
	wc := w0 // the case's progress in working time
	if steps := g.city.steps[mi]; len(steps) > 0 {
		wc = g.steps(c, d, w0, steps, q)
	}
	n := m.PromisedDays
	if n < 0 {
		n = m.LegalDays
	}
	plan := n
	if plan < 0 {
		plan = 10 // 无期限: no deadline, but work still takes time
	}
	minU, susp := int(wc), 0
	if r.Float64() < suspendShare {
		// Special procedure (检测、公示、补正): the clock stops for S working days.
		ws := wc + 0.05 + 0.5*r.Float64()
		susp = 1 + r.IntN(8)
		minU = int(ws)
		wr := float64(minU+susp) + 0.05 + 0.9*r.Float64()
		g.add(c, event.TypeSuspended, g.wtime(d, ws))
		g.add(c, event.TypeResumed, g.wtime(d, wr))
		wc = wr
	}
	var used int
	switch {
	case n >= 0 && r.Float64() < late:
		used = max(n+1+int(r.ExpFloat64()*2), minU)
	case plan >= minU:
		// Most cases finish well inside the promise (实际提速).
		used = minU + int(float64(plan-minU+1)*math.Pow(r.Float64(), 1.6))
	default:
		used = minU
	}
	kc := used + susp
	lo := 0.0
	if kc == int(wc) {
		lo = wc - float64(kc)
	}
	wdone := float64(kc) + lo + (1-lo)*(0.05+0.9*r.Float64())
	done := g.wtime(d, wdone)
	if n >= 0 && used > n {
		// Overdue: the supervision office chases it the next working day.
		wrem := float64(n+susp+1) + 0.05 + 0.15*r.Float64()
		if wrem < wdone {
			g.remind(c, new(int), g.wtime(d, wrem), q)
		}
	}
	if visitLater {
		wv := wdone // picking up the result in person
		if !visitAtAcc && r.Float64() < 0.5 {
			wv = w0 + (wdone-w0)*r.Float64() // originals or an on-site check
		}
		g.add(c, event.TypeVisit, g.wtime(d, wv))
	}
	if r.Float64() < withdrawShare {
		g.add(c, event.TypeWithdrawn, done)
		g.finish(c)
		return
	}
	g.add(c, event.TypeCompleted, done)
	if kind == event.KindService {
		g.rate(c, done, q)
	}
	g.finish(c)
}

// steps emits the steps in other departments, in parallel (并联) or one
// after the other, and returns when the last one finished.
func (g *generator) steps(c *caseInfo, d int, w0 float64, steps []stepModel, q float64) float64 {
	r := g.r
	start := w0 + 0.02 + 0.3*r.Float64()
	parallel := len(steps) >= 2 && r.Float64() < clamp(0.62+0.15*q, 0.2, 0.95)
	end, s := start, start
	for i, st := range steps {
		ss := s
		if parallel {
			ss = start + 0.12*r.Float64()
		}
		e := ss + g.stepDuration(ss, st)
		it := g.add(c, event.TypeStepStarted, g.wtime(d, ss))
		it.dept, it.step, it.stepType, it.limit = int16(st.dept), int16(i+1), st.typ, int16(st.limit)
		it.staff = int8(r.IntN(len(g.city.staff[st.dept])))
		it = g.add(c, event.TypeStepFinished, g.wtime(d, e))
		it.dept, it.step, it.stepType = int16(st.dept), int16(i+1), st.typ
		end = max(end, e)
		s = e + 0.01 + 0.08*r.Float64()
	}
	return end + 0.01
}

// stepDuration in working time; on time means finished by the end of the
// limit-th working day after the step's start day.
func (g *generator) stepDuration(ss float64, st stepModel) float64 {
	r := g.r
	q := g.city.Departments[st.dept].Quality
	maxD := float64(st.limit) + 1 - (ss - math.Floor(ss)) - 0.01
	if r.Float64() < clamp(0.93+0.06*q, 0.75, 0.995) {
		return 0.03 + (maxD-0.03)*math.Pow(r.Float64(), 1.5)
	}
	return maxD + 0.03 + r.ExpFloat64()*1.2
}

// rate adds a 好差评 rating to about half the completed service cases; bad
// ones are mostly rectified within 15 working days.
func (g *generator) rate(c *caseInfo, done int64, q float64) {
	r := g.r
	if r.Float64() >= ratedShare {
		return
	}
	var delay int64
	switch u := r.Float64(); {
	case u < 0.45:
		delay = 60 + r.Int64N(1800)
	case u < 0.85:
		delay = 1800 + r.Int64N(8*3600)
	default:
		delay = 8*3600 + r.Int64N(64*3600)
	}
	at := done + delay
	rating := g.rating(clamp(goodRating+0.02*q, 0.85, 0.997))
	it := g.add(c, event.TypeRated, at)
	it.rating = rating
	if rating <= 2 {
		g.rectify(c, at, 0.95)
	}
}

func (g *generator) rating(pGood float64) int8 {
	r := g.r
	if r.Float64() < pGood {
		if r.Float64() < 0.75 {
			return 5
		}
		return 4
	}
	switch u := r.Float64(); {
	case u < 0.4:
		return 3
	case u < 0.7:
		return 2
	}
	return 1
}

func (g *generator) rectify(c *caseInfo, ratedAt int64, p float64) {
	r := g.r
	if r.Float64() >= p {
		return
	}
	k := 1 + r.IntN(12)
	if r.Float64() < 0.08 {
		k = 16 + r.IntN(15) // the slow ones miss the 15 working days
	}
	day := g.cal.workdayAfter(g.cal.dayOf(ratedAt), k)
	g.add(c, event.TypeRectified, g.cal.unixAt(day, g.hallSec()))
}

// remind adds a 催办 reminder at rt and, mostly within the working day, its
// response. *n numbers the case's reminders.
func (g *generator) remind(c *caseInfo, n *int, rt int64, q float64) {
	r := g.r
	*n++
	it := g.add(c, event.TypeReminded, rt)
	it.step = int16(*n)
	var resp int64
	switch u := r.Float64(); {
	case u < clamp(0.88+0.1*q, 0.5, 0.995):
		resp = rt + 1800 + r.Int64N(5*3600)
	case u < 0.985:
		day := g.cal.workdayAfter(g.cal.dayOf(rt), 2+r.IntN(3))
		resp = g.cal.unixAt(day, g.hallSec())
	default:
		return // never answered
	}
	it = g.add(c, event.TypeResponded, resp)
	it.step = int16(*n)
}

// ticket: a 12345 诉求, taken on (signed) mostly within 24 hours, handled in
// working hours, fed back and often rated.
func (g *generator) ticket(d int) {
	r := g.r
	dept := g.city.tickets.pick(r)
	region := g.city.regions.pick(r)
	q := g.city.quality(dept, region)
	c := g.newCase(event.KindTicket, "TK", dept, region)
	switch u := r.Float64(); {
	case u < 0.1:
		c.promised = 1 // urgent
	case u < 0.9:
		c.promised = 5
	default:
		c.promised = 10
	}
	acc := g.cal.unixAt(d, g.daySec())
	g.add(c, event.TypeAccepted, acc)
	var sign int64
	rems := 0
	if r.Float64() < clamp(0.955+0.04*q, 0.8, 0.998) {
		sign = acc + 120 + int64(math.Min(r.ExpFloat64()*2.5*3600, 23.5*3600))
	} else {
		sign = acc + 24*3600 + 60 + r.Int64N(36*3600)
		rems++
		it := g.add(c, event.TypeReminded, acc+24*3600)
		it.step = 1
		it = g.add(c, event.TypeResponded, sign+60+r.Int64N(900))
		it.step = 1
	}
	g.add(c, event.TypeSigned, sign)
	h := math.Exp(math.Log(30*3600)+0.8*r.NormFloat64()) * (1 - 0.25*q)
	done := g.snapWork(sign + 1800 + int64(h))
	it := g.add(c, event.TypeCompleted, done)
	it.resolved = event.ResolvedFalse
	if r.Float64() < clamp(0.86+0.1*q, 0.5, 0.99) {
		it.resolved = event.ResolvedTrue
	}
	last := done
	if r.Float64() < clamp(0.96+0.03*q, 0.7, 0.999) {
		last = done + 600 + r.Int64N(6*3600)
		g.add(c, event.TypeFeedback, last)
	}
	if r.Float64() < 0.6 {
		at := last + 3600 + r.Int64N(47*3600)
		it := g.add(c, event.TypeRated, at)
		it.rating = g.rating(clamp(0.9+0.06*q, 0.7, 0.99))
		if it.rating <= 2 {
			g.rectify(c, at, 0.6)
		}
	}
	g.finish(c)
}

// scenario: an incident (场景事件) handled within hours, sometimes with other
// departments, with feedback to the reporter for most.
func (g *generator) scenario(d int) {
	r := g.r
	st := &g.city.scenarios[g.city.scenPick.pick(r)]
	region := g.city.regions.pick(r)
	q := g.city.quality(st.dept, region)
	c := g.newCase(event.KindScenario, "SC", st.dept, region)
	c.matter, c.matterName, c.promised = st.code, st.name, 1
	acc := g.cal.unixAt(d, g.daySec())
	g.add(c, event.TypeAccepted, acc)
	secs := math.Exp(math.Log(3.5*3600)+0.7*r.NormFloat64()) * (1 - 0.3*q)
	if r.Float64() < 0.07 {
		secs = (20 + 50*r.Float64()) * 3600
	}
	done := acc + 600 + int64(secs)
	if r.Float64() < 0.35 {
		k := 1 + r.IntN(len(st.collab))
		off := r.IntN(len(st.collab))
		for i := range k {
			dept := st.collab[(off+i)%len(st.collab)]
			dur := float64(done - acc)
			ss := acc + int64(dur*(0.05+0.2*r.Float64()))
			se := ss + int64(float64(done-ss)*(0.4+0.55*r.Float64()))
			it := g.add(c, event.TypeStepStarted, ss)
			it.dept, it.step, it.stepType, it.limit = int16(dept), int16(i+1), event.StepHandle, 1
			it.staff = int8(r.IntN(len(g.city.staff[dept])))
			it = g.add(c, event.TypeStepFinished, se)
			it.dept, it.step, it.stepType = int16(dept), int16(i+1), event.StepHandle
		}
	}
	g.add(c, event.TypeCompleted, done)
	if r.Float64() < clamp(0.92+0.07*q, 0.6, 0.995) {
		g.add(c, event.TypeFeedback, done+300+r.Int64N(2*3600))
	}
	g.finish(c)
}

// tasks: a fixed set of reform tasks, tasksPerDept per department, accepted
// on the first working day with a due date, monthly milestones (due at month
// end), reminders when a milestone is at risk or overdue, and completion
// (some late, a few stalled).
func (g *generator) tasks() {
	r := g.r
	d0 := g.cal.workdayOnOrAfter(0)
	y, mon, _ := g.cal.date(0).Date()
	for di := range g.city.Departments {
		perm := r.Perm(len(g.city.taskNames))
		for j := range tasksPerDept {
			q := g.city.quality(di, -1)
			ti := perm[j]
			c := g.newCase(event.KindTask, "TS", di, -1)
			c.matter = "RT" + string(appendPad(nil, ti+1, 2))
			c.matterName = g.city.taskNames[ti]
			due := 30 + r.IntN(max(1, g.cfg.Days+30))
			c.due = int32(due)
			acc := g.cal.unixAt(d0, 9*3600+r.IntN(2*3600))
			g.add(c, event.TypeAccepted, acc)
			rems, mNo := 0, 0
			lastMet := acc
			for k := 0; ; k++ {
				md := g.cal.dayIndex(time.Date(y, mon+time.Month(k)+1, 0, 0, 0, 0, 0, time.UTC))
				last := md >= due
				if last {
					md = due
				} else if md-d0 < 10 {
					continue // too short a first month for a milestone
				}
				mNo++
				annDay := d0
				ann := acc + 60
				if mNo > 1 {
					annDay = g.cal.workdayOnOrAfter(g.cal.dayIndex(time.Date(y, mon+time.Month(k), 1, 0, 0, 0, 0, time.UTC)))
					annDay = min(annDay, md)
					ann = g.cal.unixAt(annDay, 9*3600+r.IntN(3600))
				}
				it := g.add(c, event.TypeMilestoneDue, ann)
				it.step, it.due = int16(mNo), int32(md)
				met := int64(-1)
				pMet := clamp(0.84+0.12*q, 0.4, 0.99)
				switch u := r.Float64(); {
				case u < pMet:
					lo := max(annDay, md-15)
					day := lo + r.IntN(md-lo+1)
					for day > lo && !g.cal.isWork(day) {
						day--
					}
					met = max(g.cal.unixAt(day, g.hallSec()), ann+3600)
				case u < pMet+(1-pMet)*0.75:
					met = g.cal.unixAt(g.cal.workdayAfter(md, 1+r.IntN(10)), g.hallSec())
				}
				dueEnd := g.cal.dayStart(md + 1)
				if met < 0 || met > dueEnd-3*86400 {
					// At risk: chased a few days before the due date.
					rd := g.cal.workdayOnOrAfter(max(annDay, md-4-r.IntN(3)))
					if rt := g.cal.unixAt(rd, 9*3600+r.IntN(7200)); rt > ann && (met < 0 || rt < met) {
						g.remind(c, &rems, rt, q)
					}
				}
				if met < 0 || met >= dueEnd {
					rt := g.cal.unixAt(g.cal.workdayAfter(md, 2), 9*3600+r.IntN(7200))
					if met < 0 || rt < met {
						g.remind(c, &rems, rt, q)
					}
				}
				if met >= 0 {
					it := g.add(c, event.TypeMilestoneMet, met)
					it.step = int16(mNo)
					lastMet = max(lastMet, met)
				}
				if last {
					break
				}
			}
			pOn := clamp(0.82+0.12*q, 0.4, 0.99)
			switch u := r.Float64(); {
			case u < pOn:
				lo := max(d0+1, due-10)
				day := lo + r.IntN(due-lo+1)
				for day > lo && !g.cal.isWork(day) {
					day--
				}
				g.add(c, event.TypeCompleted, max(g.cal.unixAt(day, g.hallSec()), lastMet+600))
			case u < pOn+(1-pOn)*0.8:
				done := max(g.cal.unixAt(g.cal.workdayAfter(due, 1+r.IntN(20)), g.hallSec()), lastMet+600)
				if rt := g.cal.unixAt(g.cal.workdayAfter(due, 1), 9*3600+r.IntN(7200)); rt < done {
					g.remind(c, &rems, rt, q)
				}
				g.add(c, event.TypeCompleted, done)
			default: // stalled: chased, never finished in the window
				g.remind(c, &rems, g.cal.unixAt(g.cal.workdayAfter(due, 1), 9*3600+r.IntN(7200)), q)
			}
			g.finish(c)
		}
	}
}

// ---- heap and output ----

func less(a, b *item) bool { return a.emit < b.emit || a.emit == b.emit && a.ord < b.ord }

func (g *generator) push(it item) {
	g.pq = append(g.pq, it)
	h := g.pq
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(&h[i], &h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (g *generator) pop() item {
	h := g.pq
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = item{} // drop the case pointer for the GC
	h = h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && less(&h[r], &h[l]) {
			m = r
		}
		if !less(&h[m], &h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	g.pq = h
	return top
}

func (g *generator) flush(before int64) error {
	for len(g.pq) > 0 && g.pq[0].emit < before {
		it := g.pop()
		if err := g.write(&it); err != nil {
			return err
		}
	}
	return nil
}

func (g *generator) write(it *item) error {
	g.fill(it)
	g.line = append(event.AppendJSON(g.line[:0], &g.ev), '\n')
	if _, err := g.w.Write(g.line); err != nil {
		return err
	}
	g.stats.Events++
	g.kinds[g.ev.Kind]++
	if g.pBad > 0 && g.bad.Float64() < g.pBad {
		g.line = append(g.malformed(g.line[:0], &g.ev), '\n')
		if _, err := g.w.Write(g.line); err != nil {
			return err
		}
		g.stats.Malformed++
	}
	return nil
}

var idPrefix = [3]string{"s", "m", "r"}

// stepID is "s3", "m2", "r1": step, milestone and reminder ids.
func (g *generator) stepID(kind, n int) string {
	ids := g.ids[kind]
	for len(ids) <= n {
		ids = append(ids, idPrefix[kind]+strconv.Itoa(len(ids)))
	}
	g.ids[kind] = ids
	return ids[n]
}

// fill turns a pending item into the wire event. Case attributes go on every
// event (department, region, matter) so that late or partial streams remain
// attributable; the rest on the events they describe.
func (g *generator) fill(it *item) {
	c := it.c
	e := &g.ev
	*e = event.NewEvent()
	b := make([]byte, 0, len(c.id)+4)
	b = append(b, c.id...)
	b = append(b, '-')
	e.ID = string(appendPad(b, int(it.seq), 3))
	e.Kind, e.CaseID, e.Type = c.kind, c.id, it.typ
	e.At = time.Unix(it.at, 0).In(g.cfg.Location)
	dept := int(c.dept)
	if it.dept >= 0 {
		dept = int(it.dept)
	}
	e.Department = g.city.Departments[dept].Code
	if c.region >= 0 {
		e.Region = g.city.Regions[c.region].Code
	}
	e.Matter = c.matter
	switch it.typ {
	case event.TypeAccepted:
		e.Channel = c.channel
		e.LegalDays, e.PromisedDays = c.legal, c.promised
		e.MaterialsTotal, e.MaterialsShared = c.matTotal, c.matShared
		if c.due >= 0 {
			e.Due = g.cal.date(int(c.due))
		}
		fallthrough
	case event.TypeSubmitted, event.TypeRejected:
		e.MatterName, e.Responsible, e.JointID = c.matterName, c.responsible, c.joint
	case event.TypeStepStarted:
		e.LimitDays = int32(it.limit)
		e.Responsible = g.city.staff[dept][it.staff]
		fallthrough
	case event.TypeStepFinished:
		e.Step, e.StepType = g.stepID(0, int(it.step)), it.stepType
	case event.TypeMilestoneDue:
		e.Due = g.cal.date(int(it.due))
		fallthrough
	case event.TypeMilestoneMet:
		e.Step = g.stepID(1, int(it.step))
	case event.TypeReminded, event.TypeResponded:
		e.Step = g.stepID(2, int(it.step))
	case event.TypeRated:
		e.Rating = it.rating
	case event.TypeCompleted:
		e.Resolved = it.resolved
	}
}
