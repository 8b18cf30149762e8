//go:build compat

// Tests of the check on both real engines; they need chDB from npm, so
// they run in make compat (go test -tags compat), not in make test.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"effidx/warehouse"
)

// Statements that break on current ClickHouse, the way the service's SQL
// could, fail the check with the statement and both engines' answers
// shown; those that agree do not.
func TestABrokenStatementFailsTheCheckShowingItAndBothAnswers(t *testing.T) {
	const db = "compat_broken"
	type stmt struct {
		op, sql string
		rows    int
		wantOK  bool
		want    []string // in the report of a failure, besides the statement
	}
	stmts := []stmt{
		{"exec", "CREATE TABLE " + db + ".t (x UInt8, at DateTime('Asia/Shanghai')) ENGINE = MergeTree ORDER BY x", 0, true, nil},
		{"insert", "INSERT INTO " + db + ".t (x, at) VALUES\n(1, '2026-10-01 08:00:00'),\n(2, '2026-10-02 09:30:00')", 2, true, nil},
		{"query", "SELECT x, at FROM " + db + ".t ORDER BY x", 0, true, nil},
		// Both engines keep a resend's duplicates until OPTIMIZE merges them.
		{"exec", "CREATE TABLE " + db + ".r (id String, ver UInt8) ENGINE = ReplacingMergeTree(ver) ORDER BY id", 0, true, nil},
		{"insert", "INSERT INTO " + db + ".r (id, ver) VALUES\n('a', 1),\n('a', 1),\n('b', 1)", 3, true, nil},
		{"query", "SELECT id, count() FROM " + db + ".r GROUP BY id", 0, true, nil},
		{"exec", "OPTIMIZE TABLE " + db + ".r FINAL", 0, true, nil},
		{"query", "SELECT count() FROM " + db + ".r", 0, true, nil},
		// Current releases want an alias on a subquery in a JOIN.
		{"query", "SELECT x, name FROM " + db + ".t ANY LEFT JOIN (SELECT 1 AS x, 'one' AS name) USING x", 0, false,
			[]string{"current ClickHouse refuses it", "1\tone", "2\t", "no alias for subquery"}},
		// Current releases make a scalar subquery Nullable.
		{"query", "SELECT toTypeName((SELECT max(x) FROM " + db + ".t))", 0, false,
			[]string{"row 1 differs", "    UInt8", "    Nullable(UInt8)"}},
		// The zero Date turned into text reaches Go as different strings.
		{"query", "SELECT toString(toDate(0))", 0, false,
			[]string{"turns dates into text", "    0000-00-00", "    1970-01-01"}},
	}

	dir := t.TempDir()
	var rec bytes.Buffer
	enc := json.NewEncoder(&rec)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(enc.Encode(warehouse.Recorded{Op: "open", Database: db, Server: "18.16.1", Timezone: "Asia/Shanghai"}))
	for i, s := range stmts {
		must(enc.Encode(warehouse.Recorded{Op: s.op, Database: db, SQL: s.sql, Rows: s.rows, From: "compat/broken_test.go statement " + strconv.Itoa(i+1)}))
	}
	must(os.WriteFile(filepath.Join(dir, "sql-1.jsonl"), rec.Bytes(), 0o644))

	ctx := context.Background()
	compatDir, err := filepath.Abs(".")
	must(err)
	modules, err := ensureChDB(ctx, compatDir, os.Stderr)
	must(err)
	srv, err := warehouse.StartServer(ctx, warehouse.ServerConfig{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	must(err)
	defer srv.Stop()
	old, err := newServerEngine(srv.HTTPAddr())
	must(err)
	defer old.Close()
	loaded, err := loadRecording(dir)
	must(err)
	cur, err := startChDB(compatDir, modules, loaded.Timezone)
	must(err)
	defer cur.Close()
	var out bytes.Buffer
	r, err := newReplayer(old, cur, loaded.Timezone, &out)
	must(err)
	sum, err := r.replay(loaded.Statements)
	must(err)
	report := out.String()
	t.Logf("the check reported:\n%s", report)

	wantFailed := 0
	for i, s := range stmts {
		failure := reportOf(report, i+1)
		if s.wantOK {
			if failure != "" {
				t.Errorf("statement %d failed, want it to agree:\n%s", i+1, failure)
			}
			continue
		}
		wantFailed++
		if failure == "" {
			t.Errorf("statement %d (%s) passed, want a failure", i+1, s.sql)
			continue
		}
		for _, w := range append([]string{s.sql, old.Name() + " answered:", cur.Name() + " answered:"}, s.want...) {
			if !strings.Contains(failure, w) {
				t.Errorf("the failure of statement %d does not show %q:\n%s", i+1, w, failure)
			}
		}
	}
	if sum.Failed != wantFailed || sum.Run != len(stmts) {
		t.Errorf("summary: %d run, %d failed; want %d run, %d failed", sum.Run, sum.Failed, len(stmts), wantFailed)
	}
}

// reportOf is the report of statement n's failure, or "".
func reportOf(report string, n int) string {
	head := "--- FAIL #" + strconv.Itoa(n) + ":"
	i := strings.Index(report, head)
	if i < 0 {
		return ""
	}
	rest := report[i+len(head):]
	if j := strings.Index(rest, "\n--- FAIL #"); j >= 0 {
		rest = rest[:j]
	}
	return head + rest
}
