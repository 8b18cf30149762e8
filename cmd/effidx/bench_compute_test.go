package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"effidx/warehouse/chtest"
)

// A small bench compute end to end: the generator's SQL runs on the
// server, the computation answers for both periods, query_log is read, and
// the last line carries the figures.
func TestBenchComputeEndsWithItsJSONFigures(t *testing.T) {
	addr := chtest.Addr(t)
	var out, errOut bytes.Buffer
	args := []string{"bench", "compute", "--cases", "20000", "--chunk", "10000", "--runs", "1", "--clickhouse-addr", addr}
	if err := Run(t.Context(), args, nil, &out, &errOut); err != nil {
		t.Fatalf("%v: %v\n%s\n%s", args, err, out.String(), errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var figures map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &figures); err != nil {
		t.Fatalf("last line is not JSON: %q", lines[len(lines)-1])
	}
	if figures["bench"] != "compute" {
		t.Errorf("bench = %v, want compute", figures["bench"])
	}
	for _, k := range []string{"cases", "events", "month_s", "year_s", "floor_scan_s", "ratio", "rows_read_per_s"} {
		if v, ok := figures[k].(float64); !ok || v <= 0 {
			t.Errorf("figure %s = %v, want a positive number", k, figures[k])
		}
	}
	if figures["cases"] != float64(20000) {
		t.Errorf("cases = %v, want 20000", figures["cases"])
	}
	// Every source query was found in query_log and named.
	text := out.String()
	for _, src := range []string{"cases", "steps", "tasks", "reminders", "red lights", "events"} {
		if !strings.Contains(text, "    "+src+" ") {
			t.Errorf("no query_log line for source %q:\n%s", src, text)
		}
	}
	if strings.Contains(text, "    ? ") {
		t.Errorf("a computation query was not matched to its source:\n%s", text)
	}
	// About five events per case, every kind present.
	if ev := figures["events"].(float64); ev < 4*20000 || ev > 6*20000 {
		t.Errorf("events = %v, want 4-6 per case", ev)
	}
}
