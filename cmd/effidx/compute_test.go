package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"effidx/simulate"
	"effidx/warehouse/chtest"
)

func TestComputePrintsTheDepartmentRankingOfOnePeriod(t *testing.T) {
	wh := chtest.Warehouse(t)
	addr, db := wh.Config().Addr, wh.Database()
	ctx := context.Background()
	sim := simulate.DefaultConfig()
	sim.Start = time.Date(2026, 9, 1, 0, 0, 0, 0, sim.Location)
	sim.Days, sim.CasesPerDay, sim.MalformedShare = 30, 150, 0
	chtest.LoadSimulated(t, wh, sim)

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
