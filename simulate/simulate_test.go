package simulate

import (
	"bytes"
	"hash/fnv"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"effidx/event"
)

func testConfig(seed int64, days, perDay int) Config {
	cfg := DefaultConfig()
	cfg.Seed, cfg.Days, cfg.CasesPerDay = seed, days, perDay
	return cfg
}

func generateBytes(t testing.TB, cfg Config) ([]byte, Stats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := Generate(cfg, &buf)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return buf.Bytes(), st
}

func TestSameConfigGivesSameBytesAndOtherSeedDiffers(t *testing.T) {
	cfg := testConfig(7, 10, 300)
	a, sa := generateBytes(t, cfg)
	b, sb := generateBytes(t, cfg)
	if !bytes.Equal(a, b) {
		t.Fatalf("two runs of the same config differ (%d vs %d bytes)", len(a), len(b))
	}
	if !reflect.DeepEqual(sa, sb) {
		t.Fatalf("stats differ: %+v vs %+v", sa, sb)
	}
	cfg.Seed = 8
	c, _ := generateBytes(t, cfg)
	if bytes.Equal(a, c) {
		t.Fatal("seeds 7 and 8 gave the same stream")
	}
	if sa.Events < 10*300*3 {
		t.Fatalf("only %d events for 10 days at 300 cases/day", sa.Events)
	}
}

func TestNewCityIsDeterministicAndShapedLikeLishui(t *testing.T) {
	a, b := NewCity(3), NewCity(3)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("NewCity(3) differs between calls")
	}
	if got := len(a.Departments); got != 40 {
		t.Errorf("departments: got %d, want 40", got)
	}
	wantRegions := []string{"莲都区", "龙泉市", "青田县", "缙云县", "遂昌县", "松阳县", "云和县", "庆元县", "景宁畲族自治县"}
	var names []string
	for _, r := range a.Regions {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, wantRegions) {
		t.Errorf("regions: got %v, want %v", names, wantRegions)
	}
	if a.Regions[0].Code != "R01" || a.Departments[21].Code != "D22" || a.Departments[21].Name != "市市场监督管理局" {
		t.Errorf("codes: %v %v", a.Regions[0], a.Departments[21])
	}
	service, internal, instant, withSteps, noLimit := 0, 0, 0, 0, 0
	codes := map[string]bool{}
	var wSum float64
	for _, m := range a.Matters {
		if codes[m.Code] {
			t.Errorf("duplicate matter code %s", m.Code)
		}
		codes[m.Code] = true
		if m.Internal {
			internal++
			continue
		}
		service++
		wSum += m.Weight
		switch {
		case m.PromisedDays == 0:
			instant++
		case m.PromisedDays < 0:
			noLimit++
		default:
			if m.LegalDays < m.PromisedDays {
				t.Errorf("%s: promised %d above legal %d", m.Name, m.PromisedDays, m.LegalDays)
			}
		}
		if len(m.Steps) > 0 {
			withSteps++
			for _, s := range m.Steps {
				if s.Department == m.Department {
					t.Errorf("%s: step in its own department", m.Name)
				}
			}
		}
	}
	t.Logf("%d service matters (%d instant, %d with steps, %d without limit), %d internal", service, instant, withSteps, noLimit, internal)
	if service < 200 || service > 400 || internal < 30 {
		t.Errorf("matters: %d service, %d internal; want a few hundred and some internal", service, internal)
	}
	if instant < service/5 || withSteps < 20 {
		t.Errorf("instant %d, with steps %d of %d: want many of both", instant, withSteps, service)
	}
	if math.Abs(wSum-1) > 1e-9 {
		t.Errorf("service weights sum to %v, want 1", wSum)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, d := range a.Departments {
		lo, hi = math.Min(lo, d.Quality), math.Max(hi, d.Quality)
	}
	if hi-lo < 1.2 {
		t.Errorf("department quality spans only %.2f..%.2f", lo, hi)
	}
	if reflect.DeepEqual(a.Departments, NewCity(4).Departments) {
		t.Error("seeds 3 and 4 gave the same department qualities")
	}
}

func TestValidateFillsDefaultsAndRejectsNonsense(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	start := time.Date(2026, 10, 5, 15, 4, 5, 0, loc)
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "zero config gets the defaults", check: func(t *testing.T, c Config) {
			if c.Days != 90 || c.CasesPerDay != 2000 || c.Location == nil || c.MalformedShare != 0 {
				t.Errorf("defaults: %+v", c)
			}
			if got := c.Start.Format("2006-01-02 15:04"); got != "2026-07-01 00:00" {
				t.Errorf("start %s", got)
			}
			if !c.End.Equal(c.Start.AddDate(0, 0, 90)) {
				t.Errorf("end %v", c.End)
			}
		}},
		{name: "start is cut to its date", cfg: Config{Start: start, Location: loc, Days: 3}, check: func(t *testing.T, c Config) {
			if got := c.Start.Format(time.RFC3339); got != "2026-10-05T00:00:00+08:00" {
				t.Errorf("start %s", got)
			}
			if got := c.End.Format(time.RFC3339); got != "2026-10-08T00:00:00+08:00" {
				t.Errorf("end %s", got)
			}
		}},
		{name: "default config is valid", cfg: DefaultConfig(), check: func(t *testing.T, c Config) {
			if c.MalformedShare != 0.002 || c.Seed != 1 {
				t.Errorf("%+v", c)
			}
		}},
		{name: "negative days", cfg: Config{Days: -1}, wantErr: "Days must be between 1"},
		{name: "negative cases per day", cfg: Config{CasesPerDay: -5}, wantErr: "CasesPerDay must be between 1"},
		{name: "share above one half", cfg: Config{MalformedShare: 0.6}, wantErr: "MalformedShare must be within [0, 0.5]"},
		{name: "negative share", cfg: Config{MalformedShare: -0.1}, wantErr: "MalformedShare"},
		{name: "NaN share", cfg: Config{MalformedShare: math.NaN()}, wantErr: "MalformedShare"},
		{name: "end before start", cfg: Config{Start: start, End: start.AddDate(0, 0, -1)}, wantErr: "End"},
		{name: "start before 2000", cfg: Config{Start: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)}, wantErr: "Start must lie between"},
		{name: "all problems at once", cfg: Config{Days: -1, CasesPerDay: -1}, wantErr: "Days must be between 1 and 3660, got -1; CasesPerDay"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			err := c.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
	if _, err := Generate(Config{Days: -3}, io.Discard); err == nil {
		t.Error("Generate accepted Days -3")
	}
}

func TestEndBeforeWindowEndCutsEventsAndLeavesCasesOpen(t *testing.T) {
	cfg := testConfig(5, 20, 300)
	cfg.End = cfg.Start.AddDate(0, 0, 9).Add(13 * time.Hour)
	out, st := generateBytes(t, cfg)
	accepted, completed := map[string]bool{}, map[string]bool{}
	var last time.Time
	for line := range bytes.Lines(out) {
		e, err := event.Parse(line, time.Time{}, 0)
		if err != nil {
			continue
		}
		if !e.At.Before(cfg.End) {
			t.Fatalf("event at %s is not before End %s", e.At, cfg.End)
		}
		if e.At.After(last) {
			last = e.At
		}
		if e.Kind == event.KindService && e.Type == event.TypeAccepted {
			accepted[e.CaseID] = true
		}
		if e.Kind == event.KindService && e.Type == event.TypeCompleted {
			completed[e.CaseID] = true
		}
	}
	if cfg.End.Sub(last) > time.Hour {
		t.Errorf("last event at %s, long before End %s", last, cfg.End)
	}
	open := 0
	for id := range accepted {
		if !completed[id] {
			open++
		}
	}
	if open < len(accepted)/20 {
		t.Errorf("only %d of %d cases open at End", open, len(accepted))
	}
	if st.Cases == 0 || st.CasesByKind["task"] != 80 {
		t.Errorf("stats: %+v", st)
	}
}

func TestPendingEventsStayBoundedOverLongWindows(t *testing.T) {
	peak := func(days int) int {
		_, g, err := generate(testConfig(9, days, 400), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return g.maxPending
	}
	short, long := peak(28), peak(140)
	t.Logf("peak pending events: %d over 28 days, %d over 140 days", short, long)
	if float64(long) > 1.5*float64(short) {
		t.Errorf("pending events grow with the window: %d vs %d", long, short)
	}
}

// ---- the 60-day city stream, parsed once and shared ----

var city60 struct {
	once     sync.Once
	cfg      Config
	st       Stats
	bytes    int
	genTime  time.Duration
	an       *analysis
	parseErr []string
}

func cityStream(t *testing.T) *analysis {
	t.Helper()
	city60.once.Do(func() {
		cfg := testConfig(2026, 60, 2000)
		if err := cfg.Validate(); err != nil { // fills End for the checks
			panic(err)
		}
		city60.cfg = cfg
		var buf bytes.Buffer
		t0 := time.Now()
		st, err := Generate(cfg, &buf)
		city60.genTime = time.Since(t0)
		if err != nil {
			panic(err)
		}
		city60.st, city60.bytes = st, buf.Len()
		city60.an = analyse(cfg, buf.Bytes())
	})
	if city60.an == nil {
		t.Fatal("the city stream could not be generated")
	}
	return city60.an
}

// analysis holds what the tests check, computed from the parsed events.
type analysis struct {
	lines, malformed, events int
	badSamples               []string
	atOrAfterEnd             int
	outOfOrder               int
	maxLag                   time.Duration
	ids                      []uint64
	ends                     bool // every line ends in '\n'
	cases                    map[string]*caseAgg
	ratings                  map[event.Kind]*[6]int
	reminders                map[string]*[2]time.Time
	milestones               map[string]*[2]time.Time
	end                      time.Time
}

type stepAgg struct {
	dept          string
	typ           event.StepType
	limit         int
	start, finish time.Time
}

type caseAgg struct {
	kind                                  event.Kind
	dept                                  string
	channel                               event.Channel
	legal, promised, total, shared        int
	accepted, completed, signed, feedback time.Time
	visits                                int
	suspended                             time.Time
	suspDays                              int
	steps                                 map[string]*stepAgg
	badRatings                            []time.Time
	rectified                             []time.Time
	rated, resolved                       bool
}

func analyse(cfg Config, out []byte) *analysis {
	a := &analysis{
		cases: map[string]*caseAgg{}, ratings: map[event.Kind]*[6]int{},
		reminders: map[string]*[2]time.Time{}, milestones: map[string]*[2]time.Time{},
		end: cfg.End, ends: len(out) > 0 && out[len(out)-1] == '\n',
	}
	var lines [][]byte
	for line := range bytes.Lines(out) {
		lines = append(lines, line)
	}
	a.lines = len(lines)
	// Parse in chunks, in parallel, then fold in order: keeps memory modest.
	const chunk = 1 << 16
	evs := make([]event.Event, chunk)
	errs := make([]error, chunk)
	var maxAt time.Time
	for lo := 0; lo < len(lines); lo += chunk {
		part := lines[lo:min(lo+chunk, len(lines))]
		var wg sync.WaitGroup
		const workers = 4
		for w := range workers {
			wg.Go(func() {
				for i := w; i < len(part); i += workers {
					evs[i], errs[i] = event.Parse(part[i], time.Time{}, 0)
				}
			})
		}
		wg.Wait()
		for i := range part {
			if errs[i] != nil {
				a.malformed++
				if len(a.badSamples) < 5 {
					a.badSamples = append(a.badSamples, errs[i].Error())
				}
				continue
			}
			e := &evs[i]
			a.events++
			h := fnv.New64a()
			h.Write([]byte(e.ID))
			a.ids = append(a.ids, h.Sum64())
			if !e.At.Before(cfg.End) {
				a.atOrAfterEnd++
			}
			if e.At.Before(maxAt) {
				a.outOfOrder++
				a.maxLag = max(a.maxLag, maxAt.Sub(e.At))
			} else {
				maxAt = e.At
			}
			a.fold(e)
		}
	}
	return a
}

func (a *analysis) fold(e *event.Event) {
	c := a.cases[e.CaseID]
	if c == nil {
		c = &caseAgg{kind: e.Kind, legal: -1, promised: -1}
		a.cases[e.CaseID] = c
	}
	switch e.Type {
	case event.TypeAccepted:
		c.accepted, c.dept, c.channel = e.At, e.Department, e.Channel
		c.legal, c.promised = int(e.LegalDays), int(e.PromisedDays)
		c.total, c.shared = int(e.MaterialsTotal), int(e.MaterialsShared)
	case event.TypeCompleted:
		c.completed = e.At
		c.resolved = e.Resolved == event.ResolvedTrue
	case event.TypeVisit:
		c.visits++
	case event.TypeSuspended:
		c.suspended = e.At
	case event.TypeResumed:
		c.suspDays += wd(e.At) - wd(c.suspended)
	case event.TypeSigned:
		c.signed = e.At
	case event.TypeFeedback:
		c.feedback = e.At
	case event.TypeStepStarted, event.TypeStepFinished:
		if c.steps == nil {
			c.steps = map[string]*stepAgg{}
		}
		s := c.steps[e.Step]
		if s == nil {
			s = &stepAgg{}
			c.steps[e.Step] = s
		}
		s.dept, s.typ = e.Department, e.StepType
		if e.Type == event.TypeStepStarted {
			s.start, s.limit = e.At, int(e.LimitDays)
		} else {
			s.finish = e.At
		}
	case event.TypeRated:
		r := a.ratings[e.Kind]
		if r == nil {
			r = new([6]int)
			a.ratings[e.Kind] = r
		}
		r[e.Rating]++
		c.rated = true
		if e.Rating <= 2 {
			c.badRatings = append(c.badRatings, e.At)
		}
	case event.TypeRectified:
		c.rectified = append(c.rectified, e.At)
	case event.TypeReminded, event.TypeResponded:
		k := e.CaseID + "/" + e.Step
		p := a.reminders[k]
		if p == nil {
			p = new([2]time.Time)
			a.reminders[k] = p
		}
		p[e.Type-event.TypeReminded] = e.At
	case event.TypeMilestoneDue, event.TypeMilestoneMet:
		k := e.CaseID + "/" + e.Step
		p := a.milestones[k]
		if p == nil {
			p = new([2]time.Time)
			a.milestones[k] = p
		}
		if e.Type == event.TypeMilestoneDue {
			p[0] = e.Due
		} else {
			p[1] = e.At
		}
	}
}

// Working days approximated Mon–Fri, on the events' own (+08:00) dates.

func dayNum(t time.Time) int {
	y, m, d := t.Date()
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func isWorkNum(n int) bool { w := (n + 4) % 7; return w != 0 && w != 6 } // 1970-01-01 was a Thursday

// wd is WD(date of t): working days up to and including it, from an epoch.
func wd(t time.Time) int {
	n := dayNum(t)
	w := n / 7 * 5
	for i := n / 7 * 7; i <= n; i++ {
		if isWorkNum(i) {
			w++
		}
	}
	return w
}

// dueDay is the date (day number) a limit of n working days from date a runs
// out on, per SPEC section 4.
func dueDay(a time.Time, n int) int {
	d := dayNum(a)
	if n == 0 {
		for !isWorkNum(d) {
			d++
		}
		return d
	}
	for n > 0 {
		d++
		if isWorkNum(d) {
			n--
		}
	}
	return d
}

type ratio struct{ num, den float64 }

func (r *ratio) add(ok bool) {
	r.den++
	if ok {
		r.num++
	}
}
func (r ratio) v() float64 { return r.num / r.den }

type serviceFigures struct {
	onTime, zeroVisit, atMostOne, mobile, online, instant, rated, good ratio
	shared, total                                                      float64
	byDeptOnTime, byDeptZero                                           map[string]*ratio
}

func (a *analysis) serviceFigures() serviceFigures {
	f := serviceFigures{byDeptOnTime: map[string]*ratio{}, byDeptZero: map[string]*ratio{}}
	for _, c := range a.cases {
		if c.kind != event.KindService || c.accepted.IsZero() {
			continue
		}
		f.mobile.add(c.channel == event.ChannelMobile)
		f.online.add(c.channel == event.ChannelMobile || c.channel == event.ChannelOnline)
		f.shared += float64(c.shared)
		f.total += float64(c.total)
		if c.completed.IsZero() {
			continue
		}
		if f.byDeptOnTime[c.dept] == nil {
			f.byDeptOnTime[c.dept], f.byDeptZero[c.dept] = &ratio{}, &ratio{}
		}
		f.zeroVisit.add(c.visits == 0)
		f.byDeptZero[c.dept].add(c.visits == 0)
		f.atMostOne.add(c.visits <= 1)
		f.instant.add(c.promised == 0 && dayNum(c.completed) == dayNum(c.accepted))
		f.rated.add(c.rated)
		limit := c.promised
		if limit < 0 {
			limit = c.legal
		}
		if limit >= 0 {
			ok := dayNum(c.completed) <= dueDay(c.accepted, limit+c.suspDays)
			f.onTime.add(ok)
			f.byDeptOnTime[c.dept].add(ok)
		}
	}
	r := a.ratings[event.KindService]
	f.good = ratio{float64(r[4] + r[5]), float64(r[1] + r[2] + r[3] + r[4] + r[5])}
	return f
}

func TestEveryLineIsAnEventOrDeliberatelyMalformed(t *testing.T) {
	a := cityStream(t)
	st := city60.st
	if !a.ends {
		t.Error("the stream does not end with a newline")
	}
	if a.lines != st.Events+st.Malformed {
		t.Errorf("%d lines, stats say %d events + %d malformed", a.lines, st.Events, st.Malformed)
	}
	if a.malformed != st.Malformed {
		t.Errorf("%d lines fail event.Parse, stats say %d are malformed; first errors: %q", a.malformed, st.Malformed, a.badSamples)
	}
	share := float64(a.malformed) / float64(a.lines)
	want := city60.cfg.MalformedShare
	t.Logf("%d lines, %d malformed (%.4f%%), e.g. %q", a.lines, a.malformed, 100*share, a.badSamples)
	if share < want*0.5 || share > want*1.5 {
		t.Errorf("malformed share %.5f, want %.4f ±50%%", share, want)
	}
	kinds := 0
	for _, n := range st.ByKind {
		kinds += n
	}
	if kinds != st.Events || len(st.ByKind) != 5 {
		t.Errorf("ByKind %v does not add up to %d events over 5 kinds", st.ByKind, st.Events)
	}
}

func TestNoEventAtOrAfterEndAndOrderHoldsButForLateSent(t *testing.T) {
	a := cityStream(t)
	if a.atOrAfterEnd > 0 {
		t.Errorf("%d events at or after End", a.atOrAfterEnd)
	}
	share := float64(a.outOfOrder) / float64(a.events)
	t.Logf("%.3f%% of events arrive late, by at most %s", 100*share, a.maxLag)
	if share < 0.003 || share > 0.02 {
		t.Errorf("out-of-order share %.4f, want about 1%%", share)
	}
	if a.maxLag > 5*time.Hour {
		t.Errorf("an event arrives %s after its position; want at most a few hours", a.maxLag)
	}
}

func TestEventIDsAreUnique(t *testing.T) {
	a := cityStream(t)
	ids := slices.Clone(a.ids)
	slices.Sort(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			t.Fatalf("duplicate event_id (hash %x)", ids[i])
		}
	}
	if len(ids) != city60.st.Events {
		t.Errorf("%d ids for %d events", len(ids), city60.st.Events)
	}
}

// TestCityWideFiguresMatchTheLishuiReport: the service figures computed from
// the parsed events land near the report's, and departments spread.
func TestCityWideFiguresMatchTheLishuiReport(t *testing.T) {
	a := cityStream(t)
	f := a.serviceFigures()
	tests := []struct {
		name           string
		got, want, tol float64
	}{
		{"按时办结率 on-time", f.onTime.v(), 0.97, 0.03},
		{"零次跑率 zero-visit", f.zeroVisit.v(), 0.845, 0.03},
		{"掌办率 mobile", f.mobile.v(), 0.52, 0.03},
		{"即办率 instant", f.instant.v(), 0.326, 0.03},
		{"材料共享率 shared materials", f.shared / f.total, 0.733, 0.03},
		{"好评率 good ratings", f.good.v(), 0.97, 0.02},
	}
	for _, tc := range tests {
		t.Logf("%-32s %.4f (target %.3f ±%.2f)", tc.name, tc.got, tc.want, tc.tol)
		if math.IsNaN(tc.got) || math.Abs(tc.got-tc.want) > tc.tol {
			t.Errorf("%s = %.4f, want %.3f ±%.2f", tc.name, tc.got, tc.want, tc.tol)
		}
	}
	if f.good.v() <= 0.95 {
		t.Errorf("satisfaction %.4f, want above 95%%", f.good.v())
	}
	spread := func(by map[string]*ratio) (lo, hi float64, loD, hiD string) {
		lo, hi = 2, -1
		for d, r := range by {
			if r.den < 300 {
				continue // too few cases to rank
			}
			if v := r.v(); v < lo {
				lo, loD = v, d
			}
			if v := r.v(); v > hi {
				hi, hiD = v, d
			}
		}
		return
	}
	lo1, hi1, lo1d, hi1d := spread(f.byDeptOnTime)
	lo2, hi2, lo2d, hi2d := spread(f.byDeptZero)
	t.Logf("on-time by department: %s %.3f … %s %.3f; zero-visit: %s %.3f … %s %.3f", lo1d, lo1, hi1d, hi1, lo2d, lo2, hi2d, hi2)
	if hi1-lo1 < 0.10 && hi2-lo2 < 0.10 {
		t.Errorf("departments spread only %.3f (on-time) and %.3f (zero-visit); want ≥ 0.10 on one", hi1-lo1, hi2-lo2)
	}
	if hi1-lo1 < 0.05 || hi2-lo2 < 0.05 {
		t.Errorf("one of the spreads is below 5 points: %.3f on-time, %.3f zero-visit", hi1-lo1, hi2-lo2)
	}
}

// TestOtherIndicatorsLandBetweenFloorAndTarget: the rest of the catalog the
// stream feeds sits in the scoring range, so scores show a spread rather than
// 0 or 100 everywhere.
func TestOtherIndicatorsLandBetweenFloorAndTarget(t *testing.T) {
	a := cityStream(t)
	f := a.serviceFigures()
	var parallel, stepOn, consult, countersign, internalOn, internalZero, closed, signed24, resolved, ticketGood, reminders, milestones, rectified ratio
	var steps, stepCases, scenHours, scenCases float64
	cutoff := dayNum(a.end) - 25 // bad ratings whose 15 working days have passed
	for _, c := range a.cases {
		if !c.completed.IsZero() && len(c.steps) > 0 {
			stepCases++
			steps += float64(len(c.steps))
			depts := map[string]bool{}
			for _, s := range c.steps {
				depts[s.dept] = true
			}
			if len(depts) >= 2 {
				overlap := false
				for _, s := range c.steps {
					for _, u := range c.steps {
						if s.dept != u.dept && s.start.Before(u.finish) && u.start.Before(s.finish) {
							overlap = true
						}
					}
				}
				parallel.add(overlap)
			}
		}
		for _, s := range c.steps {
			if s.finish.IsZero() || s.start.IsZero() {
				continue
			}
			stepOn.add(dayNum(s.finish) <= dueDay(s.start, s.limit))
			switch s.typ {
			case event.StepConsult:
				consult.add(dayNum(s.finish) <= dueDay(s.start, 1))
			case event.StepCountersign:
				countersign.add(dayNum(s.finish) <= dueDay(s.start, 3))
			}
		}
		for i, b := range c.badRatings {
			if c.kind == event.KindService && dayNum(b) < cutoff {
				rectified.add(i < len(c.rectified) && dayNum(c.rectified[i]) <= dueDay(b, 15))
			}
		}
		switch c.kind {
		case event.KindInternal:
			if !c.completed.IsZero() && c.promised >= 0 {
				internalOn.add(dayNum(c.completed) <= dueDay(c.accepted, c.promised+c.suspDays))
				internalZero.add(c.visits == 0)
			}
		case event.KindScenario:
			if !c.completed.IsZero() {
				closed.add(!c.feedback.IsZero())
				scenHours += c.completed.Sub(c.accepted).Hours()
				scenCases++
			}
		case event.KindTicket:
			if !c.completed.IsZero() {
				resolved.add(c.resolved)
			}
			if !c.accepted.IsZero() && c.accepted.Before(a.end.Add(-24*time.Hour)) {
				signed24.add(!c.signed.IsZero() && !c.signed.After(c.accepted.Add(24*time.Hour)))
			}
		}
	}
	tr := a.ratings[event.KindTicket]
	ticketGood = ratio{float64(tr[4] + tr[5]), float64(tr[1] + tr[2] + tr[3] + tr[4] + tr[5])}
	for _, p := range a.reminders {
		if !p[0].IsZero() && dayNum(p[0]) < dayNum(a.end)-2 {
			reminders.add(!p[1].IsZero() && dayNum(p[1]) <= dueDay(p[0], 1))
		}
	}
	for _, p := range a.milestones {
		if !p[0].IsZero() && p[0].Before(a.end.AddDate(0, 0, -1)) {
			milestones.add(!p[1].IsZero() && dayNum(p[1]) <= dayNum(p[0]))
		}
	}
	tests := []struct {
		name           string
		got, floor, to float64
	}{
		{"S2.3 最多跑一次率", f.atMostOne.v(), 0.95, 1},
		{"S3.1 网办率", f.online.v(), 0.60, 1},
		{"S5.2 评价参与率", f.rated.v(), 0.30, 0.80},
		{"S5.3 差评整改率", rectified.v(), 0.80, 1},
		{"C1.1 内部事项按时办结率", internalOn.v(), 0.90, 1},
		{"C1.2 内部事项零次跑率", internalZero.v(), 0.60, 0.95},
		{"C2.1 并联办理率", parallel.v(), 0.30, 0.80},
		{"C2.2 环节按时率", stepOn.v(), 0.90, 1},
		{"C2.3 件均环节数", steps / stepCases, 2, 6},
		{"C3.1 征求意见1日办结率", consult.v(), 0.80, 1},
		{"C3.2 会签3日办结率", countersign.v(), 0.80, 1},
		{"C4.2 闭环率", closed.v(), 0.80, 1},
		{"C4.3 平均处置时长 h", scenHours / scenCases, 4, 72},
		{"E1.2 月度目标达成率", milestones.v(), 0.70, 1},
		{"E2.1 催办响应及时率", reminders.v(), 0.80, 1},
		{"E3.1 响应率", signed24.v(), 0.90, 1},
		{"E3.2 解决率", resolved.v(), 0.70, 0.95},
		{"E3.3 满意率", ticketGood.v(), 0.80, 0.98},
	}
	for _, tc := range tests {
		t.Logf("%-28s %.4f (scored between %.2f and %.2f)", tc.name, tc.got, tc.floor, tc.to)
		if math.IsNaN(tc.got) || tc.got < tc.floor || tc.got > tc.to {
			t.Errorf("%s = %.4f, want within [%.2f, %.2f]", tc.name, tc.got, tc.floor, tc.to)
		}
	}
}

// TestKindsScaleFromCasesPerDay: internal, ticket and scenario volumes follow
// CasesPerDay; tasks are a fixed set.
func TestKindsScaleFromCasesPerDay(t *testing.T) {
	cityStream(t)
	st := city60.st
	perCase := float64(st.Events) / float64(st.Cases)
	t.Logf("generated %d events (%d cases, %.2f events/case, %d MB) in %s: %.0f events/s; by kind %v; cases %v",
		st.Events, st.Cases, perCase, city60.bytes>>20, city60.genTime.Round(time.Millisecond),
		float64(st.Events)/city60.genTime.Seconds(), st.ByKind, st.CasesByKind)
	want := map[string][2]float64{ // cases per day relative to CasesPerDay
		"service": {0.95, 1.05}, "internal": {0.12, 0.18}, "ticket": {0.17, 0.23}, "scenario": {0.025, 0.035},
	}
	for k, lim := range want {
		r := float64(st.CasesByKind[k]) / 60 / 2000
		if r < lim[0] || r > lim[1] {
			t.Errorf("%s: %.3f cases per service case per day, want %.3f..%.3f", k, r, lim[0], lim[1])
		}
	}
	if st.CasesByKind["task"] != 80 {
		t.Errorf("tasks: %d, want 80 (2 per department)", st.CasesByKind["task"])
	}
	if perCase < 3 || perCase > 10 {
		t.Errorf("%.2f events per case", perCase)
	}
}

func BenchmarkGenerate(b *testing.B) {
	cfg := testConfig(1, 7, 2000)
	events := 0
	b.ReportAllocs()
	for b.Loop() {
		st, err := Generate(cfg, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		events += st.Events + st.Malformed
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
