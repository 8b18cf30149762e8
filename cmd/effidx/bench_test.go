package main

import (
	"bytes"
	"strings"
	"testing"

	"effidx/warehouse/chtest"
)

func TestShardListFlag(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     string // "" = rejected
	}{
		{"one layout", "1", "1"},
		{"one node then two shards", "1,2", "1,2"},
		{"spaces around the counts are fine", " 2 , 1", "2,1"},
		{"zero shards is rejected", "0", ""},
		{"a count listed twice is rejected", "1,1", ""},
		{"more shards than a machine should start is rejected", "9", ""},
		{"a word is rejected", "two", ""},
		{"an empty list is rejected", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s shardList
			err := s.Set(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("Set(%q) = %v, want an error", tc.in, s.String())
				}
				return
			}
			if err != nil || s.String() != tc.want {
				t.Fatalf("Set(%q) = %q, %v; want %q", tc.in, s.String(), err, tc.want)
			}
		})
	}
}

// bench ingest --shards 1,2 posts the same events to one collector on one
// node and then to one collector per shard of a two-shard cluster; every
// acknowledged event lands in both, and the figures end side by side.
func TestBenchIngestOnTwoShardsPrintsBothLayoutsSideBySide(t *testing.T) {
	addr := chtest.Addr(t)
	// The collectors are this test binary run as effidx (TestMain).
	t.Setenv("EFFIDX_TEST_AS_MAIN", "1")
	var out, errOut bytes.Buffer
	args := []string{"bench", "ingest", "--shards", "1,2", "--events", "20000", "--clients", "4", "--clickhouse-addr", addr}
	if err := Run(t.Context(), args, nil, &out, &errOut); err != nil {
		t.Fatalf("%v: %v\n%s\n%s", args, err, out.String(), errOut.String())
	}
	text := out.String()
	layouts := oneNodeThenTwoShards(t, text, "ingest")
	for _, l := range layouts {
		if l["events"] != float64(20000) {
			t.Errorf("%v shards: events = %v, want 20000", l["shards"], l["events"])
		}
		for _, k := range []string{"events_per_s", "landed_per_s", "baseline_rows_per_s", "rss_mb"} {
			if v, ok := l[k].(float64); !ok || v <= 0 {
				t.Errorf("%v shards: %s = %v, want a positive number", l["shards"], k, l[k])
			}
		}
	}
	for _, want := range []string{"to 1 collector(s)", "to 2 collector(s)", "collector 2 on ", "acknowledged 20000 events",
		"figure                         1 node       2 shards     2 shards / 1st", "\nlanded_per_s "} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}
