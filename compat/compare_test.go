package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const shanghaiEpoch = "1970-01-01 08:00:00"

func TestJudgeComparesAnswersAsTheyMatterToTheService(t *testing.T) {
	ok := func(out string) answer { return answer{Out: out} }
	refused := answer{Err: "Code: 47. DB::Exception: Unknown identifier"}
	tests := []struct {
		name        string
		sql         string
		recordedErr string
		old, cur    answer
		wantOK      bool
		wantNote    string
		wantWhy     string
	}{
		{"the same rows in another order, unordered query", "SELECT a, b FROM t",
			"", ok("x\t1\ny\t2\n"), ok("y\t2\nx\t1\n"), true, "", ""},
		{"the same rows in another order, the query orders them", "SELECT a FROM t ORDER BY b",
			"", ok("x\ny\n"), ok("y\nx\n"), false, "", "in another order"},
		{"an ORDER BY only inside a subquery leaves the order free", "SELECT a FROM (SELECT a FROM t ORDER BY a) GROUP BY a",
			"", ok("x\ny\n"), ok("y\nx\n"), true, "", ""},
		{"floats within a relative 1e-9", "SELECT sum(v) FROM t",
			"", ok("0.30000000000000004\n"), ok("0.3\n"), true, "", ""},
		{"floats further apart", "SELECT sum(v) FROM t",
			"", ok("0.3001\n"), ok("0.3\n"), false, "", "row 1 differs"},
		{"integers compare exactly, however large", "SELECT sum(n) FROM t",
			"", ok("18446744073709551615\n"), ok("18446744073709551614\n"), false, "", "row 1 differs"},
		{"NaN printed as -nan by 18.16", "SELECT v FROM t",
			"", ok("-nan\n"), ok("nan\n"), true, "", ""},
		{"arrays of floats element by element", "SELECT arr FROM t",
			"", ok("[0.1,0.30000000000000004]\n"), ok("[0.1,0.3]\n"), true, "", ""},
		{"a row more on one engine", "SELECT a FROM t",
			"", ok("x\ny\n"), ok("x\n"), false, "", "2 rows on 18.16, 1 on the current engine"},
		{"the zero DateTime and Date, read by the driver as values", "SELECT since, due FROM t",
			"", ok("0000-00-00 00:00:00\t0000-00-00\n"), ok(shanghaiEpoch + "\t1970-01-01\n"), true, noteZeroDate, ""},
		{"the zero Date turned into text by the query", "SELECT toString(due) FROM t",
			"", ok("0000-00-00\n"), ok("1970-01-01\n"), false, "", "turns dates into text"},
		{"groupArray elements in another order", "SELECT groupArray(x) FROM t",
			"", ok("[3,1,1]\t1,2\n"), ok("[1,1,3]\t2,1\n"), true, noteUnordered, ""},
		{"other arrays keep their order", "SELECT arraySort(x) FROM t",
			"", ok("[3,1]\n"), ok("[1,3]\n"), false, "", "row 1 differs"},
		{"groupArray with other elements", "SELECT groupArray(x) FROM t",
			"", ok("[1,1]\n"), ok("[1]\n"), false, "", "row 1 differs"},
		{"refused by the current engine only", "SELECT * FROM (SELECT 1) JOIN (SELECT 1) USING dummy",
			"", ok("1\n"), refused, false, "", "current ClickHouse refuses it"},
		{"refused by 18.16 only", "SELECT 1",
			"", refused, ok("1\n"), false, "", "ClickHouse 18.16 refuses it"},
		{"refused by both, as when recorded", "SELECT no_such_column",
			"Code: 47", refused, refused, true, noteBothRefuse, ""},
		{"refused by both though it ran when recorded", "SELECT x FROM t",
			"", refused, refused, false, "", "both engines refuse it"},
		{"the engine's own version", "SELECT version()",
			"", ok("18.16.1\n"), ok("26.7.2.1\n"), true, noteNotCompare, ""},
		{"an insert mentioning system. in its data compares plainly", "INSERT INTO t (s) VALUES ('system.x')",
			"", ok(""), ok(""), true, "", ""},
		{"a read of the _part virtual column: part names follow the engine's merges", "SELECT countIf(_part != 'all_1_7_2') FROM t",
			"", ok("16425\n"), ok("0\n"), true, noteNotCompare, ""},
		{"a column merely named like it compares plainly", "SELECT my_part FROM t",
			"", ok("1\n"), ok("2\n"), false, "", "row 1 differs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := judge(tt.sql, tt.recordedErr, tt.old, tt.cur, shanghaiEpoch)
			if v.OK != tt.wantOK || v.Note != tt.wantNote || !strings.Contains(v.Problem, tt.wantWhy) || (tt.wantOK && v.Problem != "") {
				t.Fatalf("judge = %+v, want ok %v, note %q, problem containing %q", v, tt.wantOK, tt.wantNote, tt.wantWhy)
			}
		})
	}
}

func TestOrdersRowsLooksAtTheOutermostQueryOnly(t *testing.T) {
	tests := []struct {
		sql  string
		want bool
	}{
		{"SELECT a FROM t ORDER BY a", true},
		{"SELECT a FROM t\norder\n  by a LIMIT 3", true},
		{"SELECT a FROM (SELECT a FROM t ORDER BY a)", false},
		{"SELECT 'ORDER BY' FROM t", false},
		{"SELECT a FROM t -- ORDER BY a\n", false},
		{"SELECT a FROM t /* ORDER BY a */", false},
		{"SELECT a AS border_by FROM t", false},
		{"SELECT a FROM t ORDER BY_x", false},
	}
	for _, tt := range tests {
		if got := ordersRows(tt.sql); got != tt.want {
			t.Errorf("ordersRows(%q) = %v, want %v", tt.sql, got, tt.want)
		}
	}
}

func TestReadsAreToldFromWritesByTheirFirstWord(t *testing.T) {
	tests := []struct {
		sql  string
		want bool
	}{
		{"SELECT 1", true},
		{"  (SELECT 1) UNION ALL (SELECT 2)", true},
		{"-- a comment\nWITH 1 AS x SELECT x", true},
		{"/* c */ select 1", true},
		{"-- migration 1: events\nCREATE TABLE IF NOT EXISTS d.events (a UInt8) ENGINE = Memory", false},
		{"INSERT INTO d.t (a) VALUES (1)", false},
		{"OPTIMIZE TABLE d.t FINAL", false},
	}
	for _, tt := range tests {
		if got := isRead(tt.sql); got != tt.want {
			t.Errorf("isRead(%q) = %v, want %v", tt.sql, got, tt.want)
		}
	}
}

func TestTablesOfFindsTheDatabasesTablesOnly(t *testing.T) {
	got := tablesOf("SELECT * FROM db.events AS e JOIN db.light_changes USING (case_id) WHERE x IN (SELECT 1 FROM db.events) AND y = 'otherdb.events'", "db")
	want := []string{"db.events", "db.light_changes"}
	if !slices.Equal(got, want) {
		t.Fatalf("tablesOf = %q, want %q", got, want)
	}
}

func TestCallSitesAreFoundInTheSourceAndMatchedToRecordedOrigins(t *testing.T) {
	root := t.TempDir()
	write := func(rel, text string) {
		t.Helper()
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("store/store.go", `package store

func (s *Store) Read(ctx context.Context) error {
	rows, err := s.conn.Query(ctx,
		"SELECT 1")
	_ = r.URL.Query()
	return s.conn.Exec(context.Background(), "OPTIMIZE TABLE t")
}

func helper(ctx context.Context) { m.Select(ctx) }
`)
	write("store/store_test.go", "package store\n\nfunc f(ctx context.Context) { conn.Query(ctx, \"SELECT 2\") }\n")
	write("cmd/tool/main.go", "package main\n\nfunc main() { conn.Query(ctx, \"SELECT 3\") }\n")
	write("warehouse/warehouse.go", "package warehouse\n\nfunc open(ctx context.Context) { conn.QueryRow(ctx, \"SELECT version()\") }\n")

	sites, err := sqlCallSites(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sites {
		got = append(got, s.String())
	}
	want := []string{"store/store.go:4 ((*Store).Read)", "store/store.go:7 ((*Store).Read)"}
	if !slices.Equal(got, want) {
		t.Fatalf("call sites %q, want %q (tests, commands, exempt places and r.URL.Query() left out)", got, want)
	}
	// A call over two lines is exercised from either line.
	missed := unexercised(sites, map[string]bool{"store/store.go:5": true, "other/file.go:7": true})
	if len(missed) != 1 || missed[0].Line != 7 {
		t.Fatalf("unexercised = %v, want only store/store.go:7", missed)
	}
}
