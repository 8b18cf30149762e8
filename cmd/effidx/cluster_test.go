package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"effidx/event"
	"effidx/lights"
	"effidx/rules"
	"effidx/simulate"
	"effidx/warehouse"
	"effidx/warehouse/chtest"
)

// TestClusterOfTwoShardsComputesTheSameIndexAsOneNode is the multi-node
// test of issue 6 on one machine: two clickhouse-servers are the two
// shards of cluster "city" (no replication: that needs ZooKeeper/Keeper),
// `effidx migrate --clickhouse-cluster` creates the local and Distributed
// tables on both, two effidx collectors (one per server) ingest a simulated
// city through the Distributed tables, the lights job records red lights
// across the shards, and `effidx compute` computes a month through the
// Distributed tables. The same rows copied to one single-node server must
// give the same numerator and denominator for every subject and indicator,
// and the same ranking.
func TestClusterOfTwoShardsComputesTheSameIndexAsOneNode(t *testing.T) {
	ctx := context.Background()
	begin := time.Now()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	cl, err := warehouse.StartCluster(ctx, warehouse.LocalCluster{Name: "city", Shards: 2, Replicas: 1}, warehouse.ServerConfig{Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatalf("StartCluster: %v", err)
	}
	shards := []*warehouse.Server{cl[0][0], cl[1][0]}
	stopAll(t, shards...)
	const db = "effidx"
	clusterFlags := []string{"--clickhouse-database", db, "--clickhouse-cluster", "city", "--clickhouse-replicated=false"}
	started := time.Since(begin)

	var out, errOut bytes.Buffer
	if err := Run(ctx, append([]string{"migrate", "--clickhouse-addr", shards[0].Addr()}, clusterFlags...), nil, &out, &errOut); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut.String())
	}
	var versions []int
	for _, m := range warehouse.Migrations {
		versions = append(versions, m.Version)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("migrations applied: %v", versions)) {
		t.Fatalf("migrate printed %q", out.String())
	}
	tables := schemaTables()
	shardConns := make([]driver.Conn, len(shards))
	for i, s := range shards {
		shardConns[i] = chtest.ConnAddr(t, s.Addr(), "default")
		if n := countRows(t, shardConns[i], "SELECT count() FROM system.tables WHERE database = ? AND engine = 'Distributed'", db); n != tables {
			t.Fatalf("shard %d has %d Distributed tables, want %d", i+1, n, tables)
		}
	}
	migrated := time.Since(begin)

	// Two collectors, each writing through the Distributed tables of its
	// own server; a case's events arrive at both.
	var collectors []*proc
	for _, s := range shards {
		args := append([]string{"serve", "--roles", "collector", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--clickhouse-addr", s.Addr()}, clusterFlags...)
		collectors = append(collectors, startEffidx(t, nil, args...))
	}
	// A collector-only process serves ingest, not the read API.
	if code, _ := get(t, collectors[0].url+"/api/v1/lights"); code != http.StatusNotFound {
		t.Errorf("GET /api/v1/lights on a collector-only effidx = %d, want 404", code)
	}
	sim := simulate.DefaultConfig()
	sim.Start = time.Date(2026, 9, 1, 0, 0, 0, 0, sim.Location)
	sim.Days, sim.CasesPerDay, sim.Seed, sim.MalformedShare = 30, 150, 11, 0.005
	var stream bytes.Buffer
	if _, err := simulate.Generate(sim, &stream); err != nil {
		t.Fatal(err)
	}
	halves := make([]bytes.Buffer, 2)
	want := map[string]uint64{}
	caseIDs := map[string]bool{}
	valid := 0
	for i, line := range bytes.Split(bytes.TrimSpace(stream.Bytes()), []byte{'\n'}) {
		halves[i%2].Write(line)
		halves[i%2].WriteByte('\n')
		if e, err := event.Parse(line, time.Time{}, 0); err == nil {
			valid++
			want[e.Kind.String()+"/"+e.Department]++
			caseIDs[e.CaseID] = true
		}
	}
	ingestBegin := time.Now()
	var wg sync.WaitGroup
	posters := make([]*poster, 2)
	errs := make([]error, 2)
	for i, c := range collectors {
		posters[i] = newPoster(c.url+"/api/v1/events", "", 500, 2, 0)
		wg.Go(func() { errs[i] = posters[i].post(ctx, bytes.NewReader(halves[i].Bytes())) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("posting: %v / %v", errs[0], errs[1])
	}
	if got := posters[0].accepted.Load() + posters[1].accepted.Load(); int(got) != valid {
		t.Fatalf("collectors accepted %d events, want %d", got, valid)
	}
	cluster := chtest.ConnAddr(t, shards[0].Addr(), db)
	waitFor(t, 60*time.Second, "every event in the cluster", func() (bool, string) {
		n := countRows(t, cluster, "SELECT count() FROM "+db+".events FINAL")
		return n == uint64(valid), fmt.Sprintf("%d of %d", n, valid)
	})
	ingested := time.Since(ingestBegin)
	if got := groupCounts(t, cluster, db); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("counts by kind/department through the Distributed table:\n%v\nwant\n%v", got, want)
	}
	for _, c := range collectors {
		c.terminate()
	}

	// Each case's events sit on one shard, and both shards hold some.
	shardOf := map[string]int{}
	perShard := make([]int, len(shards))
	rowsPerShard := make([]uint64, len(shards))
	for i, conn := range shardConns {
		rowsPerShard[i] = countRows(t, conn, "SELECT count() FROM "+db+".events_local")
		rows, err := conn.Query(ctx, "SELECT DISTINCT case_id FROM "+db+".events_local")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			if prev, ok := shardOf[id]; ok {
				t.Errorf("case %s has events on shard %d and on shard %d", id, prev, i+1)
			}
			shardOf[id] = i + 1
			perShard[i]++
		}
		rows.Close()
	}
	if len(shardOf) != len(caseIDs) || perShard[0] == 0 || perShard[1] == 0 {
		t.Fatalf("cases per shard %v (%d in all), want the %d cases sent spread over both", perShard, len(shardOf), len(caseIDs))
	}

	// The lights job records when open cases turned red (light_changes,
	// sharded like events), which the index reads back with a JOIN.
	ccfg := defaultConfig()
	ccfg.ClickHouse.Addr, ccfg.ClickHouse.Database, ccfg.ClickHouse.Cluster, ccfg.ClickHouse.Replicated = shards[0].Addr(), db, "city", false
	cwh, err := warehouse.Open(ctx, ccfg.ClickHouse, log)
	if err != nil {
		t.Fatal(err)
	}
	defer cwh.Close()
	runLights(t, ccfg, cwh, log)
	reds := countRows(t, cluster, "SELECT count() FROM "+db+".light_changes WHERE light = 'red'")
	if reds == 0 {
		t.Fatal("the lights job recorded no red light in the cluster")
	}

	// The single node gets exactly the cluster's rows (received_at and the
	// lights' instants included), read through the Distributed tables.
	single := chtest.Database(t)
	scfg := defaultConfig()
	scfg.ClickHouse.Addr, scfg.ClickHouse.Database = chtest.Addr(t), single
	swh, err := warehouse.Open(ctx, scfg.ClickHouse, log)
	if err != nil {
		t.Fatal(err)
	}
	defer swh.Close()
	if _, err := swh.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"events", "rejected_events", "light_changes"} {
		q := fmt.Sprintf("INSERT INTO %s.%s SELECT * FROM remote('%s', %s, %s)", single, table, shards[0].Addr(), db, table)
		if err := swh.Conn().Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, table := range []string{"events", "rejected_events", "light_changes"} {
		c, s := countRows(t, cluster, "SELECT count() FROM "+db+"."+table), countRows(t, swh.Conn(), "SELECT count() FROM "+single+"."+table)
		if c != s || c == 0 {
			t.Fatalf("%s: %d rows in the cluster, %d copied to the single node", table, c, s)
		}
	}

	compute := func(flags ...string) (string, time.Duration) {
		var out, errOut bytes.Buffer
		start := time.Now()
		if err := Run(ctx, append([]string{"compute", "--period", "2026-09"}, flags...), nil, &out, &errOut); err != nil {
			t.Fatalf("compute %v: %v\n%s", flags, err, errOut.String())
		}
		return out.String(), time.Since(start)
	}
	clusterOut, clusterTook := compute(append([]string{"--clickhouse-addr", shards[1].Addr()}, clusterFlags...)...)
	singleOut, singleTook := compute("--clickhouse-addr", chtest.Addr(t), "--clickhouse-database", single)

	got, wantRes := results(t, cluster, db), results(t, swh.Conn(), single)
	if len(wantRes) < 1000 {
		t.Fatalf("single node: only %d results", len(wantRes))
	}
	keys := make([]string, 0, len(wantRes))
	for k := range wantRes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	diffs, counted := 0, 0
	for _, k := range keys {
		w, g := wantRes[k], got[k]
		if w != g {
			if diffs++; diffs <= 10 {
				t.Errorf("%s: cluster %v, single node %v", k, g, w)
			}
		}
		if w[1] > 0 {
			counted++
		}
	}
	if len(got) != len(wantRes) || diffs > 0 {
		t.Fatalf("%d of %d results differ; the cluster has %d results", diffs, len(wantRes), len(got))
	}
	// The rankings printed by compute agree too (after the timing line).
	_, ct, _ := strings.Cut(clusterOut, "\n")
	_, st, _ := strings.Cut(singleOut, "\n")
	if ct != st || strings.Count(st, "\n") < 20 {
		t.Fatalf("rankings differ:\ncluster:\n%s\nsingle node:\n%s", clusterOut, singleOut)
	}
	t.Logf("2 shards ready in %v, migrated at %v; %d events (%d cases: %v per shard, %v rows) ingested through 2 collectors in %v; %d red lights; "+
		"2026-09: %d results equal (%d with a denominator); compute %v on the cluster, %v on one node; whole test %v",
		started.Round(time.Millisecond), migrated.Round(time.Millisecond), valid, len(caseIDs), perShard, rowsPerShard, ingested.Round(time.Millisecond), reds,
		len(wantRes), counted, clusterTook.Round(time.Millisecond), singleTook.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
}

// stopAll stops the servers at cleanup, all at once: one by one, a cluster
// takes seconds to stop.
func stopAll(t *testing.T, servers ...*warehouse.Server) {
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, s := range servers {
			wg.Go(func() { _ = s.Stop() })
		}
		wg.Wait()
	})
}

// runLights runs the lights job once against wh, as serve would.
func runLights(t *testing.T, cfg Config, wh *warehouse.Warehouse, log *slog.Logger) {
	t.Helper()
	loc, err := rules.LoadLocation(cfg.Timezone)
	if err != nil {
		t.Fatal(err)
	}
	calendars, err := rules.NewLoader(cfg.Rules, loc, log)
	if err != nil {
		t.Fatal(err)
	}
	lightRules, err := cfg.Rules.LightRules()
	if err != nil {
		t.Fatal(err)
	}
	job := lights.NewJob(wh, &lights.RulesJudge{Calendar: calendars.Current, Rules: lightRules}, cfg.Lights, prometheus.NewRegistry(), log)
	if err := job.RunOnce(context.Background()); err != nil {
		t.Fatalf("lights job on %s: %v", wh.Config().Addr, err)
	}
}

// results is the latest run of 2026-09: (numerator, denominator) by
// subject type, subject and indicator, read as the API reads them.
func results(t *testing.T, conn driver.Conn, db string) map[string][2]float64 {
	t.Helper()
	rows, err := conn.Query(context.Background(), fmt.Sprintf(`SELECT toString(subject_type), subject, indicator, numerator, denominator
FROM %[1]s.indicator_results
WHERE period = '2026-09' AND run = (SELECT max(run) FROM %[1]s.indicator_results WHERE period = '2026-09')`, db))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][2]float64{}
	for rows.Next() {
		var typ, subject, indicator string
		var num, den float64
		if err := rows.Scan(&typ, &subject, &indicator, &num, &den); err != nil {
			t.Fatal(err)
		}
		k := typ + "/" + subject + "/" + indicator
		if _, dup := out[k]; dup {
			t.Fatalf("%s twice in one run", k)
		}
		// Sums of floats may be added in another order across shards.
		out[k] = [2]float64{round9(num), round9(den)}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func round9(v float64) float64 { return math.Round(v*1e9) / 1e9 }

func TestDeployRolesSelectWhatServeAnswers(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	tests := []struct {
		name  string
		roles string
		path  string
		want  int
	}{
		{"all roles answer everything", "collector,jobs,dashboard", "/api/v1/scores", http.StatusTeapot},
		{"collector takes events", "collector", "/api/v1/events", http.StatusTeapot},
		{"collector does not serve the API", "collector", "/api/v1/lights", http.StatusNotFound},
		{"collector does not serve pages", "collector", "/", http.StatusNotFound},
		{"dashboard does not take events", "dashboard", "/api/v1/events", http.StatusNotFound},
		{"dashboard serves the API", "dashboard", "/api/v1/portrait/D01", http.StatusTeapot},
		{"jobs serves only metrics and probes", "jobs", "/api/v1/scores", http.StatusNotFound},
		{"jobs is scraped", "jobs", "/metrics", http.StatusTeapot},
		{"jobs is probed", "jobs", "/readyz", http.StatusTeapot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Roles = tt.roles
			rec := httptest.NewRecorder()
			roleFilter(cfg.roles(), ok).ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
			if rec.Code != tt.want {
				t.Fatalf("roles %s: GET %s = %d, want %d", tt.roles, tt.path, rec.Code, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "collector,reports", " , "} {
		var out, errOut bytes.Buffer
		err := Run(context.Background(), []string{"migrate", "--print", "--roles", bad}, nil, &out, &errOut)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), "roles") {
			t.Errorf("--roles %q: %v, want a usage error about roles", bad, err)
		}
	}
}

// zooKeeperJar is Debian's ZooKeeper (apt-get install zookeeper); its
// manifest names the jars it needs.
const zooKeeperJar = "/usr/share/java/zookeeper.jar"

// startZooKeeper runs a standalone ZooKeeper on a free loopback port for
// the test and returns its host:port.
func startZooKeeper(t *testing.T) string {
	t.Helper()
	java, err := exec.LookPath("java")
	if _, statErr := os.Stat(zooKeeperJar); err != nil || statErr != nil {
		// A failure, not a skip: CI must not go green without the test.
		t.Fatalf("replication needs ZooKeeper: run `make test` (scripts/deps.sh installs Debian's zookeeper) (java: %v, %s: %v)", err, zooKeeperJar, statErr)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command(java, "-Xmx256m", "-Dzookeeper.admin.enableServer=false", "-Dzookeeper.4lw.commands.whitelist=srvr", "-Dzookeeper.forceSync=no", "-cp", zooKeeperJar+":/usr/share/java/slf4j-simple.jar",
		"org.apache.zookeeper.server.ZooKeeperServerMain", strconv.Itoa(port), dir)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Pdeathsig fires when the forking OS thread exits, and Go retires
	// idle threads: fork from a locked thread kept for the child's life
	// (as warehouse.StartServer does), so ZooKeeper dies with the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started, exited := make(chan error, 1), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-exited:
			t.Errorf("ZooKeeper had exited: %v\n%s", cmd.ProcessState, out.String())
		default:
		}
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("ZooKeeper output:\n%s", out.String())
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// Listening is not serving: a ClickHouse 18.16 whose first ZooKeeper
	// handshake fails never retries it for distributed DDL, and its DDL
	// worker crashes (SIGSEGV) on the first ON CLUSTER query. So wait until
	// a session handshake of our own completes.
	waitFor(t, 30*time.Second, "ZooKeeper to open a session", func() (bool, string) {
		err := zooKeeperHandshake(addr)
		return err == nil, fmt.Sprint(err)
	})
	return addr
}

// zooKeeperHandshake opens and drops one ZooKeeper session (the jute
// ConnectRequest: protocol version, last zxid, timeout, session id,
// password) and checks that the ConnectResponse arrives in time.
func zooKeeperHandshake(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	req := make([]byte, 48)
	binary.BigEndian.PutUint32(req[0:], 44)     // length of what follows
	binary.BigEndian.PutUint32(req[16:], 30000) // session timeout, ms
	binary.BigEndian.PutUint32(req[28:], 16)    // password: 16 zero bytes
	if _, err := c.Write(req); err != nil {
		return err
	}
	var n uint32
	if err := binary.Read(c, binary.BigEndian, &n); err != nil {
		return fmt.Errorf("no ConnectResponse: %w", err)
	}
	if n < 36 {
		return fmt.Errorf("ConnectResponse of %d bytes", n)
	}
	_, err = io.ReadFull(c, make([]byte, n))
	return err
}

// TestClusterWithReplicasLosesNothingAcknowledgedWhenAReplicaDies: two
// shards of two replicas (ReplicatedReplacingMergeTree, ZooKeeper), ON
// CLUSTER migrations, two collectors ingesting while one replica of the
// second shard is SIGKILLed; after it is back and caught up, both
// replicas of each shard hold the same events and every acknowledged event
// is in the cluster exactly once.
func TestClusterWithReplicasLosesNothingAcknowledgedWhenAReplicaDies(t *testing.T) {
	zk := startZooKeeper(t)
	ctx := context.Background()
	begin := time.Now()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	cl, err := warehouse.StartCluster(ctx, warehouse.LocalCluster{Name: "city", Shards: 2, Replicas: 2},
		warehouse.ServerConfig{Dir: t.TempDir(), Logger: log, ZooKeeper: []string{zk}})
	if err != nil {
		t.Fatalf("StartCluster: %v", err)
	}
	stopAll(t, slices.Concat(cl...)...)
	started := time.Since(begin)
	const db = "effidx"
	clusterFlags := []string{"--clickhouse-database", db, "--clickhouse-cluster", "city"}
	var out, errOut bytes.Buffer
	if err := Run(ctx, append([]string{"migrate", "--clickhouse-addr", cl[0][0].Addr()}, clusterFlags...), nil, &out, &errOut); err != nil {
		t.Fatalf("migrate ON CLUSTER: %v\n%s", err, errOut.String())
	}
	if strings.Contains(errOut.String(), "level=WARN") {
		t.Errorf("migrate ON CLUSTER warned:\n%s", errOut.String())
	}
	migrated := time.Since(begin)
	tables := schemaTables()
	for _, sh := range cl {
		for _, s := range sh {
			conn := chtest.ConnAddr(t, s.Addr(), "default")
			if n := countRows(t, conn, "SELECT count() FROM system.replicas WHERE database = ?", db); n != tables {
				t.Fatalf("%s: %d replicated tables, want %d", s.Addr(), n, tables)
			}
			if n := countRows(t, conn, "SELECT count() FROM "+db+".schema_migrations"); n != uint64(len(warehouse.Migrations)) {
				t.Errorf("%s: %d migrations recorded, want %d", s.Addr(), n, len(warehouse.Migrations))
			}
		}
	}

	// The collectors write through the first replica of each shard; the
	// second replica of shard 2 dies while they do.
	var collectors []*proc
	for _, sh := range cl {
		args := append([]string{"serve", "--roles", "collector", "--migrate=false", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--clickhouse-addr", sh[0].Addr()}, clusterFlags...)
		collectors = append(collectors, startEffidx(t, nil, args...))
	}
	sim := simulate.DefaultConfig()
	sim.Start = time.Date(2026, 9, 1, 0, 0, 0, 0, sim.Location)
	sim.Days, sim.CasesPerDay, sim.Seed, sim.MalformedShare = 20, 150, 12, 0
	var stream bytes.Buffer
	st, err := simulate.Generate(sim, &stream)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(stream.Bytes()), []byte{'\n'})
	halves := make([]bytes.Buffer, 2)
	for i, line := range lines {
		halves[i%2].Write(line)
		halves[i%2].WriteByte('\n')
	}
	victim := cl[1][1]
	var wg sync.WaitGroup
	posters := make([]*poster, 2)
	errs := make([]error, 2)
	for i, c := range collectors {
		// ~4 s of ingest at 2,000 events/s per collector, so that the kill
		// lands in the middle of it.
		posters[i] = newPoster(c.url+"/api/v1/events", "", 200, 2, 2000)
		wg.Go(func() { errs[i] = posters[i].post(ctx, bytes.NewReader(halves[i].Bytes())) })
	}
	waitFor(t, 30*time.Second, "ingest under way", func() (bool, string) {
		n := posters[0].accepted.Load() + posters[1].accepted.Load()
		return n > int64(st.Events)/4, fmt.Sprint(n)
	})
	if err := syscall.Kill(victim.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.Done()
	killedAt := posters[0].accepted.Load() + posters[1].accepted.Load()
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("posting: %v / %v", errs[0], errs[1])
	}
	acked := posters[0].accepted.Load() + posters[1].accepted.Load()
	if int(acked) != st.Events || killedAt >= acked {
		t.Fatalf("acknowledged %d of %d events, %d of them before the kill: want all, and the kill mid-ingest", acked, st.Events, killedAt)
	}
	conn := chtest.ConnAddr(t, cl[0][0].Addr(), db)
	waitFor(t, 60*time.Second, "every acknowledged event in the cluster", func() (bool, string) {
		n := countRows(t, conn, "SELECT count() FROM "+db+".events FINAL")
		return n == uint64(st.Events), fmt.Sprintf("%d of %d", n, st.Events)
	})
	for _, c := range collectors {
		c.terminate()
	}

	back, err := warehouse.StartServer(ctx, victim.Config())
	if err != nil {
		t.Fatalf("restarting the killed replica: %v", err)
	}
	stopAll(t, back)
	cl[1][1] = back
	for i, sh := range cl {
		var counts []uint64
		for _, s := range sh {
			c := chtest.ConnAddr(t, s.Addr(), db)
			if err := c.Exec(ctx, "SYSTEM SYNC REPLICA "+db+".events_local"); err != nil {
				t.Fatalf("shard %d %s: SYNC REPLICA: %v", i+1, s.Addr(), err)
			}
			counts = append(counts, countRows(t, c, "SELECT count() FROM "+db+".events_local FINAL"))
		}
		if counts[0] != counts[1] || counts[0] == 0 {
			t.Errorf("shard %d: replicas hold %v events, want the same, not zero", i+1, counts)
		}
	}
	if n := countRows(t, conn, "SELECT uniqExact(event_id) FROM "+db+".events"); n != uint64(st.Events) {
		t.Fatalf("distinct events %d, want %d", n, st.Events)
	}
	t.Logf("2x2 servers + ZooKeeper ready in %v, migrated ON CLUSTER at %v; %d events through 2 collectors, replica %s killed after %d acknowledged; nothing lost, replicas equal after restart; whole test %v",
		started.Round(time.Millisecond), migrated.Round(time.Millisecond), st.Events, victim.Addr(), killedAt, time.Since(begin).Round(time.Millisecond))
}

// schemaTables is the number of tables the migrations create.
func schemaTables() uint64 {
	var n uint64
	for _, m := range warehouse.Migrations {
		n += uint64(len(m.Tables))
	}
	return n
}
