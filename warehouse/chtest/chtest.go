// Package chtest gives tests a real ClickHouse: the one named by
// EFFIDX_TEST_CLICKHOUSE_ADDR, or an embedded clickhouse-server shared by
// all tests of one test binary. Tests never skip for want of a server: a
// missing clickhouse-server is a failure, so CI cannot go green by accident.
package chtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"effidx/event"
	"effidx/simulate"
	"effidx/warehouse"
)

// AddrEnv names an external ClickHouse (native protocol host:port, user
// default, no password) to use instead of an embedded server.
const AddrEnv = "EFFIDX_TEST_CLICKHOUSE_ADDR"

const notFoundMsg = "clickhouse-server not found: run `make test` (installs it) or set " + AddrEnv

// The shared embedded server. A start is attempted once per test binary;
// its error is remembered so every later test fails fast the same way.
var shared struct {
	mu      sync.Mutex
	started bool
	srv     *warehouse.Server
	dir     string
	err     error
}

// Addr returns the address of a real ClickHouse for tests:
// EFFIDX_TEST_CLICKHOUSE_ADDR when set, else an embedded server started once
// per test binary (in a temp dir) via warehouse.StartServer. It never skips:
// without clickhouse-server it fails the test, saying how to get one.
func Addr(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv(AddrEnv); addr != "" {
		return addr
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.started {
		shared.started = true
		shared.srv, shared.dir, shared.err = startShared()
	}
	if errors.Is(shared.err, warehouse.ErrBinaryNotFound) {
		t.Fatal(notFoundMsg)
	}
	if shared.err != nil {
		t.Fatalf("chtest: starting embedded clickhouse-server: %v", shared.err)
	}
	return shared.srv.Addr()
}

func startShared() (*warehouse.Server, string, error) {
	dir, err := os.MkdirTemp("", "effidx-chtest-")
	if err != nil {
		return nil, "", err
	}
	srv, err := warehouse.StartServer(context.Background(), warehouse.ServerConfig{
		Dir:    dir,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, "", err
	}
	return srv, dir, nil
}

// Main wraps testing.M: use as
//
//	func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }
//
// It runs the tests, then stops the embedded server (if one was started) and
// removes its temp dir. Without it the server still dies with the test
// binary (Pdeathsig) but its temp dir is left behind.
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "chtest:", err)
		}
		shared.srv = nil
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
		shared.dir = ""
	}
	return code
}

// Database creates a fresh uniquely named database (test_<random hex>) on
// the test server, drops it on t.Cleanup, and returns its name.
func Database(t testing.TB) string {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "test_" + hex.EncodeToString(b[:])
	conn := Conn(t, "default")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("chtest: CREATE DATABASE %s: %v", name, err)
	}
	// Registered after Conn's Close, so it runs before it (cleanups are LIFO).
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("chtest: DROP DATABASE %s: %v", name, err)
		}
	})
	return name
}

// Conn opens a clickhouse-go native connection to database db on the test
// server, checks it with a ping, and closes it on t.Cleanup.
func Conn(t testing.TB, db string) driver.Conn {
	t.Helper()
	return ConnAddr(t, Addr(t), db)
}

// ConnAddr is Conn for a server of the test's own (one it stops and
// restarts, say).
func ConnAddr(t testing.TB, addr, db string) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Auth:        clickhouse.Auth{Database: db, Username: "default"},
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("chtest: open %s/%s: %v", addr, db, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("chtest: ping %s/%s: %v", addr, db, err)
	}
	return conn
}

// Warehouse opens a warehouse on a fresh database of the test server with
// every migration applied; both go away on t.Cleanup.
func Warehouse(t testing.TB) *warehouse.Warehouse {
	t.Helper()
	cfg := warehouse.DefaultConfig()
	cfg.Addr, cfg.Database = Addr(t), Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wh, err := warehouse.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatalf("chtest: open warehouse %s: %v", cfg.Database, err)
	}
	t.Cleanup(func() { wh.Close() })
	if _, err := wh.Migrate(ctx); err != nil {
		t.Fatalf("chtest: migrate %s: %v", cfg.Database, err)
	}
	return wh
}

// LoadSimulated writes the city cfg simulates into wh, each event received
// a minute after it happened, and returns how many events that was.
func LoadSimulated(t testing.TB, wh *warehouse.Warehouse, cfg simulate.Config) int {
	t.Helper()
	var buf bytes.Buffer
	if _, err := simulate.Generate(cfg, &buf); err != nil {
		t.Fatalf("chtest: simulate: %v", err)
	}
	var evs []event.Stored
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if e, err := event.Parse(sc.Bytes(), time.Time{}, 0); err == nil {
			evs = append(evs, event.Stored{Event: e, ReceivedAt: e.At.Add(time.Minute), Source: "sim"})
		}
	}
	if err := wh.WriteBatch(context.Background(), &event.Batch{Events: evs}); err != nil {
		t.Fatalf("chtest: write the simulated city: %v", err)
	}
	return len(evs)
}
