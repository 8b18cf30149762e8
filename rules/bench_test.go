package rules

import (
	"testing"
	"time"
)

// BenchmarkDue is the hot path of the lights and index jobs: a due instant
// from an acceptance instant, no suspensions. Reports due computations/s.
func BenchmarkDue(b *testing.B) {
	c := defaultCal(b)
	starts := make([]time.Time, 1024)
	base := at(b, "2019-01-01T09:30:00+08:00")
	for i := range starts {
		starts[i] = base.Add(time.Duration(i) * 67 * time.Hour) // 2019..2026, all hours
	}
	b.ReportAllocs()
	b.ResetTimer()
	var sink Deadline
	for i := 0; i < b.N; i++ {
		sink = c.Due(starts[i&1023], i%21, nil)
	}
	_ = sink
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "dues/s")
}

// BenchmarkDueSuspended adds two closed suspensions (merged and summed).
func BenchmarkDueSuspended(b *testing.B) {
	c := defaultCal(b)
	acc := at(b, "2024-09-27T10:00:00+08:00")
	susp := []Suspension{
		{at(b, "2024-09-30T15:00:00+08:00"), at(b, "2024-10-08T09:00:00+08:00")},
		{at(b, "2024-10-10T15:00:00+08:00"), at(b, "2024-10-14T09:00:00+08:00")},
	}
	b.ReportAllocs()
	b.ResetTimer()
	var sink Deadline
	for i := 0; i < b.N; i++ {
		sink = c.Due(acc, i%21, susp)
	}
	_ = sink
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "dues/s")
}

// BenchmarkDueProvisional reaches into 2027 (no data): the weekday closed
// form and the provisional flag, logged once.
func BenchmarkDueProvisional(b *testing.B) {
	c := defaultCal(b)
	acc := at(b, "2026-12-24T10:00:00+08:00")
	b.ReportAllocs()
	b.ResetTimer()
	var sink Deadline
	for i := 0; i < b.N; i++ {
		sink = c.Due(acc, 6+i%21, nil) // 6 days end on 2027-01-01
	}
	if !sink.Provisional {
		b.Fatal("not provisional")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "dues/s")
}

func BenchmarkWD(b *testing.B) {
	c := defaultCal(b)
	b.ReportAllocs()
	sink := 0
	lo := NewDate(2007, 1, 1)
	for i := 0; i < b.N; i++ {
		sink += c.WD(lo + Date(i&8191))
	}
	_ = sink
}

func BenchmarkCaseLight(b *testing.B) {
	c := defaultCal(b)
	r := DefaultLightRules().Cases
	acc := at(b, "2024-09-27T10:00:00+08:00")
	now := at(b, "2024-10-09T10:00:00+08:00")
	b.ReportAllocs()
	b.ResetTimer()
	var sink Status
	for i := 0; i < b.N; i++ {
		sink = c.CaseLight(r, now, acc, 5, 20, nil)
	}
	_ = sink
}

// TestDueDoesNotAllocate keeps the benchmark's promise in the normal test
// run.
func TestDueDoesNotAllocate(t *testing.T) {
	c := defaultCal(t)
	acc := at(t, "2024-09-27T10:00:00+08:00")
	susp := []Suspension{{at(t, "2024-09-30T15:00:00+08:00"), at(t, "2024-10-08T09:00:00+08:00")}}
	now := at(t, "2024-10-09T10:00:00+08:00")
	r := DefaultLightRules().Cases
	for name, f := range map[string]func(){
		"Due":       func() { c.Due(acc, 5, nil) },
		"Due+susp":  func() { c.Due(acc, 5, susp) },
		"WD":        func() { c.WD(NewDate(2024, 10, 1)) },
		"Outcome":   func() { c.Outcome(acc, now, 5, susp) },
		"CaseLight": func() { c.CaseLight(r, now, acc, 5, 20, susp) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per call", name, n)
		}
	}
}
