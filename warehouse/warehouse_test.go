package warehouse_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"effidx/event"
	"effidx/warehouse"
	"effidx/warehouse/chtest"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

var update = flag.Bool("update", false, "rewrite the golden files")

func TestSchemaRendersForOneServerAndForACluster(t *testing.T) {
	tests := []struct {
		name   string
		render warehouse.Render
		golden string
	}{
		{"single node", warehouse.Render{Database: "effidx", Timezone: "Asia/Shanghai"}, "schema.single.sql"},
		{"cluster", warehouse.Render{Database: "effidx", Timezone: "Asia/Shanghai", Cluster: "city"}, "schema.cluster.sql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(warehouse.SchemaSQL(tt.render), ";\n\n") + ";\n"
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./warehouse -run Schema -update to create it)", err)
			}
			if got != string(want) {
				t.Fatalf("rendered schema differs from %s (review, then -update):\n%s", path, got)
			}
		})
	}
}

func TestClusterRenderingUsesReplicatedEnginesAndDistributedTables(t *testing.T) {
	sql := strings.Join(warehouse.SchemaSQL(warehouse.Render{Database: "effidx", Timezone: "Asia/Shanghai", Cluster: "city"}), "\n")
	for _, want := range []string{
		"CREATE TABLE IF NOT EXISTS effidx.events_local ON CLUSTER city",
		"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/effidx/events_local', '{replica}', ver)",
		"ENGINE = Distributed(city, effidx, events_local, cityHash64(case_id))",
		"CREATE DATABASE IF NOT EXISTS effidx ON CLUSTER city",
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("cluster schema lacks %q", want)
		}
	}
	single := strings.Join(warehouse.SchemaSQL(warehouse.Render{Database: "effidx", Timezone: "Asia/Shanghai"}), "\n")
	for _, banned := range []string{"ON CLUSTER", "Replicated", "Distributed", "_local"} {
		if strings.Contains(single, banned) {
			t.Errorf("single-node schema contains %q", banned)
		}
	}
}

func open(t *testing.T) *warehouse.Warehouse {
	t.Helper()
	cfg := warehouse.DefaultConfig()
	cfg.Addr = chtest.Addr(t)
	cfg.Database = chtest.Database(t)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	w, err := warehouse.Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestMigrateIsIdempotentAndSafeFromSeveralReplicasAtOnce(t *testing.T) {
	w := open(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	applied := make([][]int, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = w.Migrate(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	again, err := w.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second run applied %v (err %v), want nothing", again, err)
	}
	if n, err := w.Pending(ctx); err != nil || n != 0 {
		t.Fatalf("pending = %d, %v", n, err)
	}
	var tables uint64
	if err := w.Conn().QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name IN ('events', 'rejected_events', 'schema_migrations')", w.Database()).Scan(&tables); err != nil || tables != 3 {
		t.Fatalf("tables = %d, %v; want 3", tables, err)
	}
	var tz string
	if err := w.Conn().QueryRow(ctx, "SELECT type FROM system.columns WHERE database = ? AND table = 'events' AND name = 'at'", w.Database()).Scan(&tz); err != nil || tz != "DateTime('Asia/Shanghai')" {
		t.Fatalf("events.at type = %q, %v; want DateTime('Asia/Shanghai')", tz, err)
	}
}

func TestMigrateRefusesAnEditedMigration(t *testing.T) {
	w := open(t)
	ctx := context.Background()
	if _, err := w.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// INSERT ... VALUES through Exec hangs on 18.16 (it waits for a data
	// block), so even a one-row insert is a batch.
	b, err := w.Conn().PrepareBatch(ctx, "INSERT INTO "+w.Database()+".schema_migrations (version, name, checksum, applied_at)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uint32(1), "x", "bogus", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "was edited") {
		t.Fatalf("Migrate = %v, want a complaint that migration 1 was edited", err)
	}
}

func storedSample() []event.Stored {
	recv := time.Date(2026, 10, 5, 10, 0, 0, 0, time.UTC)
	a := event.NewEvent()
	a.ID, a.Kind, a.CaseID, a.Type, a.Department = "a-1", event.KindService, "SV-1", event.TypeAccepted, "D01"
	a.At = time.Date(2026, 10, 5, 9, 30, 0, 0, time.FixedZone("", 8*3600))
	a.Region, a.Matter, a.MatterName, a.Channel = "R01", "M1", "食品经营许可", event.ChannelMobile
	a.LegalDays, a.PromisedDays, a.MaterialsTotal, a.MaterialsShared = 20, 0, 6, 5
	a.Responsible, a.JointID = "王芳", "J1"
	b := event.NewEvent()
	b.ID, b.Kind, b.CaseID, b.Type, b.Department = "b-1", event.KindTask, "T-1", event.TypeMilestoneDue, "D02"
	b.At = time.Date(2026, 10, 5, 1, 0, 0, 0, time.UTC)
	b.Step, b.StepType, b.LimitDays, b.Due = "m1", event.StepCountersign, 3, time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC)
	c := event.NewEvent()
	c.ID, c.Kind, c.CaseID, c.Type, c.Department, c.Resolved = "c-1", event.KindTicket, "TK-1", event.TypeCompleted, "D03", event.ResolvedTrue
	c.At = time.Date(2026, 11, 1, 0, 0, 1, 0, time.FixedZone("", 8*3600))
	return []event.Stored{{Event: a, ReceivedAt: recv, Source: "hall"}, {Event: b, ReceivedAt: recv, Source: "tracker"}, {Event: c, ReceivedAt: recv, Source: "12345"}}
}

func TestWriteBatchStoresEveryFieldAndResendsCollapse(t *testing.T) {
	w := open(t)
	ctx := context.Background()
	if _, err := w.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rows := storedSample()
	rej := []event.StoredRejection{{Rejection: event.Rejection{Index: 3, Raw: []byte("{bad"), Error: "invalid JSON", Department: "D09"}, ReceivedAt: rows[0].ReceivedAt, Source: "hall", RequestID: "r1"}}
	b := &event.Batch{Events: rows, Rejected: rej}
	// Twice, and once more with a later receipt: all must collapse to the
	// first copy.
	if err := w.WriteBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	later := append([]event.Stored(nil), rows...)
	for i := range later {
		later[i].ReceivedAt = later[i].ReceivedAt.Add(time.Hour)
		later[i].Source = "resender"
	}
	if err := w.WriteBatch(ctx, &event.Batch{Events: later}); err != nil {
		t.Fatal(err)
	}
	db := w.Database()
	var raw, final, distinct uint64
	if err := w.Conn().QueryRow(ctx, "SELECT count(), uniqExact(event_id) FROM "+db+".events").Scan(&raw, &distinct); err != nil {
		t.Fatal(err)
	}
	if err := w.Conn().QueryRow(ctx, "SELECT count() FROM "+db+".events FINAL").Scan(&final); err != nil {
		t.Fatal(err)
	}
	if raw != 9 || final != 3 || distinct != 3 {
		t.Fatalf("rows %d, FINAL %d, distinct ids %d; want 9 raw collapsing to 3", raw, final, distinct)
	}
	q := `SELECT kind, type, toString(at), department, region, matter, matter_name, channel, legal_days, promised_days,
		materials_total, materials_shared, step, step_type, limit_days, joint_id, rating, resolved, if(due = toDate(0), 'none', toString(due)),
		responsible, source, toString(received_at) FROM ` + db + `.events FINAL ORDER BY event_id`
	res, err := w.Conn().Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	var got []string
	for res.Next() {
		var kind, typ, at, dept, region, matter, name, channel, step, stepType, joint, due, resp, source, recv string
		var legal, promised, mt, ms, limit int32
		var rating, resolved int8
		if err := res.Scan(&kind, &typ, &at, &dept, &region, &matter, &name, &channel, &legal, &promised, &mt, &ms,
			&step, &stepType, &limit, &joint, &rating, &resolved, &due, &resp, &source, &recv); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{kind, typ, at, dept, region, matter, name, channel, itoa(legal), itoa(promised),
			itoa(mt), itoa(ms), step, stepType, itoa(limit), joint, itoa(int32(rating)), itoa(int32(resolved)), due, resp, source, recv}, "|"))
	}
	fixed := []string{
		"service|accepted|2026-10-05 09:30:00|D01|R01|M1|食品经营许可|mobile|20|0|6|5|||-1|J1|0|-1|none|王芳|hall|2026-10-05 18:00:00",
		"task|milestone_due|2026-10-05 09:00:00|D02|||||-1|-1|-1|-1|m1|countersign|3||0|-1|2026-10-31||tracker|2026-10-05 18:00:00",
		"ticket|completed|2026-11-01 00:00:01|D03|||||-1|-1|-1|-1|||-1||0|1|none||12345|2026-10-05 18:00:00",
	}
	if strings.Join(got, "\n") != strings.Join(fixed, "\n") {
		t.Fatalf("stored rows (times in Asia/Shanghai):\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(fixed, "\n"))
	}
	var rejRows uint64
	var rejRaw, rejErr, rejDept string
	if err := w.Conn().QueryRow(ctx, "SELECT count(), any(raw), any(error), any(department) FROM "+db+".rejected_events FINAL").Scan(&rejRows, &rejRaw, &rejErr, &rejDept); err != nil {
		t.Fatal(err)
	}
	if rejRows != 1 || rejRaw != "{bad" || rejErr != "invalid JSON" || rejDept != "D09" {
		t.Fatalf("rejected_events: %d rows, raw %q, error %q, department %q", rejRows, rejRaw, rejErr, rejDept)
	}
}

func itoa(v int32) string { return strconv.Itoa(int(v)) }
