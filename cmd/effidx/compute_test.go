package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"effidx/event"
	"effidx/simulate"
	"effidx/warehouse"
	"effidx/warehouse/chtest"
)

func TestComputePrintsTheDepartmentRankingOfOnePeriod(t *testing.T) {
	addr, db := chtest.Addr(t), chtest.Database(t)
	ctx := context.Background()
	cfg := warehouse.DefaultConfig()
	cfg.Addr, cfg.Database = addr, db
	wh, err := warehouse.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	if _, err := wh.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	sim := simulate.DefaultConfig()
	sim.Start = time.Date(2026, 9, 1, 0, 0, 0, 0, sim.Location)
	sim.Days, sim.CasesPerDay, sim.MalformedShare = 30, 150, 0
	var buf bytes.Buffer
	if _, err := simulate.Generate(sim, &buf); err != nil {
		t.Fatal(err)
	}
	var evs []event.Stored
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		if e, err := event.Parse(sc.Bytes(), time.Time{}, 0); err == nil {
			evs = append(evs, event.Stored{Event: e, ReceivedAt: e.At.Add(time.Minute), Source: "sim"})
		}
	}
	if err := wh.WriteBatch(ctx, &event.Batch{Events: evs}); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	args := []string{"compute", "--period", "2026-09", "--clickhouse-addr", addr, "--clickhouse-database", db}
	if err := Run(ctx, args, nil, &out, &errOut); err != nil {
		t.Fatalf("compute: %v\n%s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasPrefix(lines[0], "2026-09 computed in ") || !strings.Contains(lines[0], "catalog 2026.1+") {
		t.Fatalf("first line %q", lines[0])
	}
	header := strings.Fields(lines[2])
	if strings.Join(header, " ") != "rank department index S C E" {
		t.Fatalf("header %q", lines[2])
	}
	rows := lines[3:]
	if len(rows) < 20 {
		t.Fatalf("%d departments ranked:\n%s", len(rows), out.String())
	}
	prev := 101.0
	for i, r := range rows {
		f := strings.Fields(r)
		var total float64
		if _, err := fmt.Sscan(f[2], &total); err != nil || total > prev || total < 0 {
			t.Fatalf("row %d %q: total %v after %v (%v)", i, r, total, prev, err)
		}
		prev = total
	}
	var stored uint64
	if err := wh.Conn().QueryRow(ctx, "SELECT count() FROM "+db+".indicator_results WHERE period = '2026-09'").Scan(&stored); err != nil || stored == 0 {
		t.Fatalf("results stored: %d, %v", stored, err)
	}

	for _, bad := range [][]string{{"compute"}, {"compute", "--period", "2026-13"}, {"compute", "--period", "2026-09", "--subject", "street"}} {
		err := Run(ctx, bad, nil, &out, &errOut)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%v: %v, want a usage error (exit status 2)", bad, err)
		}
	}
}
