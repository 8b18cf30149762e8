package rules

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoaderPicksUpNextYearsDataWithoutARestart(t *testing.T) {
	dir := t.TempDir()
	l, err := NewLoader(Config{YearsDir: dir}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cst := time.FixedZone("CST", 8*3600)
	accepted := time.Date(2026, 12, 28, 10, 0, 0, 0, cst)
	before, _ := l.Current()
	d1 := before.Due(accepted, 5, nil)
	if !d1.Provisional || before.CoveredUntil() != 2026 {
		t.Fatalf("without 2027 data: due %v provisional %v, covered until %d", d1.Due, d1.Provisional, before.CoveredUntil())
	}
	// 2027-01-01 off as a holiday: the deadline moves a day later.
	y2027 := `{"year":2027,"papers":[],"days":[{"name":"元旦","date":"2027-01-01","isOffDay":true}]}`
	if err := os.WriteFile(filepath.Join(dir, "2027.json"), []byte(y2027), 0o644); err != nil {
		t.Fatal(err)
	}
	after, err := l.Current()
	if err != nil {
		t.Fatal(err)
	}
	d2 := after.Due(accepted, 5, nil)
	if d2.Provisional || after.CoveredUntil() != 2027 || after.Version() == before.Version() {
		t.Fatalf("with 2027 data: provisional %v, covered until %d, version %s (was %s)", d2.Provisional, after.CoveredUntil(), after.Version(), before.Version())
	}
	if !d2.Due.After(d1.Due) {
		t.Fatalf("the 2027-01-01 holiday did not move the deadline: %v then %v", d1.Due, d2.Due)
	}
	if same, _ := l.Current(); same != after {
		t.Fatal("an unchanged directory rebuilt the calendar")
	}
	// A broken file keeps the last good calendar and says why.
	if err := os.WriteFile(filepath.Join(dir, "2028.json"), []byte(`{"year":`), 0o644); err != nil {
		t.Fatal(err)
	}
	kept, err := l.Current()
	if err == nil || kept != after || !strings.Contains(err.Error(), "2028.json") {
		t.Fatalf("broken file: calendar %p (want %p), err %v", kept, after, err)
	}
}

func TestConfigValidateNamesMissingFiles(t *testing.T) {
	c := Config{YearsDir: "/no/such/dir", Overrides: []string{"/no/override.yaml"}, LightsFile: "/no/lights.yaml"}
	err := c.Validate()
	for _, want := range []string{"/no/such/dir", "/no/override.yaml", "/no/lights.yaml"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
}
