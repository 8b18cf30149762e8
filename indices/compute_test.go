package indices

import (
	"bytes"
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"effidx/rules"
	"effidx/simulate"
	"effidx/warehouse/chtest"
)

func TestComputeOnASimulatedCityLandsNearItsCalibration(t *testing.T) {
	wh := chtest.Warehouse(t)
	cfg := simulate.DefaultConfig()
	cfg.Days, cfg.CasesPerDay, cfg.MalformedShare = 60, 300, 0
	n := chtest.LoadSimulated(t, wh, cfg)
	cat, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	cal, err := rules.DefaultCalendar()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePeriod("2026-08")
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, cal.Location())
	res, st, err := NewComputer(wh, cat).ComputeStats(context.Background(), cal, p, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events, %d results, %+v", n, len(res), st)
	// The simulator is calibrated to the city-wide figures of its model
	// (simulate's doc); the computation must land near them.
	near := map[string][2]float64{
		"S1.1": {0.93, 0.99}, "S2.1": {0.25, 0.40}, "S2.2": {0.78, 0.90}, "S3.2": {0.45, 0.60},
		"S4.1": {0.65, 0.80}, "S5.1": {0.93, 0.99}, "E5.1": {0.99, 1}, "E5.3": {1, 1},
	}
	type sum struct{ num, den float64 }
	sums := map[[2]string]sum{}
	for _, r := range res {
		k := [2]string{r.SubjectType, r.Indicator}
		sums[k] = sum{sums[k].num + r.Numerator, sums[k].den + r.Denominator}
		if r.SubjectType != SubjectCity {
			continue
		}
		if r.Indicator != "E2.2" && math.IsNaN(r.Value) { // no light changes were written
			t.Errorf("city %s is n/a on a month of a simulated city", r.Indicator)
		}
		if w, ok := near[r.Indicator]; ok && (r.Value < w[0] || r.Value > w[1]) {
			t.Errorf("city %s = %.4f, want within %v", r.Indicator, r.Value, w)
		}
	}
	// Departments add up to the city, and so do regions except where
	// regions are n/a.
	for k, city := range sums {
		if k[0] != SubjectCity {
			continue
		}
		for _, typ := range []string{SubjectDepartment, SubjectRegion} {
			got := sums[[2]string{typ, k[1]}]
			if typ == SubjectRegion && (k[1] == "E2.2" || k[1] == "E5.3") {
				if got != (sum{}) {
					t.Errorf("%s has region results", k[1])
				}
				continue
			}
			// Simulated tasks (and their reminders and events) carry no
			// region: there regions add up to less than the city.
			if typ == SubjectRegion && (strings.HasPrefix(k[1], "E1") || strings.HasPrefix(k[1], "E2") || strings.HasPrefix(k[1], "E5")) {
				if got.den > city.den || got.num > city.num {
					t.Errorf("%s: regions add up to more than the city: %v/%v > %v/%v", k[1], got.num, got.den, city.num, city.den)
				}
				continue
			}
			if math.Abs(got.num-city.num) > 1e-6 || math.Abs(got.den-city.den) > 1e-6 {
				t.Errorf("%s: %ss add up to %v/%v, the city is %v/%v", k[1], typ, got.num, got.den, city.num, city.den)
			}
		}
	}
}

func TestEveryComputedIndicatorOfTheCatalogHasAComputation(t *testing.T) {
	cat, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckComputable(cat); err != nil {
		t.Fatalf("default catalog: %v", err)
	}
	b, err := os.ReadFile("testdata/minimal.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// A query name no computation has (mean_minutes) loads as a catalog
	// but cannot be computed.
	cat, err = Parse("t.yaml", bytes.ReplaceAll(b, []byte("mean_hours"), []byte("mean_minutes")))
	if err != nil {
		t.Fatal(err)
	}
	err = CheckComputable(cat)
	if err == nil || !strings.Contains(err.Error(), "(kind scenario, query mean_minutes)") || !strings.Contains(err.Error(), "scenario/mean_hours") {
		t.Fatalf("a catalog naming unknown computations: %v", err)
	}
}
