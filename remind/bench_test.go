package remind

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"effidx/lights"
	"effidx/rules"
)

// litSource is a fixed set of judged items (the lights job's snapshot
// without ClickHouse), for measuring the walk over them.
type litSource []lights.Lit

func (s litSource) Each(fn func(lights.Lit) bool) time.Time {
	for _, l := range s {
		if !fn(l) {
			break
		}
	}
	return time.Unix(1, 0)
}

// BenchmarkTopicsOfAMillionItems is the part of a run that walks every
// open item each minute: matching rules and finding each item's step.
func BenchmarkTopicsOfAMillionItems(b *testing.B) {
	cal, err := rules.DefaultCalendar()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2024, 10, 15, 10, 0, 0, 0, cst)
	judge := &lights.RulesJudge{Calendar: func() (*rules.Calendar, error) { return cal, nil }, Rules: rules.DefaultLightRules()}
	if _, err := judge.Begin(); err != nil {
		b.Fatal(err)
	}
	items := make([]lights.Item, 1_000_000)
	src := make(litSource, 0, len(items))
	lightsSeen := map[string]int{}
	for i := range items {
		it := &items[i]
		*it = lights.Item{Kind: "service", CaseID: fmt.Sprintf("C%07d", i), Department: fmt.Sprintf("D%02d", i%40), Matter: fmt.Sprintf("M%03d", i%300),
			Responsible: "zhang.san", Start: now.Add(-time.Duration(i%(30*24)) * time.Hour), Promised: 5 + i%16, Legal: 20}
		v, ok := judge.Judge(it, now)
		if !ok {
			b.Fatal("no light")
		}
		lightsSeen[v.Light]++
		src = append(src, lights.Lit{Item: it, Verdict: v})
	}
	j := &Job{src: src, rules: rules.DefaultReminderRules(), matched: map[[3]string]*rules.ReminderRule{}, log: slog.New(slog.DiscardHandler),
		topics: map[topicKey]*topicState{}, acked: map[topicKey]time.Time{}}
	work, _ := j.walk(cal, now)
	// The steady state: every topic's first reminder went out, its next
	// repeat or escalation is later.
	for _, st := range j.topics {
		st.first, st.nextAt = now.Add(-time.Hour), now.Add(time.Hour)
	}
	b.ResetTimer()
	var n int
	for range b.N {
		w, _ := j.walk(cal, now)
		n = len(w)
	}
	b.ReportMetric(float64(len(j.topics)), "topics")
	b.ReportMetric(float64(n), "work")
	b.Logf("lights %v: %d items with a step in force, %d looked at after the first run", lightsSeen, len(work), n)
}
