package lights

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"effidx/event"
	"effidx/warehouse/chtest"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

var cst = time.FixedZone("CST", 8*3600)

func day(d, h int) time.Time { return time.Date(2026, 10, d, h, 0, 0, 0, cst) }

func TestPairMatchesSuspensionsWithTheirResumptions(t *testing.T) {
	tests := []struct {
		name      string
		susp, res []time.Time
		want      string
	}{
		{"none", nil, nil, "[]"},
		{"one closed", []time.Time{day(8, 9)}, []time.Time{day(12, 9)}, "[8-12]"},
		{"one still open", []time.Time{day(8, 9)}, nil, "[8-open]"},
		{"two closed, given out of order", []time.Time{day(20, 9), day(8, 9)}, []time.Time{day(22, 9), day(12, 9)}, "[8-12 20-22]"},
		{"a resumption without a suspension is ignored", []time.Time{day(8, 9)}, []time.Time{day(5, 9), day(12, 9)}, "[8-12]"},
		{"a second suspension inside the first changes nothing", []time.Time{day(8, 9), day(9, 9)}, []time.Time{day(12, 9)}, "[8-12]"},
		{"a resent suspension and resumption count once", []time.Time{day(8, 9), day(8, 9)}, []time.Time{day(12, 9), day(12, 9)}, "[8-12]"},
		{"closed then open", []time.Time{day(8, 9), day(14, 9)}, []time.Time{day(12, 9)}, "[8-12 14-open]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var parts []string
			for _, iv := range pair(tt.susp, tt.res) {
				to := "open"
				if !iv.To.IsZero() {
					to = fmt.Sprint(iv.To.Day())
				}
				parts = append(parts, fmt.Sprintf("%d-%s", iv.From.Day(), to))
			}
			if got := "[" + strings.Join(parts, " ") + "]"; got != tt.want {
				t.Fatalf("pair = %s, want %s", got, tt.want)
			}
		})
	}
}

type ev = event.Event

func mk(id string, kind event.Kind, caseID string, typ event.Type, at time.Time, dept string, f func(*ev)) event.Stored {
	e := event.NewEvent()
	e.ID, e.Kind, e.CaseID, e.Type, e.At, e.Department = id, kind, caseID, typ, at, dept
	if f != nil {
		f(&e)
	}
	return event.Stored{Event: e, ReceivedAt: at.Add(time.Minute), Source: "test"}
}

// scenario is a small city: open, completed, withdrawn and suspended cases,
// steps, a task with milestones; given partly out of order.
func scenario() []event.Stored {
	svc, task := event.KindService, event.KindTask
	accepted := func(promised, legal int32) func(*ev) {
		return func(e *ev) { e.PromisedDays, e.LegalDays, e.Matter, e.Responsible = promised, legal, "M1", "张三" }
	}
	step := func(id string, limit int32) func(*ev) { return func(e *ev) { e.Step, e.LimitDays = id, limit } }
	due := func(id string, d time.Time) func(*ev) {
		return func(e *ev) { e.Step, e.Due = id, time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC) }
	}
	return []event.Stored{
		// A: open, suspended twice, the second still open; completed events of
		// other cases arrive first (out of order).
		mk("b3", svc, "B", event.TypeCompleted, day(9, 16), "D02", nil),
		mk("a4", svc, "A", event.TypeSuspended, day(14, 9), "D01", nil),
		mk("a1", svc, "A", event.TypeAccepted, day(5, 10), "D01", accepted(5, 20)),
		mk("a2", svc, "A", event.TypeSuspended, day(8, 9), "D01", nil),
		mk("a3", svc, "A", event.TypeResumed, day(12, 9), "D01", nil),
		// B: completed, so not open.
		mk("b1", svc, "B", event.TypeAccepted, day(6, 10), "D02", accepted(3, 10)),
		// C: open with one open and one finished step in other departments.
		mk("c1", event.KindInternal, "C", event.TypeAccepted, day(7, 10), "D03", accepted(2, -1)),
		mk("c2", event.KindInternal, "C", event.TypeStepStarted, day(7, 11), "D04", step("s1", 1)),
		mk("c3", event.KindInternal, "C", event.TypeStepStarted, day(7, 11), "D05", step("s2", 3)),
		mk("c4", event.KindInternal, "C", event.TypeStepFinished, day(8, 11), "D05", step("s2", -1)),
		// B's step is not open because B is completed.
		mk("b2", svc, "B", event.TypeStepStarted, day(6, 11), "D06", step("s1", 1)),
		// T: an open task with one open and one met milestone.
		mk("t1", task, "T", event.TypeAccepted, day(1, 9), "D07", due("", day(31, 0))),
		mk("t2", task, "T", event.TypeMilestoneDue, day(1, 9), "D07", due("m1", day(15, 0))),
		mk("t3", task, "T", event.TypeMilestoneDue, day(1, 9), "D07", due("m2", day(20, 0))),
		mk("t4", task, "T", event.TypeMilestoneMet, day(18, 9), "D07", due("m2", time.Time{})),
		// W: withdrawn, not open; R: accepted without a limit is still open.
		mk("w1", svc, "W", event.TypeAccepted, day(6, 10), "D08", accepted(3, 10)),
		mk("w2", svc, "W", event.TypeWithdrawn, day(6, 12), "D08", nil),
		mk("r1", event.KindTicket, "R", event.TypeAccepted, day(6, 10), "D09", nil),
	}
}

func TestLoadFindsEveryOpenItemWhateverTheArrivalOrder(t *testing.T) {
	wh := chtest.Warehouse(t)
	ctx := context.Background()
	evs := scenario()
	// Everything twice, the second copy received later: nothing doubles.
	resent := append([]event.Stored(nil), evs...)
	for i := range resent {
		resent[i].ReceivedAt = resent[i].ReceivedAt.Add(time.Hour)
	}
	for _, b := range [][]event.Stored{evs, resent} {
		if err := wh.WriteBatch(ctx, &event.Batch{Events: b}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := Load(ctx, wh.Conn(), wh.Database())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		s := fmt.Sprintf("%s %s/%s %s start=%s p=%d l=%d", it.Kind, it.CaseID, it.Sub, it.Department, it.Start.In(cst).Format("01-02T15"), it.Promised, it.Legal)
		if !it.DueDate.IsZero() {
			s += " due=" + it.DueDate.Format("01-02")
		}
		for _, iv := range it.Suspensions {
			to := "open"
			if !iv.To.IsZero() {
				to = iv.To.In(cst).Format("01-02")
			}
			s += fmt.Sprintf(" susp=%s..%s", iv.From.In(cst).Format("01-02"), to)
		}
		if it.Responsible != "" {
			s += " resp=" + it.Responsible
		}
		got = append(got, s)
	}
	sort.Strings(got)
	want := []string{
		"internal C/ D03 start=10-07T10 p=2 l=-1 resp=张三",
		"milestone T/m1 D07 start=10-01T09 p=-1 l=-1 due=10-15",
		"service A/ D01 start=10-05T10 p=5 l=20 susp=10-08..10-12 susp=10-14..open resp=张三",
		"step C/s1 D04 start=10-07T11 p=1 l=-1",
		"task T/ D07 start=10-01T09 p=-1 l=-1 due=10-31",
		"ticket R/ D09 start=10-06T10 p=-1 l=-1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("open items:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
