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

// bench compute --shards 1,2 measures one node and then two local shards
// of a Distributed cluster over the same generated cases: both compute the
// same city, and the figures end side by side.
func TestBenchComputeOnTwoShardsPrintsBothLayoutsSideBySide(t *testing.T) {
	addr := chtest.Addr(t)
	var out, errOut bytes.Buffer
	args := []string{"bench", "compute", "--shards", "1,2", "--cases", "20000", "--chunk", "10000", "--runs", "1", "--clickhouse-addr", addr}
	if err := Run(t.Context(), args, nil, &out, &errOut); err != nil {
		t.Fatalf("%v: %v\n%s\n%s", args, err, out.String(), errOut.String())
	}
	text := out.String()
	layouts := oneNodeThenTwoShards(t, text, "compute")
	for _, l := range layouts {
		if l["events"] != layouts[0]["events"] || l["events"].(float64) < 4*20000 {
			t.Errorf("%v shards: events = %v, want the same 4-6 per case in every layout (%v)", l["shards"], l["events"], layouts[0]["events"])
		}
		for _, k := range []string{"month_s", "year_s", "facts_build_s", "rows_read_per_s"} {
			if v, ok := l[k].(float64); !ok || v <= 0 {
				t.Errorf("%v shards: %s = %v, want a positive number", l["shards"], k, l[k])
			}
		}
	}
	// Each shard holds parts of its own: more than one server's worth.
	if layouts[1]["parts"].(float64) < 2 {
		t.Errorf("2 shards: parts = %v, want parts on both servers", layouts[1]["parts"])
	}
	for _, want := range []string{"data: 20000 cases", "on 2 server(s)", "city values for 2025: the same in every layout",
		"figure                         1 node       2 shards     2 shards / 1st", "\nyear_s "} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// The initial queries only: a shard's part of a query is not a source.
	if strings.Contains(text, "    ? ") {
		t.Errorf("a computation query was not matched to its source:\n%s", text)
	}
}

// oneNodeThenTwoShards is the layouts of the JSON line that ends the output
// of a benchmark run with --shards 1,2, which must be those two.
func oneNodeThenTwoShards(t *testing.T, text, bench string) []map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(text), "\n")
	var all struct {
		Bench   string           `json:"bench"`
		Layouts []map[string]any `json:"layouts"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &all); err != nil {
		t.Fatalf("last line is not JSON: %q", lines[len(lines)-1])
	}
	if all.Bench != bench {
		t.Errorf("bench = %q, want %q", all.Bench, bench)
	}
	layouts := all.Layouts
	if len(layouts) != 2 || layouts[0]["shards"] != float64(1) || layouts[1]["shards"] != float64(2) {
		t.Fatalf("layouts = %v, want shards 1 then 2", layouts)
	}
	return layouts
}
