package lights

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"effidx/event"
	"effidx/warehouse/chtest"
)

// describe renders items in a stable order, names included.
func describe(items []Item) string {
	var out []string
	for _, it := range items {
		s := fmt.Sprintf("%s %s/%s %s %s resp=%s start=%s p=%d l=%d", it.Kind, it.CaseID, it.Sub, it.Department, it.Matter,
			it.Responsible, it.Start.In(cst).Format("01-02T15"), it.Promised, it.Legal)
		for _, iv := range it.Suspensions {
			to := "open"
			if !iv.To.IsZero() {
				to = iv.To.In(cst).Format("01-02")
			}
			s += fmt.Sprintf(" susp=%s..%s", iv.From.In(cst).Format("01-02"), to)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// collect streams from src into one slice.
func collect(t *testing.T, src *source, since time.Time) []Item {
	t.Helper()
	var mu sync.Mutex
	var items []Item
	if err := src.stream(context.Background(), since, func(c []Item) {
		mu.Lock()
		items = append(items, c...)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return items
}

func TestANameNewSinceTheLastReadIsLookedUp(t *testing.T) {
	wh := chtest.Warehouse(t)
	ctx := context.Background()
	named := func(matter, resp string) func(*ev) {
		return func(e *ev) { e.PromisedDays, e.LegalDays, e.Matter, e.Responsible = 5, 20, matter, resp }
	}
	first := mk("o1", event.KindService, "O", event.TypeAccepted, day(8, 10), "D01", named("M1", "张三"))
	if err := wh.WriteBatch(ctx, &event.Batch{Events: []event.Stored{first}}); err != nil {
		t.Fatal(err)
	}
	src := newSource(wh.Conn(), wh.Database())
	collect(t, src, time.Time{}) // reads the name tables
	later := []event.Stored{
		mk("n1", event.KindService, "N", event.TypeAccepted, day(9, 10), "D-NEW", named("M-NEW", "新人")),
		mk("p1", event.KindService, "P", event.TypeAccepted, day(9, 11), "D01", named("M1", "")),
		mk("p2", event.KindService, "P", event.TypeSuspended, day(10, 9), "D01", named("", "李四")),
	}
	if err := wh.WriteBatch(ctx, &event.Batch{Events: later}); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"service N/ D-NEW M-NEW resp=新人 start=10-09T10 p=5 l=20",
		"service O/ D01 M1 resp=张三 start=10-08T10 p=5 l=20",
		"service P/ D01 M1 resp=李四 start=10-09T11 p=5 l=20 susp=10-10..open",
	}, "\n")
	if got := describe(collect(t, src, time.Time{})); got != want {
		t.Fatalf("items:\n%s\nwant\n%s", got, want)
	}
}

func TestACaseWhoseNamesNoTableResolvesIsDerivedAgainByName(t *testing.T) {
	wh := chtest.Warehouse(t)
	ctx := context.Background()
	evs := []event.Stored{
		mk("o1", event.KindService, "O", event.TypeAccepted, day(8, 10), "D01", func(e *ev) {
			e.PromisedDays, e.LegalDays, e.Matter, e.Responsible = 5, -1, "M1", "张三"
		}),
		mk("o2", event.KindService, "O", event.TypeSuspended, day(9, 10), "D01", nil),
		mk("o3", event.KindService, "O", event.TypeResumed, day(12, 10), "D01", nil),
	}
	if err := wh.WriteBatch(ctx, &event.Batch{Events: evs}); err != nil {
		t.Fatal(err)
	}
	// As if the event had been replaced by another version between the
	// cases query and the name tables' read: its hashes match no name.
	src := newSource(wh.Conn(), wh.Database())
	var got []Item
	err := src.resolve(ctx, []pending{{it: Item{Kind: "service", CaseID: "O"}, dm: 1, person: 2}}, func(c []Item) { got = append(got, c...) })
	if err != nil {
		t.Fatal(err)
	}
	want := "service O/ D01 M1 resp=张三 start=10-08T10 p=5 l=-1 susp=10-09..10-12"
	if describe(got) != want {
		t.Fatalf("items:\n%s\nwant\n%s", describe(got), want)
	}
}

func TestRecordedRemembersEveryLightAcrossGrowth(t *testing.T) {
	tests := []struct {
		name string
		adds map[uint64][]uint8
	}{
		{"empty", nil},
		{"hash 0 is a key like any other", map[uint64][]uint8{0: {1}, 1: {2}}},
		{"lights add up", map[uint64][]uint8{42: {1, 2, 4}}},
		{"colliding slots", map[uint64][]uint8{5: {1}, 5 + 1<<10: {2}, 5 + 2<<10: {4}, 6: {1}}},
	}
	many := map[uint64][]uint8{}
	for i := range 5000 {
		many[rand.Uint64()] = []uint8{uint8(1 << (i % 3))}
	}
	tests = append(tests, struct {
		name string
		adds map[uint64][]uint8
	}{"5000 keys, grown from the smallest table", many})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecorded(0)
			for h, bits := range tt.adds {
				for _, b := range bits {
					r.add(h, b)
				}
			}
			for h, bits := range tt.adds {
				var want uint8
				for _, b := range bits {
					want |= b
				}
				if got := r.get(h); got != want {
					t.Fatalf("get(%d) = %b, want %b", h, got, want)
				}
			}
			if _, ok := tt.adds[7777]; !ok && r.get(7777) != 0 {
				t.Fatalf("get of a key never added = %b", r.get(7777))
			}
		})
	}
}

func TestSortOrderPutsTheWorstFirstAndKeepsTiesInPlace(t *testing.T) {
	v := func(level int8, legal bool, left int) uint64 {
		return sortKey(&Verdict{level: level, LegalOverdue: legal, WorkdaysLeft: left})
	}
	tests := []struct {
		name string
		keys [][]uint64
		want []int32
	}{
		{"nothing", [][]uint64{{0, 0}}, []int32{}},
		{
			"light, then legally overdue, then working days left; empty slots left out",
			[][]uint64{{v(0, false, 3), 0, v(2, false, -1), v(1, false, 0)}, {v(2, true, -1), v(2, false, -5), v(0, false, -2)}},
			[]int32{1<<chunkBits | 0, 1<<chunkBits | 1, 2, 3, 1<<chunkBits | 2, 0},
		},
		{"ties keep the place order", [][]uint64{{v(1, false, 2), v(1, false, 2)}, {v(1, false, 2)}}, []int32{0, 1, 1 << chunkBits}},
		{
			"a span of days too wide to count falls back to sorting",
			[][]uint64{{v(0, false, 1<<30), v(0, false, -(1 << 30)), v(2, false, 0), v(0, false, 1<<30)}},
			[]int32{2, 1, 0, 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sortOrder(tt.keys); !slices.Equal(got, tt.want) {
				t.Fatalf("sortOrder = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVerdictsComeBackFromTheSnapshotExactly(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	due := time.Date(2026, 10, 16, 23, 59, 59, 0, shanghai)
	tests := []struct {
		name   string
		v      Verdict
		packed bool
	}{
		{"instants in the zone, whole seconds", Verdict{Light: Red, LegalOverdue: true, Due: due, LegalDue: due.AddDate(0, 0, 3),
			WorkdaysLeft: -3, YellowSince: due.Add(-47*time.Hour - 59*time.Minute - 59*time.Second), RedSince: due.Add(time.Second), level: 2}, true},
		{"no instants", Verdict{Light: Green, WorkdaysLeft: 4, Provisional: true}, true},
		{"an instant with nanoseconds", Verdict{Light: Yellow, Due: due.Add(time.Nanosecond), level: 1}, false},
		{"instants in two zones", Verdict{Light: Yellow, Due: due, LegalDue: due.UTC(), level: 1}, false},
		{"an instant with a monotonic reading", Verdict{Light: Green, Due: time.Now()}, false},
		{"a light that is not a level's", Verdict{Light: "blue"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var loc *time.Location
			p, ok := pack(&tt.v, &loc)
			if ok != tt.packed {
				t.Fatalf("packed = %v, want %v", ok, tt.packed)
			}
			s := &snapshot{items: [][]Item{{{CaseID: "X"}}}, chunks: []*judgedChunk{{v: []verdict{p}, loc: loc}}, exact: map[int32]Verdict{}}
			if !ok {
				s.exact[0] = tt.v
			}
			if got := s.lit(0); got.Verdict != tt.v || got.CaseID != "X" {
				t.Fatalf("lit = %+v, want %+v", got.Verdict, tt.v)
			}
		})
	}
}

func TestTheCasesQueryAgreesWithTheOneThatSendsNames(t *testing.T) {
	wh := chtest.Warehouse(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []event.Kind{event.KindService, event.KindInternal, event.KindScenario, event.KindTicket}
	limits := []int32{-1, 0, 1, 5, 20, 1 << 20, math.MaxInt32}
	people := []string{"", "", "张三", "李四", "王五"}
	var evs []event.Stored
	n := 0
	add := func(kind event.Kind, caseID string, typ event.Type, at time.Time, f func(*ev)) {
		n++
		e := mk(fmt.Sprintf("e%d", n), kind, caseID, typ, at, fmt.Sprintf("D%02d", rng.IntN(5)), f)
		evs = append(evs, e)
		if rng.IntN(5) == 0 { // resent later: collapses
			e.ReceivedAt = e.ReceivedAt.Add(time.Hour)
			evs = append(evs, e)
		}
	}
	for c := range 400 {
		kind, id := kinds[rng.IntN(len(kinds))], fmt.Sprintf("C%03d", c)
		if c%50 == 0 {
			id = "C000" // one id shared by cases of several kinds
		}
		// Distinct instants: argMin of equal instants may pick either.
		at := day(1, 0).Add(time.Duration(c*1000+rng.IntN(100)) * time.Minute)
		step := func() time.Time { at = at.Add(time.Duration(1+rng.IntN(3000)) * time.Minute); return at }
		for range 1 + rng.IntN(2) { // a second acceptance comes later and must lose
			add(kind, id, event.TypeAccepted, step(), func(e *ev) {
				e.Matter, e.Responsible = fmt.Sprintf("M%d", rng.IntN(4)), people[rng.IntN(len(people))]
				e.PromisedDays, e.LegalDays = limits[rng.IntN(len(limits))], limits[rng.IntN(len(limits))]
			})
		}
		for range rng.IntN(4) {
			typ := []event.Type{event.TypeSuspended, event.TypeResumed, event.TypeStepStarted, event.TypeRated}[rng.IntN(4)]
			add(kind, id, typ, step(), func(e *ev) { e.Responsible = people[rng.IntN(len(people))] })
		}
		if rng.IntN(4) == 0 {
			add(kind, id, []event.Type{event.TypeCompleted, event.TypeRejected, event.TypeWithdrawn}[rng.IntN(3)], step(), nil)
		}
	}
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	for len(evs) > 0 { // several inserts, several parts: out of order
		k := min(len(evs), 500)
		if err := wh.WriteBatch(ctx, &event.Batch{Events: evs[:k]}); err != nil {
			t.Fatal(err)
		}
		evs = evs[k:]
	}
	exact := func(items []Item) string {
		var out []string
		for _, it := range items {
			if it.Sub != "" || it.Kind == "task" {
				continue // steps and tasks: the same query either way
			}
			s := fmt.Sprintf("%s %s %q %q %q %d %d %d", it.Kind, it.CaseID, it.Department, it.Matter, it.Responsible, it.Start.Unix(), it.Promised, it.Legal)
			for _, iv := range it.Suspensions {
				s += fmt.Sprintf(" %d-%d", iv.From.Unix(), iv.To.Unix())
			}
			out = append(out, s)
		}
		sort.Strings(out)
		return strings.Join(out, "\n")
	}
	fast := exact(collect(t, newSource(wh.Conn(), wh.Database()), time.Time{}))
	var named []Item
	src := newSource(wh.Conn(), wh.Database())
	if err := src.rowWise(ctx, "cases by name", fmt.Sprintf(casesByNameSQL, wh.Database(), ""), nil, scanCase, func(c []Item) { named = append(named, c...) }); err != nil {
		t.Fatal(err)
	}
	if want := exact(named); fast != want {
		t.Fatalf("casesSQL:\n%s\ncasesByNameSQL:\n%s", fast, want)
	}
	if got := strings.Count(fast, "\n") + 1; got < 200 {
		t.Fatalf("only %d open cases: the data tests little", got)
	}
}
