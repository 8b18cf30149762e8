package remind

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"effidx/access"
	"effidx/collector"
	"effidx/collector/spool"
	"effidx/event"
	"effidx/indices"
	"effidx/lights"
	"effidx/rules"
	"effidx/warehouse"
	"effidx/warehouse/chtest"
)

// harness is a city in ClickHouse on a simulated clock: the real lights
// job judges its items, the reminder jobs (one per replica) send to a test
// webhook gateway and SMTP server, and their events go through a real
// collector (spool and writer) into ClickHouse.
type harness struct {
	t    *testing.T
	ctx  context.Context
	wh   *warehouse.Warehouse
	cal  *rules.Calendar
	lt   *lights.Job
	recv *receiver
	smtp *smtpServer
	dir  *Directory
	col  *collector.Collector
	web  *httptest.Server // the acknowledgement page and API
	mux  *http.ServeMux
	cfg  Config

	mu  sync.Mutex
	now time.Time
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), wh: chtest.Warehouse(t)}
	cal, err := rules.DefaultCalendar()
	if err != nil {
		t.Fatal(err)
	}
	h.cal = cal
	quiet := slog.New(slog.DiscardHandler)
	lc := lights.DefaultConfig()
	lc.FullEvery = 0 // every run reads everything: events are written between runs
	h.lt = lights.NewJob(h.wh, &lights.RulesJudge{Calendar: func() (*rules.Calendar, error) { return cal, nil }, Rules: rules.DefaultLightRules()},
		lc, prometheus.NewRegistry(), quiet)
	h.lt.SetClock(h.clock)
	h.recv = newReceiver(t)
	h.recv.clock = h.clock
	h.smtp = newSMTPServer(t)
	h.dir = testDirectory(t, h.recv.URL)

	ccfg := collector.DefaultConfig()
	ccfg.Spool.Dir = filepath.Join(t.TempDir(), "spool")
	ccfg.FlushInterval = 50 * time.Millisecond
	sp, err := spool.Open(ccfg.Spool, quiet)
	if err != nil {
		t.Fatal(err)
	}
	cm := collector.NewMetrics(prometheus.NewRegistry())
	h.col = collector.New(ccfg, sp, cm, quiet)
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = collector.NewWriter(ccfg, sp, h.wh, cm, quiet).Run(wctx, 5*time.Second)
	}()
	t.Cleanup(func() {
		stop()
		<-done
		sp.Close()
	})

	h.mux = http.NewServeMux()
	h.web = httptest.NewServer(h.mux)
	t.Cleanup(h.web.Close)
	h.cfg = DefaultConfig()
	h.cfg.Enabled = true
	h.cfg.ClaimSettle = time.Second
	h.cfg.BaseURL = h.web.URL
	h.cfg.AckSecret = "ack-secret-of-the-tests"
	h.cfg.Webhook.Secret = testSecret
	h.cfg.SMTP = SMTPConfig{Addr: h.smtp.addr(), From: "effidx@city.example.gov.cn", Timeout: 5 * time.Second}
	return h
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) set(s string) {
	h.t.Helper()
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	h.now = t
	h.mu.Unlock()
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

// replica is a reminder job of its own (own caches, own ClickHouse
// connections, own metrics), as a second process would be; the first one
// serves the acknowledgement page.
func (h *harness) replica(name string, reg *prometheus.Registry) *Job {
	h.t.Helper()
	cfg := h.cfg
	cfg.Replica = name
	wcfg := h.wh.Config()
	wh, err := warehouse.Open(h.ctx, wcfg, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { wh.Close() })
	j, err := New(cfg, Options{
		Warehouse: wh, Lights: h.lt, Calendar: func() (*rules.Calendar, error) { return h.cal, nil }, Rules: rules.DefaultReminderRules(),
		Directory: h.dir, Registerer: reg, Log: slog.New(slog.DiscardHandler), Now: h.clock,
		Events: SinkFunc(func(ctx context.Context, evs []event.Event) error {
			_, err := h.col.Ingest(ctx, "effidx-remind", evs)
			return err
		}),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return j
}

// serve routes the acknowledgement page and API to j. The API's caller
// says who it is in X-Test-User ("name/role/department"; none: a leader).
func (h *harness) serve(j *Job) {
	j.Register(h.mux.Handle, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := access.Identity{Name: "王局长", Role: access.Leader}
			if u := r.Header.Get("X-Test-User"); u != "" {
				parts := strings.SplitN(u+"//", "/", 3)
				id = access.Identity{Name: parts[0], Role: access.Role(parts[1]), Department: strings.TrimSuffix(parts[2], "//")}
			}
			next.ServeHTTP(w, r.WithContext(access.WithIdentity(r.Context(), id)))
		})
	})
}

// ingest writes case events as the collector's writer would.
func (h *harness) ingest(evs ...event.Event) {
	h.t.Helper()
	var st []event.Stored
	for _, e := range evs {
		st = append(st, event.Stored{Event: e, ReceivedAt: time.Now(), Source: "hall"})
	}
	if err := h.wh.WriteBatch(h.ctx, &event.Batch{Events: st}); err != nil {
		h.t.Fatal(err)
	}
}

// run is one tick of the clock: the lights, then every replica at once.
func (h *harness) run(js ...*Job) []Report {
	h.t.Helper()
	if err := h.lt.RunOnce(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	reps := make([]Report, len(js))
	errs := make([]error, len(js))
	var wg sync.WaitGroup
	for i, j := range js {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = j.RunOnce(h.ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			h.t.Fatalf("%s at %s: %v", js[i].replica, h.clock().Format(time.DateTime), err)
		}
	}
	return reps
}

func accepted(caseID, dept, responsible, at string, promised, legal int) event.Event {
	e := event.NewEvent()
	e.ID, e.Kind, e.CaseID, e.Type, e.Department, e.Responsible, e.Region, e.Matter = caseID+"-acc", event.KindService, caseID, event.TypeAccepted, dept, responsible, "R1", "M-LICENCE"
	e.At, _ = time.Parse(time.RFC3339, at)
	e.PromisedDays, e.LegalDays = int32(promised), int32(legal)
	return e
}

// line is one webhook message as the tests compare them: simulated time,
// case, type, step and repeat, level and recipient.
func line(r received) string {
	return fmt.Sprintf("%s %s %s %s#%d %s→%s", r.At.In(cst).Format("01-02 15:04"), r.Msg.Item.CaseID, r.Msg.Type, r.Msg.Step, r.Msg.Repeat, r.Msg.Level, r.Msg.To.ID)
}

func lines(rs []received) []string {
	var out []string
	for _, r := range rs {
		out = append(out, line(r))
	}
	sort.Strings(out)
	return out
}

func diffLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// Two overdue cases of D01 from Wednesday 2024-10-16 to Friday 10-18,
// every half hour. Both get the last-working-day notice and, once red,
// the 催办; 李明 acknowledges his through the link on Thursday at 11:00,
// which stops his repeats and escalations; 张三 does not, so the rules'
// chain runs: repeats every 4 working hours, the section head after 4, the
// leader after 9 (the evening of Thursday is quiet: Friday 09:00).
func TestEscalationFollowsTheChainUntilAcknowledgedAndMovesE21(t *testing.T) {
	h := newHarness(t)
	reg := prometheus.NewRegistry()
	j := h.replica("a", reg)
	h.serve(j)
	h.ingest(accepted("E1", "D01", "zhang.san", "2024-10-14T10:00:00+08:00", 2, 10),
		accepted("E2", "D01", "李明", "2024-10-14T10:00:00+08:00", 2, 10))
	before := e21(t, h)

	h.set("2024-10-16T08:00:00+08:00")
	end, _ := time.Parse(time.RFC3339, "2024-10-18T17:30:00+08:00")
	acked := false
	for !h.clock().After(end) {
		if !acked && h.clock().Format("01-02 15:04") == "10-17 11:00" {
			ackByLink(t, h, "E2")
			acked = true
		}
		h.run(j)
		h.advance(30 * time.Minute)
	}
	_, got, posts, bad := h.recv.snapshot()
	diffLines(t, "webhook messages", lines(got), []string{
		"10-16 09:00 E1 notice last_day#0 responsible→zhang.san",
		"10-16 09:00 E2 notice last_day#0 responsible→li.ming",
		"10-17 09:00 E1 urge overdue#0 responsible→zhang.san",
		"10-17 09:00 E2 urge overdue#0 responsible→li.ming",
		"10-17 13:00 E1 escalation overdue#0 section_head→wang.ke",
		"10-17 13:00 E1 urge overdue#1 responsible→zhang.san",
		"10-17 17:00 E1 urge overdue#2 responsible→zhang.san",
		"10-18 09:00 E1 escalation overdue#0 leader→zhao.ju",
		"10-18 12:00 E1 urge overdue#3 responsible→zhang.san",
		"10-18 16:00 E1 urge overdue#4 responsible→zhang.san",
	})
	if posts != len(got) || bad != 0 {
		t.Errorf("%d posts for %d messages, %d failing verification", posts, len(got), bad)
	}
	var mails []string
	for _, m := range h.smtp.messages() {
		hdr, _ := parseMail(t, m.Data)
		subject, _ := new(mime.WordDecoder).DecodeHeader(hdr.Header.Get("Subject"))
		mails = append(mails, m.To[0]+" "+subject)
	}
	sort.Strings(mails)
	diffLines(t, "e-mails", mails, []string{
		"wang.ke@d01.example.gov.cn 【督办升级】办件 E1",
		"zhang.san@d01.example.gov.cn 【催办·第2次】办件 E1",
		"zhang.san@d01.example.gov.cn 【催办·第3次】办件 E1",
		"zhang.san@d01.example.gov.cn 【催办·第4次】办件 E1",
		"zhang.san@d01.example.gov.cn 【催办·第5次】办件 E1",
		"zhang.san@d01.example.gov.cn 【催办】办件 E1",
		"zhang.san@d01.example.gov.cn 【预先提醒】办件 E1",
	})
	for _, tc := range []struct {
		metric string
		c      prometheus.Collector
		want   float64
	}{
		{"sent webhook", j.m.sent.WithLabelValues("webhook"), 10},
		{"sent email", j.m.sent.WithLabelValues("email"), 7},
		{"failed webhook", j.m.failed.WithLabelValues("webhook"), 0},
		// Held once each: Wednesday's notices and Thursday's first 催办
		// fell due at midnight.
		{"suppressed webhook", j.m.suppressed.WithLabelValues("webhook"), 4},
		{"suppressed email", j.m.suppressed.WithLabelValues("email"), 2},
	} {
		if v := testutil.ToFloat64(tc.c); v != tc.want {
			t.Errorf("%s: %v, want %v", tc.metric, v, tc.want)
		}
	}

	// The 催办 came back as events through the collector.
	want := []string{
		"E1 reminded rm:overdue 10-17 09:00 D01 R1 张三",
		"E1 reminded rm:overdue#1 10-17 13:00 D01 R1 张三",
		"E1 reminded rm:overdue#2 10-17 17:00 D01 R1 张三",
		"E1 reminded rm:overdue#3 10-18 12:00 D01 R1 张三",
		"E1 reminded rm:overdue#4 10-18 16:00 D01 R1 张三",
		"E2 reminded rm:overdue 10-17 09:00 D01 R1 李明",
		"E2 responded rm:overdue 10-17 11:00 D01 R1 李明",
	}
	diffLines(t, "reminder events in ClickHouse", waitEvents(t, h, len(want)), want)
	after := e21(t, h)
	if before != "n/a" || after != "1/6" {
		t.Errorf("E2.1 of D01 in 2024-10: %s before, %s after; want n/a, then 1/6 (李明 answered within the day, 张三's five 催办 were not)", before, after)
	}
}

// ackByLink follows the acknowledgement link of the case's first 催办:
// looking (GET) acknowledges nothing, the button (POST) does.
func ackByLink(t *testing.T, h *harness, caseID string) {
	t.Helper()
	_, got, _, _ := h.recv.snapshot()
	var link string
	for _, r := range got {
		if r.Msg.Item.CaseID == caseID && r.Msg.Type == "urge" {
			link = r.Msg.AckURL
		}
	}
	if !strings.HasPrefix(link, h.web.URL+"/reminders/ack/") {
		t.Fatalf("no acknowledgement link for %s: %q", caseID, link)
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req, _ := http.NewRequest(method, link, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(body)
		switch {
		case resp.StatusCode != http.StatusOK:
			t.Fatalf("%s %s: %s\n%s", method, link, resp.Status, page)
		case method == http.MethodGet && (!strings.Contains(page, "<button") || !strings.Contains(page, "李明")):
			t.Fatalf("GET shows no button or no recipient:\n%s", page)
		case method == http.MethodPost && !strings.Contains(page, "已于 <b>2024-10-17 11:00</b> 确认，督办升级已停止"):
			t.Fatalf("POST did not acknowledge:\n%s", page)
		}
	}
}

// waitEvents waits for the reminder events to land and lists them.
func waitEvents(t *testing.T, h *harness, n int) []string {
	t.Helper()
	var out []string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		rows, err := h.wh.Conn().Query(h.ctx, fmt.Sprintf(`SELECT case_id, toString(type), step, at, department, region, responsible
FROM %s.events FINAL WHERE type IN ('reminded', 'responded') ORDER BY case_id, type, step`, h.wh.Database()))
		if err != nil {
			t.Fatal(err)
		}
		out = out[:0]
		for rows.Next() {
			var c, typ, step, dept, region, resp string
			var at time.Time
			if err := rows.Scan(&c, &typ, &step, &at, &dept, &region, &resp); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s %s %s %s %s %s %s", c, typ, step, at.In(cst).Format("01-02 15:04"), dept, region, resp))
		}
		rows.Close()
		if len(out) >= n {
			break
		}
	}
	return out
}

// e21 is indicator E2.1 of D01 for October 2024, computed as the index
// job computes it, as numerator/denominator ("n/a" without reminders).
func e21(t *testing.T, h *harness) string {
	t.Helper()
	cat, err := indices.Default()
	if err != nil {
		t.Fatal(err)
	}
	p, err := indices.ParsePeriod("2024-10")
	if err != nil {
		t.Fatal(err)
	}
	res, err := indices.NewComputer(h.wh, cat).Compute(h.ctx, h.cal, p, time.Date(2024, 11, 5, 12, 0, 0, 0, cst))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.SubjectType == indices.SubjectDepartment && r.Subject == "D01" && r.Indicator == "E2.1" && r.Denominator > 0 {
			return fmt.Sprintf("%v/%v", r.Numerator, r.Denominator)
		}
	}
	return "n/a"
}

// National Day 2024: Friday 09-27 is a working day, Saturday 09-28 is not,
// Sunday 09-29 and Monday 09-30 are adjusted working days, 10-01..10-07 are
// the holiday. Cases whose events arrive at 22:00 are first seen red then.
func TestQuietHoursHoldRemindersUntilTheNextWorkingMorning(t *testing.T) {
	h := newHarness(t)
	reg := prometheus.NewRegistry()
	j := h.replica("a", reg)
	firstOf := func(caseID string) (received, bool) {
		_, got, _, _ := h.recv.snapshot()
		for _, r := range got {
			if r.Msg.Item.CaseID == caseID {
				return r, true
			}
		}
		return received{}, false
	}

	// Friday night: H1 is red (due Thursday), H2 is past its statutory
	// deadline too (due Wednesday, legal_days = promised).
	h.set("2024-09-27T21:00:00+08:00")
	h.run(j)
	h.advance(time.Hour)
	h.ingest(accepted("H1", "D01", "li.ming", "2024-09-23T10:00:00+08:00", 3, 10),
		accepted("H2", "D01", "li.ming", "2024-09-23T10:00:00+08:00", 2, 2))
	end, _ := time.Parse(time.RFC3339, "2024-09-29T10:00:00+08:00")
	for ; !h.clock().After(end); h.advance(time.Hour) {
		h.run(j)
		if _, ok := firstOf("H1"); ok && h.clock().Before(end.Add(-time.Hour)) {
			t.Fatalf("H1 reminded at %s, in quiet hours", h.clock())
		}
	}
	for _, tc := range []struct{ caseID, want string }{
		{"H1", "09-29 09:00 H1 urge overdue#0 responsible→li.ming"},       // Sunday: a working day by the calendar
		{"H2", "09-27 22:00 H2 urge legal_overdue#0 responsible→li.ming"}, // past its statutory deadline: at once
	} {
		if r, ok := firstOf(tc.caseID); !ok || line(r) != tc.want {
			t.Errorf("first message of %s: %q, want %q", tc.caseID, line(r), tc.want)
		}
	}
	if r, _ := firstOf("H2"); !r.Msg.LegalOverdue || !strings.HasPrefix(r.Msg.Subject, "【催办】【超法定时限】") {
		t.Errorf("H2's message does not say it is legally overdue: %+v", r.Msg)
	}
	// The override counts natural hours: H2's chain ran through the night.
	var h2 []string
	_, got, _, _ := h.recv.snapshot()
	for _, r := range got {
		if r.Msg.Item.CaseID == "H2" {
			h2 = append(h2, line(r))
		}
	}
	sort.Strings(h2)
	diffLines(t, "H2 (legal overdue) over the weekend", h2, []string{
		"09-27 22:00 H2 urge legal_overdue#0 responsible→li.ming",
		"09-28 02:00 H2 escalation legal_overdue#0 section_head→chen.ke",
		"09-28 02:00 H2 urge legal_overdue#1 responsible→li.ming",
		"09-28 06:00 H2 urge legal_overdue#2 responsible→li.ming",
		"09-28 07:00 H2 escalation legal_overdue#0 leader→zhao.ju",
		"09-28 10:00 H2 urge legal_overdue#3 responsible→li.ming",
		"09-28 14:00 H2 urge legal_overdue#4 responsible→li.ming",
		"09-28 18:00 H2 urge legal_overdue#5 responsible→li.ming",
		"09-28 22:00 H2 urge legal_overdue#6 responsible→li.ming",
		"09-29 02:00 H2 urge legal_overdue#7 responsible→li.ming",
		"09-29 06:00 H2 urge legal_overdue#8 responsible→li.ming",
		"09-29 10:00 H2 urge legal_overdue#9 responsible→li.ming",
	})

	// Monday 09-30, the last working day before the holiday: H3 of D02
	// (whose responsible the directory does not know, so the duty contact
	// gets it by e-mail) is first seen at 22:00 and reminded on 10-08.
	h.set("2024-09-30T22:00:00+08:00")
	h.ingest(accepted("H3", "D02", "ghost", "2024-09-25T10:00:00+08:00", 2, 20))
	for _, at := range []string{"2024-09-30T22:00:00+08:00", "2024-10-01T09:00:00+08:00", "2024-10-04T12:00:00+08:00",
		"2024-10-07T09:00:00+08:00", "2024-10-08T08:30:00+08:00", "2024-10-08T09:00:00+08:00"} {
		h.set(at)
		h.run(j)
		n := len(h.smtp.messages())
		if want := map[bool]int{false: 0, true: 1}[strings.HasPrefix(at, "2024-10-08T09")]; n != want {
			t.Fatalf("%s: %d e-mails, want %d", at, n, want)
		}
	}
	m := h.smtp.messages()[0]
	hdr, body := parseMail(t, m.Data)
	if m.To[0] != "duty@d02.example.gov.cn" || !strings.Contains(body, `responsible "ghost" is not in the directory: sent to the department's duty contact`) ||
		!strings.Contains(body, "周值班：") {
		t.Errorf("H3's e-mail to %v:\n%s\n%s", m.To, hdr.Header, body)
	}
	if v := testutil.ToFloat64(j.m.suppressed.WithLabelValues("email")); v != 1 {
		t.Errorf("suppressed e-mails: %v, want 1 (H3, held once however many runs saw it)", v)
	}
	if v := testutil.ToFloat64(j.m.suppressed.WithLabelValues("webhook")); v < 1 {
		t.Errorf("suppressed webhook messages: %v, want H1's at least", v)
	}
}

// Thirty red cases, two replicas running the job at the same moments, a
// gateway that fails the first request of every fifth case (after
// receiving it), then both replicas restarted: every message arrives once
// per Idempotency-Key and Message-ID, and the log holds one sent record
// per delivery.
func TestEachReminderOnceUnderTwoReplicasRetriesAndRestarts(t *testing.T) {
	h := newHarness(t)
	var evs []event.Event
	failing := map[string]bool{}
	for i := 1; i <= 30; i++ {
		id := fmt.Sprintf("X%02d", i)
		evs = append(evs, accepted(id, "D01", "zhang.san", "2024-10-10T10:00:00+08:00", 2, 20))
		if i%5 == 0 {
			failing[id] = true
		}
	}
	h.ingest(evs...)
	h.recv.failFirst = func(m *Message) bool { return failing[m.Item.CaseID] }
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a, b := h.replica("a", regA), h.replica("b", regB)

	h.set("2024-10-15T10:00:00+08:00") // red since midnight
	reps := h.run(a, b)
	t.Logf("10:00: replica a won %d, b won %d", reps[0].Won, reps[1].Won)
	if won := reps[0].Won + reps[1].Won; won != 60 || reps[0].Claimed != 60 || reps[1].Claimed != 60 {
		t.Errorf("10:00: %d and %d claimed, %d won; want 60 each claimed, 60 won in all: %+v", reps[0].Claimed, reps[1].Claimed, won, reps)
	}
	if sent, failed := reps[0].Sent+reps[1].Sent, reps[0].Failed+reps[1].Failed; sent != 54 || failed != 6 {
		t.Errorf("10:00: %d sent, %d failed; want 54 and 6", sent, failed)
	}
	h.advance(30 * time.Minute) // past the first backoff (1m)
	reps = h.run(a, b)
	if sent := reps[0].Sent + reps[1].Sent; sent != 6 {
		t.Errorf("10:30: %d retries sent, want 6: %+v", sent, reps)
	}
	h.advance(30 * time.Minute)
	a2, b2 := h.replica("a", prometheus.NewRegistry()), h.replica("b", prometheus.NewRegistry()) // restarted: empty caches
	for range 2 {
		reps = h.run(a2, b2, a)
		for _, r := range reps {
			if r.Claimed != 0 || r.Sent != 0 {
				t.Errorf("after the restart: %+v, want nothing claimed or sent", r)
			}
		}
		h.advance(30 * time.Minute)
	}

	ok, got, posts, bad := h.recv.snapshot()
	if len(ok) != 30 || len(got) != 30 || posts != 36 || bad != 0 {
		t.Errorf("webhook: %d keys, %d messages, %d posts (want 30, 30, 36: six retried), %d failing verification", len(ok), len(got), posts, bad)
	}
	for k, n := range ok {
		if n != 1 {
			t.Errorf("webhook key %s accepted %d times", k, n)
		}
	}
	ids := map[string]int{}
	for _, m := range h.smtp.messages() {
		hdr, _ := parseMail(t, m.Data)
		ids[hdr.Header.Get("Message-ID")]++
	}
	if len(ids) != 30 || len(h.smtp.messages()) != 30 {
		t.Errorf("e-mail: %d messages with %d Message-IDs, want 30 and 30", len(h.smtp.messages()), len(ids))
	}
	sentA := testutil.ToFloat64(a.m.sent.WithLabelValues("webhook")) + testutil.ToFloat64(b.m.sent.WithLabelValues("webhook"))
	failedA := testutil.ToFloat64(a.m.failed.WithLabelValues("webhook")) + testutil.ToFloat64(b.m.failed.WithLabelValues("webhook"))
	if sentA != 30 || failedA != 6 {
		t.Errorf("metrics: webhook sent %v, failed %v; want 30 and 6", sentA, failedA)
	}
	var deliveries, sentRecs, maxSent, failedRecs uint64
	if err := h.wh.Conn().QueryRow(h.ctx, fmt.Sprintf(`SELECT count(), sum(s), max(s), sum(f) FROM (
    SELECT id, countIf(record = 'sent') AS s, countIf(record = 'failed') AS f FROM %s.reminder_log WHERE record IN ('sent', 'failed') GROUP BY id)`,
		h.wh.Database())).Scan(&deliveries, &sentRecs, &maxSent, &failedRecs); err != nil {
		t.Fatal(err)
	}
	if deliveries != 60 || sentRecs != 60 || maxSent != 1 || failedRecs != 6 {
		t.Errorf("log: %d deliveries, %d sent records (at most %d per delivery), %d failed; want 60, 60, 1, 6", deliveries, sentRecs, maxSent, failedRecs)
	}
	if evs := waitEvents(t, h, 30); len(evs) != 30 {
		t.Errorf("%d reminded events, want one per case:\n%s", len(evs), strings.Join(evs, "\n"))
	}
}

// A replica that claimed an attempt and died without recording its
// outcome: while the claim is younger than the lease nobody touches the
// delivery; after it, the next attempt goes out with the same
// Idempotency-Key, so that a gateway that did get the first copy can drop
// this one (the one window no scheme closes; see the package doc).
func TestAbandonedAttemptIsRetriedWithTheSameKeyAfterTheLease(t *testing.T) {
	h := newHarness(t)
	h.ingest(accepted("Z1", "D01", "li.ming", "2024-10-10T10:00:00+08:00", 2, 20),
		accepted("Z2", "D01", "li.ming", "2024-10-10T10:00:00+08:00", 2, 20))
	j := h.replica("a", prometheus.NewRegistry())
	h.set("2024-10-15T10:00:00+08:00")
	chNow, err := j.serverNow(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	claim := func(caseID string, at time.Time) string {
		id := deliveryID("service", caseID, "", "overdue", 0, 0, "webhook")
		if err := h.wh.WriteReminderRecords(h.ctx, []warehouse.ReminderRecord{{ID: id, Topic: topicID("service", caseID, "", "overdue"),
			Record: warehouse.RecordClaim, Attempt: 1, Kind: "service", CaseID: caseID, Department: "D01", Step: "overdue", Channel: "webhook",
			At: h.clock(), ClaimedAt: at, Nonce: 1, Replica: "crashed"}}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	stale := claim("Z1", chNow.Add(-h.cfg.ClaimLease-time.Minute)) // its replica died long ago
	claim("Z2", chNow)                                             // its replica is sending right now
	h.recv.mu.Lock()
	h.recv.ok[stale] = 1 // the dead replica's message had arrived
	h.recv.mu.Unlock()

	rep := h.run(j)[0]
	if rep.Due != 2 || rep.Claimed != 1 || rep.Sent != 1 {
		t.Errorf("report %+v: want 2 due, Z1 claimed and sent, Z2 left to its claimant", rep)
	}
	ok, got, _, _ := h.recv.snapshot()
	if ok[stale] != 2 || len(got) != 0 {
		t.Errorf("Z1's key arrived %d times (want 2: the receiver de-duplicates by it), %d new keys", ok[stale], len(got))
	}
	var attempt uint16
	if err := h.wh.Conn().QueryRow(h.ctx, fmt.Sprintf("SELECT max(attempt) FROM %s.reminder_log WHERE id = ? AND record = 'sent'", h.wh.Database()),
		stale).Scan(&attempt); err != nil || attempt != 2 {
		t.Errorf("Z1 sent as attempt %d (%v), want 2", attempt, err)
	}
}

func TestAcknowledgeByAPIAndListWhatWasSent(t *testing.T) {
	h := newHarness(t)
	j := h.replica("a", prometheus.NewRegistry())
	h.serve(j)
	h.ingest(accepted("K1", "D01", "zhang.san", "2024-10-10T10:00:00+08:00", 2, 20))
	h.set("2024-10-15T10:00:00+08:00")
	h.run(j)
	call := func(method, path, user, body string) (int, string) {
		req, _ := http.NewRequest(method, h.web.URL+path, strings.NewReader(body))
		if user != "" {
			req.Header.Set("X-Test-User", user)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ack := `{"case_id": "K1", "reminder_id": "rm:overdue"}`
	h.set("2024-10-15T10:20:00+08:00")
	for _, tc := range []struct {
		name, method, path, user, body string
		code                           int
		want                           string
	}{
		{"another department may not", "POST", "/api/v1/reminders/ack", "钱科长/department/D02", ack, 403, "may not acknowledge department D01's reminders"},
		{"an inspector only reads", "POST", "/api/v1/reminders/ack", "张督查/inspector/", ack, 403, "may not acknowledge"},
		{"no such reminder", "POST", "/api/v1/reminders/ack", "王科长/department/D01", `{"case_id": "K1", "reminder_id": "rm:nothing"}`, 404, "no reminder of this item and step was sent"},
		{"bad body", "POST", "/api/v1/reminders/ack", "王科长/department/D01", `{"case": "K1"}`, 400, "want {"},
		{"its department acknowledges", "POST", "/api/v1/reminders/ack", "王科长/department/D01", ack, 200, `"acknowledged_at":"2024-10-15T10:20:00+08:00","already":false`},
		{"twice is once", "POST", "/api/v1/reminders/ack", "", ack, 200, `"acknowledged_at":"2024-10-15T10:20:00+08:00","already":true`},
		{"another department's list", "GET", "/api/v1/reminders?department=D01", "钱科长/department/D02", "", 403, "may see only department D02's reminders"},
		{"its own department's latest", "GET", "/api/v1/reminders?limit=1", "王科长/department/D01", "", 200,
			`{"reminders":[{"record":"ack","kind":"service","case_id":"K1"`},
		{"the case's history", "GET", "/api/v1/reminders?case_id=K1", "王科长/department/D01", "", 200,
			`"record":"ack","kind":"service","case_id":"K1","department":"D01","step":"overdue","repeat":0,"level":"responsible","recipient":"王科长","recipient_name":"王科长","at":"2024-10-15T10:20:00+08:00"`},
	} {
		code, body := call(tc.method, tc.path, tc.user, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s\nwant %d with %s", tc.name, code, body, tc.code, tc.want)
		}
	}
	es, err := j.History(h.ctx, []string{"K1"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, fmt.Sprintf("%s %s %s %s %s", e.At.In(cst).Format("15:04"), e.Record, e.Channel, e.Level, e.RecipientName))
	}
	diffLines(t, "history of K1", got, []string{
		"10:00 sent email responsible 张三",
		"10:00 sent webhook responsible 张三",
		"10:20 ack  responsible 王科长",
	})
	// Acknowledged: no repeat at 14:00, no escalation.
	h.set("2024-10-15T14:00:00+08:00")
	if rep := h.run(j)[0]; rep.Due != 0 || rep.Sent != 0 {
		t.Errorf("after the acknowledgement: %+v", rep)
	}
}
