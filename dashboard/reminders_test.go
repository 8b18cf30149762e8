package dashboard

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"effidx/lights"
	"effidx/remind"
	"effidx/rules"
	"effidx/warehouse"
)

// The lights page and the self-portrait show what was sent about an item,
// to whom and when, and whether it was acknowledged, from the reminder log.
func TestPagesShowRemindersSentAndAcknowledged(t *testing.T) {
	c := newCity(t)
	items, _ := c.lights.Snapshot()
	var it *lights.Lit
	for i := range items {
		if items[i].Department == "D01" && items[i].Light == lights.Red && items[i].Sub == "" {
			it = &items[i]
			break
		}
	}
	if it == nil {
		t.Fatal("no red case of D01 in the simulated city")
	}
	dir, err := remind.ParseDirectory("directory.yaml", []byte(`departments:
  - {id: D01, name: 一局, section_head: wang, leader: zhao, webhook: "http://127.0.0.1:1/hook"}
people:
  - {id: zhang, name: 张三, department: D01, email: zhang@example.gov.cn}
  - {id: wang, name: 王科长, department: D01}
  - {id: zhao, name: 赵局长, department: D01}
`))
	if err != nil {
		t.Fatal(err)
	}
	cal, _ := rules.DefaultCalendar()
	rj, err := remind.New(remind.DefaultConfig(), remind.Options{Warehouse: c.wh, Lights: c.lights, Directory: dir, Rules: rules.DefaultReminderRules(),
		Calendar: func() (*rules.Calendar, error) { return cal, nil }, Registerer: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, _ := time.Parse(time.RFC3339, s)
		return v
	}
	rec := func(record, channel, name string, level, repeat int, when, rid string) warehouse.ReminderRecord {
		return warehouse.ReminderRecord{ID: record + channel + name, Topic: "t", Record: record, Attempt: 1, Kind: it.Kind, CaseID: it.CaseID,
			Department: "D01", Step: "overdue", Repeat: repeat, Level: level, ReminderID: rid, Channel: channel, RecipientName: name, At: at(when)}
	}
	if err := c.wh.WriteReminderRecords(t.Context(), []warehouse.ReminderRecord{
		rec("sent", "webhook", "张三", 0, 0, "2026-10-09T09:00:00+08:00", "rm:overdue"),
		rec("sent", "email", "张三", 0, 0, "2026-10-09T09:00:00+08:00", "rm:overdue"),
		rec("failed", "webhook", "王科长", 1, 0, "2026-10-09T13:00:00+08:00", "rm:overdue"),
		rec("ack", "", "张三", 0, 0, "2026-10-09T14:30:00+08:00", ""),
	}); err != nil {
		t.Fatal(err)
	}
	srv, err := New(DefaultConfig(), Options{API: c.api, Lights: c.lights, Auth: c.auth.Middleware, Log: slog.New(slog.DiscardHandler), Reminders: rj})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(func(pattern string, h http.Handler) { mux.Handle(pattern, h) })
	c.h = mux

	w := c.get(t, "/lights?department=D01&level=all&case="+it.CaseID, leaderToken)
	page := w.Body.String()
	summary := "10-09 09:00 催办→张三（email、webhook）；10-09 13:00 升级→王科长 发送失败；✓ 张三 10-09 14:30 已确认"
	if w.Code != http.StatusOK || !strings.Contains(page, "<th>提醒与催办</th>") || !strings.Contains(page, summary) {
		t.Errorf("lights page of case %s (%d) lacks the reminders %q:\n%s", it.CaseID, w.Code, summary, page)
	}
	if n := strings.Count(page, `<tr><td><span class="light`); n < 1 || strings.Count(page, it.CaseID) < n {
		t.Errorf("the case filter shows %d rows, not only case %s", n, it.CaseID)
	}
	w = c.get(t, "/departments/D01?period=2026-09", deptToken)
	page = w.Body.String()
	for _, want := range []string{"最近的提醒与催办", "<td>2026-10-09 14:30</td>", "<td>确认</td><td>张三</td>", "<td>升级</td><td>王科长</td><td>webhook</td><td>发送失败</td>"} {
		if w.Code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("self-portrait (%d) lacks %q", w.Code, want)
		}
	}
}
