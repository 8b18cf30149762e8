package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"effidx/event"
	"effidx/simulate"
	"effidx/warehouse"
	"effidx/warehouse/chtest"
)

// The test binary doubles as the effidx binary: started with
// EFFIDX_TEST_AS_MAIN=1 it runs main, so the end-to-end tests can start,
// SIGKILL and restart real effidx processes without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("EFFIDX_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(chtest.Main(m))
}

type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startEffidx runs `effidx args...` and waits until it listens.
func startEffidx(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "EFFIDX_TEST_AS_MAIN=1", "EFFIDX_INGEST_TOKENS="), env...)
	p := &proc{t: t, cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("effidx stderr:\n%s", p.stderr.String())
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "effidx: listening on "); ok {
				lines <- u
			}
		}
	}()
	select {
	case p.url = <-lines:
		return p
	case <-p.exited:
		t.Fatalf("effidx exited before listening:\n%s", p.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("effidx did not listen within 60s:\n%s", p.stderr.String())
	}
	return nil
}

func (p *proc) terminate() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(40 * time.Second):
		p.t.Fatalf("effidx did not stop on SIGTERM:\n%s", p.stderr.String())
	}
}

type lightsAnswer struct {
	Total int `json:"total"`
	Items []struct {
		CaseID       string `json:"case_id"`
		Department   string `json:"department"`
		Light        string `json:"light"`
		WorkdaysLeft int    `json:"workdays_left"`
	} `json:"items"`
}

type answer struct {
	code     int
	resp     ingestAnswer
	retryHdr string
	err      error
}

func postBody(url string, body []byte) answer {
	resp, err := http.Post(url+"/api/v1/events", "application/x-ndjson", bytes.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, retryHdr: resp.Header.Get("Retry-After")}
	if resp.StatusCode == http.StatusAccepted {
		a.err = json.Unmarshal(b, &a.resp)
	}
	return a
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last: %s)", d, what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func countRows(t *testing.T, conn driver.Conn, q string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func groupCounts(t *testing.T, conn driver.Conn, db string) map[string]uint64 {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT toString(kind), department, count() FROM "+db+".events FINAL GROUP BY kind, department")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var kind, dept string
		var n uint64
		if err := rows.Scan(&kind, &dept, &n); err != nil {
			t.Fatal(err)
		}
		out[kind+"/"+dept] = n
	}
	return out
}

func TestSimulatedCityRoundTripsAndResendingChangesNothing(t *testing.T) {
	addr, db := chtest.Addr(t), chtest.Database(t)
	conn := chtest.Conn(t, db)
	dataDir := t.TempDir()
	cfgFile := filepath.Join(t.TempDir(), "effidx.yaml")
	os.WriteFile(cfgFile, []byte("lights:\n  schedule: \"@every 1s\"\n"), 0o644)
	args := []string{"serve", "--config", cfgFile, "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--clickhouse-addr", addr, "--clickhouse-database", db}
	p := startEffidx(t, nil, args...)

	cfg := simulate.DefaultConfig()
	cfg.Days, cfg.CasesPerDay, cfg.Seed, cfg.MalformedShare = 5, 200, 7, 0.01
	cfg.Start = time.Date(2026, 9, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	var stream bytes.Buffer
	st, err := simulate.Generate(cfg, &stream)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{}
	valid, malformed := 0, 0
	for _, line := range bytes.Split(bytes.TrimSpace(stream.Bytes()), []byte{'\n'}) {
		e, err := event.Parse(line, time.Time{}, 0)
		if err != nil {
			malformed++
			continue
		}
		valid++
		want[e.Kind.String()+"/"+e.Department]++
	}
	if malformed == 0 || valid != st.Events {
		t.Fatalf("stream has %d valid (simulator says %d) and %d malformed lines", valid, st.Events, malformed)
	}

	send := func(url string) *poster {
		ps := newPoster(url+"/api/v1/events", "", 500, 3, 0)
		if err := ps.post(context.Background(), bytes.NewReader(stream.Bytes())); err != nil {
			t.Fatal(err)
		}
		return ps
	}
	first := send(p.url)
	if int(first.accepted.Load()) != valid || int(first.rejected.Load()) != malformed {
		t.Fatalf("collector accepted %d and rejected %d; want %d and %d", first.accepted.Load(), first.rejected.Load(), valid, malformed)
	}
	waitFor(t, 60*time.Second, "all events in ClickHouse", func() (bool, string) {
		n := countRows(t, conn, "SELECT count() FROM "+db+".events FINAL")
		return n == uint64(valid), fmt.Sprintf("%d of %d", n, valid)
	})
	got := groupCounts(t, conn, db)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("counts by kind/department in ClickHouse:\n%v\nwant\n%v", got, want)
	}
	// A batch's rejections are inserted after its events: wait for them too.
	waitFor(t, 60*time.Second, "the rejections in ClickHouse", func() (bool, string) {
		n := countRows(t, conn, "SELECT count() FROM "+db+".rejected_events FINAL")
		if n > uint64(malformed) {
			t.Fatalf("rejected_events holds %d rows for %d malformed lines", n, malformed)
		}
		return n > 0, fmt.Sprintf("%d rows for %d malformed lines", n, malformed)
	})
	rejectedBefore := countRows(t, conn, "SELECT count() FROM "+db+".rejected_events FINAL")

	// The lights job (every second here) sees the simulated city's open
	// cases: the window ended in September, so the ones with a limit are red.
	var lit lightsAnswer
	waitFor(t, 30*time.Second, "lights of the open cases", func() (bool, string) {
		code, body := get(t, p.url+"/api/v1/lights?level=red&limit=5")
		lit = lightsAnswer{}
		_ = json.Unmarshal([]byte(body), &lit)
		return code == 200 && lit.Total > 0, fmt.Sprintf("%d %s", code, body)
	})
	if lit.Items[0].Light != "red" || lit.Items[0].WorkdaysLeft >= 0 || lit.Items[0].Department == "" {
		t.Fatalf("first red item: %+v", lit.Items[0])
	}
	if _, metrics := get(t, p.url+"/metrics"); !strings.Contains(metrics, `effidx_open_items{department="`) || !strings.Contains(metrics, "effidx_calendar_covered_until_year 2026") {
		t.Fatalf("/metrics lacks the lights gauges")
	}

	// The same process sees the resend as duplicates; a restarted one has
	// forgotten them, and ClickHouse collapses them instead.
	again := send(p.url)
	if again.accepted.Load() != 0 || int(again.duplicates.Load()) != valid {
		t.Fatalf("resend: accepted %d duplicates %d; want 0 and %d", again.accepted.Load(), again.duplicates.Load(), valid)
	}
	p.terminate()
	p2 := startEffidx(t, nil, args...)
	afterRestart := send(p2.url)
	if int(afterRestart.accepted.Load()) != valid {
		t.Fatalf("resend after restart accepted %d, want %d (collapsed downstream)", afterRestart.accepted.Load(), valid)
	}
	waitFor(t, 60*time.Second, "the resend to land", func() (bool, string) {
		n := countRows(t, conn, "SELECT count() FROM "+db+".events")
		return n >= uint64(2*valid), fmt.Sprintf("%d raw rows", n)
	})
	if got2 := groupCounts(t, conn, db); fmt.Sprint(got2) != fmt.Sprint(want) {
		t.Fatalf("after resending, counts changed:\n%v\nwant\n%v", got2, want)
	}
	if n := countRows(t, conn, "SELECT uniqExact(event_id) FROM "+db+".events"); n != uint64(valid) {
		t.Fatalf("distinct event ids = %d, want %d", n, valid)
	}
	if n := countRows(t, conn, "SELECT count() FROM "+db+".rejected_events FINAL"); n != rejectedBefore {
		t.Fatalf("rejected_events FINAL = %d after resend, was %d", n, rejectedBefore)
	}
	// The first receipt wins: no row of the final table comes from the resend.
	if n := countRows(t, conn, "SELECT count() FROM "+db+".events FINAL WHERE received_at > (SELECT min(received_at) FROM "+db+".events) + 3600"); n != 0 {
		t.Fatalf("%d rows kept from a later resend", n)
	}
}

// loadBody is n events with ids prefix-0..n-1.
func loadBody(prefix string, n int) ([]byte, []string) {
	var b bytes.Buffer
	ids := make([]string, n)
	at := time.Date(2026, 10, 5, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		fmt.Fprintf(&b, `{"event_id":%q,"kind":"service","case_id":"C-%s","type":"accepted","at":%q,"department":"D%02d","channel":"online","legal_days":20,"promised_days":5}`+"\n",
			ids[i], ids[i], at.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i%40)
	}
	return b.Bytes(), ids
}

func distinctIDs(t *testing.T, conn driver.Conn, db, prefix string) map[string]bool {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT DISTINCT event_id FROM "+db+".events WHERE startsWith(event_id, ?)", prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out[id] = true
	}
	return out
}

func TestKill9MidStreamLosesNothingAcknowledged(t *testing.T) {
	addr, db := chtest.Addr(t), chtest.Database(t)
	conn := chtest.Conn(t, db)
	dataDir := t.TempDir()
	args := []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--clickhouse-addr", addr, "--clickhouse-database", db}
	p := startEffidx(t, nil, args...)

	var mu sync.Mutex
	var acked []string
	var failedAfterKill int
	killed := make(chan struct{})
	var wg sync.WaitGroup
	const clients, perRequest, maxRequests = 4, 300, 400
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range maxRequests {
				body, ids := loadBody(fmt.Sprintf("k9-%d-%d", c, r), perRequest)
				a := postBody(p.url, body)
				select {
				case <-killed:
					if a.err != nil || a.code != 202 {
						mu.Lock()
						failedAfterKill++
						mu.Unlock()
						return
					}
				default:
				}
				if a.err == nil && a.code == 202 {
					mu.Lock()
					acked = append(acked, ids...)
					mu.Unlock()
				}
			}
		}()
	}
	waitFor(t, 60*time.Second, "some acknowledged requests", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 40*perRequest, fmt.Sprintf("%d acked", len(acked))
	})
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	close(killed)
	<-p.exited
	wg.Wait()
	ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	mu.Lock()
	ackedAtKill, failed := len(acked), failedAfterKill
	mu.Unlock()
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("effidx ended with %v, want death by SIGKILL", p.cmd.ProcessState)
	}
	if failed == 0 || ackedAtKill >= clients*maxRequests*perRequest {
		t.Fatalf("the kill did not land mid-stream: %d requests failed after it, %d events acked", failed, ackedAtKill)
	}
	t.Logf("killed with %d events acknowledged; %d clients saw their request fail", ackedAtKill, failed)

	startEffidx(t, nil, args...)
	waitFor(t, 60*time.Second, "every acknowledged event in ClickHouse", func() (bool, string) {
		got := distinctIDs(t, conn, db, "k9-")
		missing := 0
		for _, id := range acked {
			if !got[id] {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d acknowledged events missing", missing, len(acked))
	})
	distinct := countRows(t, conn, "SELECT count(DISTINCT event_id) FROM "+db+".events")
	final := countRows(t, conn, "SELECT count() FROM "+db+".events FINAL")
	if final != distinct || distinct < uint64(len(acked)) {
		t.Fatalf("FINAL count %d, distinct ids %d, acknowledged %d: want FINAL = distinct >= acknowledged", final, distinct, len(acked))
	}
	// Beyond the acknowledged ones, at most the requests in flight at the
	// kill may have landed (durable but never answered).
	if extra := distinct - uint64(len(acked)); extra > uint64(clients*perRequest) {
		t.Fatalf("%d unacknowledged events landed; at most %d were in flight", extra, clients*perRequest)
	}
}

func TestClickHouseOutageFillsTheSpoolThenRecovers(t *testing.T) {
	chDir := t.TempDir()
	srv, err := warehouse.StartServer(context.Background(), warehouse.ServerConfig{Dir: chDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	addr := srv.Addr()
	_, port, _ := strings.Cut(addr, ":")
	var tcpPort int
	fmt.Sscan(port, &tcpPort)

	cfgFile := filepath.Join(t.TempDir(), "effidx.yaml")
	os.WriteFile(cfgFile, []byte(`
collector:
  spool:
    max_bytes: 262144
    segment_bytes: 65536
  retry_min: 50ms
  retry_max: 300ms
  flush_interval: 100ms
`), 0o644)
	p := startEffidx(t, nil, "serve", "--config", cfgFile, "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--clickhouse-addr", addr)

	var acked []string
	body, ids := loadBody("out-warm", 100)
	if a := postBody(p.url, body); a.code != 202 {
		t.Fatalf("before the outage: %d %v", a.code, a.err)
	}
	acked = append(acked, ids...)

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	codes := map[int]int{}
	var retryAfter string
	for r := range 200 {
		body, ids := loadBody(fmt.Sprintf("out-%d", r), 100)
		a := postBody(p.url, body)
		if a.err != nil {
			t.Fatal(a.err)
		}
		codes[a.code]++
		if a.code == 202 {
			acked = append(acked, ids...)
		}
		if a.code == 503 {
			retryAfter = a.retryHdr
			break
		}
	}
	if codes[202] < 3 || codes[503] != 1 || retryAfter == "" {
		t.Fatalf("during the outage: answers %v, Retry-After %q; want 202s while the spool has room, then 503 with Retry-After", codes, retryAfter)
	}
	if code, _ := get(t, p.url+"/readyz"); code != 503 {
		t.Fatalf("/readyz = %d while ClickHouse is down, want 503", code)
	}
	if !strings.Contains(p.stderr.String(), "insert into ClickHouse failed") {
		t.Fatalf("no insert failure was logged during the outage:\n%s", p.stderr.String())
	}

	srv2, err := warehouse.StartServer(context.Background(), warehouse.ServerConfig{Dir: chDir, TCPPort: tcpPort})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv2.Stop() })
	conn := chtest.ConnAddr(t, srv2.Addr(), "effidx")
	waitFor(t, 60*time.Second, "the spool to drain into the restarted ClickHouse", func() (bool, string) {
		got := distinctIDs(t, conn, "effidx", "out-")
		missing := 0
		for _, id := range acked {
			if !got[id] {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d acknowledged events missing", missing, len(acked))
	})
	body, _ = loadBody("out-after", 100)
	if a := postBody(p.url, body); a.code != 202 {
		t.Fatalf("after recovery: %d, want 202", a.code)
	}
	t.Logf("outage: %d requests acknowledged from the spool, then 503 (Retry-After %s); %d events recovered", codes[202], retryAfter, len(acked))
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeExposesHealthMetricsAndDrainsOnSIGTERM(t *testing.T) {
	addr, db := chtest.Addr(t), chtest.Database(t)
	conn := chtest.Conn(t, db)
	cfgFile := filepath.Join(t.TempDir(), "effidx.yaml")
	// A flush interval of an hour: only the shutdown drain can store the
	// events before the process exits.
	os.WriteFile(cfgFile, []byte("collector:\n  flush_interval: 1h\n"), 0o644)
	p := startEffidx(t, nil, "serve", "--config", cfgFile, "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--clickhouse-addr", addr, "--clickhouse-database", db)

	if code, body := get(t, p.url+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	// Every answer carries the safety headers; JSON answers a CSP that runs
	// nothing and is framed nowhere.
	resp, err := http.Get(p.url + "/api/v1/scores")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("/api/v1/scores headers: %v", resp.Header)
	}
	if code, body := get(t, p.url+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %q", code, body)
	}
	body, _ := loadBody("m", 3)
	body = append(body, "{broken\n"...)
	if a := postBody(p.url, body); a.code != 202 || a.resp.Accepted != 3 || len(a.resp.Rejected) != 1 {
		t.Fatalf("post = %d %+v", a.code, a.resp)
	}
	_, metrics := get(t, p.url+"/metrics")
	for _, want := range []string{
		"effidx_events_received_total 4",
		"effidx_events_accepted_total 3",
		`effidx_events_rejected_total{reason="invalid_json"} 1`,
		`effidx_ingest_requests_total{outcome="accepted"} 1`,
		`effidx_http_request_duration_seconds_count{code="202",method="post",route="/api/v1/events"} 1`,
		"effidx_spool_bytes ",
		"effidx_spool_max_bytes 1.073741824e+09",
		"effidx_spool_oldest_unconfirmed_age_seconds ",
		"effidx_insert_errors_total 0",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if n := countRows(t, conn, "SELECT count() FROM "+db+".events"); n != 0 {
		t.Fatalf("%d events stored before the flush interval; the test cannot tell a drain from a flush", n)
	}
	p.terminate()
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("effidx exited with %d on SIGTERM:\n%s", code, p.stderr.String())
	}
	if n := countRows(t, conn, "SELECT count() FROM "+db+".events"); n != 3 {
		t.Fatalf("after a graceful shutdown ClickHouse holds %d events, want 3", n)
	}
	if n := countRows(t, conn, "SELECT count() FROM "+db+".rejected_events"); n != 1 {
		t.Fatalf("after a graceful shutdown rejected_events holds %d rows, want 1", n)
	}
}

func TestDemoLoadsTheCityOnAnEmbeddedClickHouseAndReportsLights(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{"demo", "--exit", "--days", "3", "--cases-per-day", "100", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"}
	if err := Run(t.Context(), args, nil, &out, &errOut); err != nil {
		t.Fatalf("demo: %v\n%s", err, errOut.String())
	}
	var sent, malformed, accepted, rejected, stored int
	var secs, rate float64
	line := ""
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "events sent") {
			line = l
		}
	}
	if _, err := fmt.Sscanf(line, "effidx demo: %d events sent (%d malformed) in %fs (%f events/s): accepted %d, rejected %d, in ClickHouse %d",
		&sent, &malformed, &secs, &rate, &accepted, &rejected, &stored); err != nil {
		t.Fatalf("demo output %q: %v", out.String(), err)
	}
	if sent < 500 || accepted != sent || stored != sent || rejected != malformed {
		t.Fatalf("demo: sent %d, accepted %d, stored %d, malformed %d, rejected %d", sent, accepted, stored, malformed, rejected)
	}
	if !strings.Contains(out.String(), "lights of the open items:") {
		t.Fatalf("demo did not report lights:\n%s", out.String())
	}
	// The index of the simulated days is computed before the demo serves:
	// at least its year, quarter, month and three days.
	var periods int
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "effidx demo: index computed for ") {
			fmt.Sscanf(l, "effidx demo: index computed for %d periods", &periods)
		}
	}
	if periods < 6 {
		t.Fatalf("demo computed the index for %d periods:\n%s\n%s", periods, out.String(), errOut.String())
	}
}

func TestBenchCommandsEndWithTheirJSONFigures(t *testing.T) {
	addr := chtest.Addr(t)
	// bench ingest starts the collector as a child: this test binary,
	// which runs main when EFFIDX_TEST_AS_MAIN is set.
	t.Setenv("EFFIDX_TEST_AS_MAIN", "1")
	tests := []struct {
		args []string
		keys []string
	}{
		{[]string{"bench", "ingest", "--events", "5000", "--clickhouse-addr", addr}, []string{"events_per_s", "landed_per_s", "baseline_rows_per_s", "rss_mb"}},
		{[]string{"bench", "lights", "--items", "3000", "--clickhouse-addr", addr}, []string{"items", "run_s", "items_per_s"}},
	}
	for _, tt := range tests {
		t.Run(tt.args[1], func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := Run(t.Context(), tt.args, nil, &out, &errOut); err != nil {
				t.Fatalf("%v: %v\n%s", tt.args, err, errOut.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			var figures map[string]any
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &figures); err != nil {
				t.Fatalf("last line is not JSON: %q", lines[len(lines)-1])
			}
			for _, k := range tt.keys {
				if v, ok := figures[k].(float64); !ok || v <= 0 {
					t.Errorf("figure %s = %v, want a positive number", k, figures[k])
				}
			}
			// A tiny run may round these to 0; they must still be there.
			for _, k := range []string{"ratio", "p99_ms"} {
				if _, ok := figures[k]; !ok && tt.args[1] == "ingest" {
					t.Errorf("figure %s missing", k)
				}
			}
		})
	}
}
