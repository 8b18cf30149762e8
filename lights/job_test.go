package lights

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"effidx/access"
	"effidx/event"
	"effidx/rules"
	"effidx/warehouse"
	"effidx/warehouse/chtest"
)

func newJob(t *testing.T, wh *warehouse.Warehouse, now time.Time) (*Job, *prometheus.Registry) {
	t.Helper()
	cal, err := rules.DefaultCalendar()
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	judge := &RulesJudge{Calendar: func() (*rules.Calendar, error) { return cal, nil }, Rules: rules.DefaultLightRules()}
	j := NewJob(wh, judge, DefaultConfig(), reg, slog.New(slog.DiscardHandler))
	j.now = func() time.Time { return now }
	return j, reg
}

func lightsOf(j *Job) []string {
	snap, _ := j.Snapshot()
	var out []string
	for _, l := range snap {
		out = append(out, fmt.Sprintf("%s %s/%s %s left=%d", l.Kind, l.CaseID, l.Sub, l.Light, l.WorkdaysLeft))
	}
	return out
}

func TestLightsJobJudgesEveryOpenItemAndRecordsWhenItTurned(t *testing.T) {
	wh := chtest.Warehouse(t)
	ctx := context.Background()
	if err := wh.WriteBatch(ctx, &event.Batch{Events: scenario()}); err != nil {
		t.Fatal(err)
	}
	// Friday 2026-10-16 10:00; 10-01..10-07 are National Day, 10-10 (a
	// Saturday) is a working day.
	j, reg := newJob(t, wh, day(16, 10))
	if err := j.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		// Step s1: 1 working day from 10-07 (a holiday) is due 10-08; 7
		// working days late (10-09, 10, 12..16).
		"step C/s1 red left=-7",
		// C: 2 working days from 10-07 → due 10-09.
		"internal C/ red left=-6",
		// Milestone m1 due 10-15 (calendar days).
		"milestone T/m1 red left=-1",
		// A: 5 days from 10-05, +3 for the 10-08..10-12 suspension → due
		// 10-16, but suspended again since 10-14: frozen at 3 of 5 used.
		"service A/ green left=2",
		// T: due 10-31, half its span elapsed.
		"task T/ green left=15",
	}
	if got := lightsOf(j); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lights (worst first):\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	expected := `
# HELP effidx_open_items Open cases, steps, tickets, tasks and milestones by department, kind and light.
# TYPE effidx_open_items gauge
effidx_open_items{department="D01",kind="service",light="green"} 1
effidx_open_items{department="D03",kind="internal",light="red"} 1
effidx_open_items{department="D04",kind="step",light="red"} 1
effidx_open_items{department="D07",kind="milestone",light="red"} 1
effidx_open_items{department="D07",kind="task",light="green"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "effidx_open_items"); err != nil {
		t.Fatal(err)
	}

	changes := func() []string {
		rows, err := wh.Conn().Query(ctx, "SELECT toString(kind), case_id, item, toString(light), toString(since) FROM "+wh.Database()+".light_changes FINAL")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var k, c, i, l, s string
			if err := rows.Scan(&k, &c, &i, &l, &s); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s %s/%s %s %s", k, c, i, l, s))
		}
		sort.Strings(out)
		return out
	}
	wantChanges := []string{
		"internal C/ red 2026-10-10 00:00:00",
		"internal C/ yellow 2026-10-09 00:00:00",
		"milestone T/m1 red 2026-10-16 00:00:00",
		"milestone T/m1 yellow 2026-10-13 00:00:00",
		"step C/s1 red 2026-10-09 00:00:00",
		"step C/s1 yellow 2026-10-08 00:00:00",
	}
	if got := changes(); strings.Join(got, "\n") != strings.Join(wantChanges, "\n") {
		t.Fatalf("light_changes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantChanges, "\n"))
	}

	rec := httptest.NewRecorder()
	j.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/lights?level=red&department=D07", nil))
	var ans APIAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
		t.Fatal(err)
	}
	if ans.Total != 1 || ans.Items[0].CaseID != "T" || ans.Items[0].Item != "m1" || ans.Items[0].Light != "red" || ans.Items[0].Due == nil {
		t.Fatalf("/api/v1/lights?level=red&department=D07 = %s", rec.Body.String())
	}
	rec = httptest.NewRecorder()
	j.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/lights?level=purple", nil))
	if rec.Code != 400 {
		t.Fatalf("a bad level gave %d", rec.Code)
	}
	// Access (SPEC 7): a department user gets its own items, whether it
	// names its department or not, and 403 for another one; a leader
	// gets every department.
	for _, tc := range []struct {
		name  string
		id    access.Identity
		query string
		code  int
		depts string
	}{
		{"a department user sees its own items without asking", access.Identity{Name: "d", Role: access.Department, Department: "D07"}, "", 200, "D07"},
		{"a department user may name its own department", access.Identity{Name: "d", Role: access.Department, Department: "D07"}, "&department=D07", 200, "D07"},
		{"a department user is refused another department", access.Identity{Name: "d", Role: access.Department, Department: "D07"}, "&department=D03", 403, ""},
		{"a leader sees every department", access.Identity{Name: "l", Role: access.Leader}, "", 200, "D01 D03 D04 D07"},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/api/v1/lights?level=green"+tc.query, nil)
		j.ServeHTTP(rec, req.WithContext(access.WithIdentity(req.Context(), tc.id)))
		if rec.Code != tc.code {
			t.Fatalf("%s: %d %s", tc.name, rec.Code, rec.Body.String())
		}
		if tc.code != 200 {
			continue
		}
		var ans APIAnswer
		if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, it := range ans.Items {
			seen[it.Department] = true
		}
		var depts []string
		for d := range seen {
			depts = append(depts, d)
		}
		sort.Strings(depts)
		if strings.Join(depts, " ") != tc.depts {
			t.Fatalf("%s: departments %v, want %s", tc.name, depts, tc.depts)
		}
	}

	// C's completion arrives late: C and its open step drop out at the next
	// (incremental) run, the recorded changes stay, and a second job
	// (another replica, or after a restart) records nothing twice.
	done := mk("c9", event.KindInternal, "C", event.TypeCompleted, day(12, 15), "D03", nil)
	done.ReceivedAt = time.Now()
	if err := wh.WriteBatch(ctx, &event.Batch{Events: []event.Stored{done}}); err != nil {
		t.Fatal(err)
	}
	if err := j.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := lightsOf(j); len(got) != 3 || strings.Contains(strings.Join(got, " "), "C/") {
		t.Fatalf("after C completed, incremental run: %v", got)
	}
	if j.dead != 2 {
		t.Fatalf("%d items marked dead, want C and its step", j.dead)
	}
	j2, reg2 := newJob(t, wh, day(16, 11))
	if err := j2.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := lightsOf(j2); len(got) != 3 || strings.Contains(strings.Join(got, " "), "C/") {
		t.Fatalf("after C completed: %v", got)
	}
	if n, err := testutil.GatherAndCount(reg2, "effidx_open_items"); err != nil || n != 3 {
		t.Fatalf("effidx_open_items has %d series (%v), want 3", n, err)
	}
	if got := changes(); len(got) != len(wantChanges) {
		t.Fatalf("light_changes after a second job: %v", got)
	}
	var raw uint64
	if err := wh.Conn().QueryRow(ctx, "SELECT count() FROM "+wh.Database()+".light_changes").Scan(&raw); err != nil || raw != uint64(len(wantChanges)) {
		t.Fatalf("light_changes holds %d raw rows (%v): the restarted job wrote again", raw, err)
	}
}

func TestSuspensionReportedLateTurnsARedCaseBackToGreen(t *testing.T) {
	wh := chtest.Warehouse(t)
	ctx := context.Background()
	acc := mk("x1", event.KindService, "X", event.TypeAccepted, day(8, 9), "D01", func(e *ev) { e.PromisedDays, e.LegalDays = 2, 2 })
	if err := wh.WriteBatch(ctx, &event.Batch{Events: []event.Stored{acc}}); err != nil {
		t.Fatal(err)
	}
	// Due 10-10 (the working Saturday); on 10-13 it is red and legally overdue.
	j, _ := newJob(t, wh, day(13, 10))
	if err := j.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	snap, _ := j.Snapshot()
	if len(snap) != 1 || snap[0].Light != Red || !snap[0].LegalOverdue {
		t.Fatalf("before the suspension is known: %+v", snap)
	}
	// The source reports late that the case was suspended on 10-09 (a
	// correction request still open): the clock stopped with 1 of 2 days used.
	susp := mk("x2", event.KindService, "X", event.TypeSuspended, day(9, 9), "D01", nil)
	susp.ReceivedAt = time.Now() // reported now: the next run re-derives case X only
	if err := wh.WriteBatch(ctx, &event.Batch{Events: []event.Stored{susp}}); err != nil {
		t.Fatal(err)
	}
	if err := j.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	snap, _ = j.Snapshot()
	if len(snap) != 1 || snap[0].Light != Green || snap[0].LegalOverdue {
		t.Fatalf("after the late suspension: %+v", snap)
	}
}
