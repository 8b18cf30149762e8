package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"effidx/warehouse"
)

// benchClusterName is the cluster a benchmark's local shards form.
const benchClusterName = "bench"

// shardList is the --shards flag of the benchmarks: the layouts to run,
// one after the other, e.g. "1,2" for one node and then two shards.
type shardList []int

func (s *shardList) String() string {
	parts := make([]string, len(*s))
	for i, n := range *s {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func (s *shardList) Set(v string) error {
	var out shardList
	seen := map[int]bool{}
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 8 {
			return fmt.Errorf("want shard counts from 1 to 8 separated by commas (e.g. 1,2), got %q", v)
		}
		if seen[n] {
			return fmt.Errorf("shard count %d is listed twice in %q", n, v)
		}
		seen[n] = true
		out = append(out, n)
	}
	*s = out
	return nil
}

const shardsUsage = "layouts to run, one after the other, and print side by side: 1 = one ClickHouse (embedded, or --clickhouse-addr), " +
	"N > 1 = N local clickhouse-servers started as the shards of cluster \"bench\" (Distributed tables, no replication) on this machine"

// benchShards points cfg at a new local cluster of n shards (one server
// each, no replication) under dir, for a layout of n > 1. The servers are
// the benchmark's own, whatever address cfg had. stop stops them.
func benchShards(ctx context.Context, cfg *Config, n int, dir string, log *slog.Logger) (stop func(), err error) {
	cl, err := warehouse.StartCluster(ctx, warehouse.LocalCluster{Name: benchClusterName, Shards: n, Replicas: 1},
		warehouse.ServerConfig{Dir: filepath.Join(dir, "clickhouse"), Timezone: cfg.Timezone, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("start %d local ClickHouse shards: %w", n, err)
	}
	cfg.ClickHouse.Addr = cl[0][0].Addr()
	cfg.ClickHouse.Cluster, cfg.ClickHouse.Replicated = benchClusterName, false
	return func() {
		for _, sh := range cl {
			if err := sh[0].Stop(); err != nil {
				log.Warn("stop a benchmark shard", "err", err)
			}
		}
	}, nil
}

// onEveryShard runs stmt (a format with one %s: the table) on each of
// tables of the benchmark database, on every server: a Distributed table
// passes neither TRUNCATE nor OPTIMIZE on to its shards' local tables.
func onEveryShard(ctx context.Context, wh *warehouse.Warehouse, stmt string, tables ...string) error {
	return wh.EachHost(ctx, func(conn driver.Conn, _ warehouse.ClusterHost) error {
		for _, t := range tables {
			q := fmt.Sprintf(stmt, wh.Database()+"."+wh.LocalTable(t))
			if err := conn.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
}

// layoutName is how a layout is headed in the side-by-side table.
func layoutName(shards int) string {
	if shards == 1 {
		return "1 node"
	}
	return fmt.Sprintf("%d shards", shards)
}

// printSideBySide prints the figures of several layouts of one benchmark
// as a table, each later layout's ratio to the first, and then all of them
// as one JSON line, which ends the output.
func printSideBySide(w io.Writer, bench string, layouts []int, figures []map[string]any, keys []string) error {
	fmt.Fprintf(w, "\nside by side (every layout on this one machine: its cores and disk are shared by all its servers):\n")
	fmt.Fprintf(w, "%-22s", "figure")
	for _, n := range layouts {
		fmt.Fprintf(w, " %14s", layoutName(n))
	}
	for _, n := range layouts[1:] {
		fmt.Fprintf(w, " %18s", layoutName(n)+" / 1st")
	}
	fmt.Fprintln(w)
	for _, k := range keys {
		vals := make([]float64, len(figures))
		have := true
		for i, f := range figures {
			v, ok := number(f[k])
			vals[i], have = v, have && ok
		}
		if !have {
			continue
		}
		fmt.Fprintf(w, "%-22s", k)
		for _, v := range vals {
			fmt.Fprintf(w, " %14s", strconv.FormatFloat(v, 'f', -1, 64))
		}
		for _, v := range vals[1:] {
			if vals[0] == 0 {
				fmt.Fprintf(w, " %18s", "-")
			} else {
				fmt.Fprintf(w, " %18.2f", v/vals[0])
			}
		}
		fmt.Fprintln(w)
	}
	line, err := json.Marshal(map[string]any{"bench": bench, "layouts": figures})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, string(line))
	return nil
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}
