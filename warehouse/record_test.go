package warehouse_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"effidx/event"
	"effidx/warehouse"
	"effidx/warehouse/chtest"
)

// recordingWarehouse opens a warehouse on addr and database db whose
// statements are recorded; recorded returns the lines written so far.
func recordingWarehouse(t *testing.T, addr, db string) (wh *warehouse.Warehouse, recorded func() []warehouse.Recorded) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(warehouse.RecordEnv, dir)
	cfg := warehouse.DefaultConfig()
	cfg.Addr, cfg.Database = addr, db
	wh, err := warehouse.Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("open recording warehouse: %v", err)
	}
	t.Cleanup(func() { wh.Close() })
	return wh, func() []warehouse.Recorded {
		t.Helper()
		files, err := filepath.Glob(filepath.Join(dir, "sql-*.jsonl"))
		if err != nil || len(files) != 1 {
			t.Fatalf("recording files in %s: %v %v, want one", dir, files, err)
		}
		f, err := os.Open(files[0])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var out []warehouse.Recorded
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<26)
		for sc.Scan() {
			var r warehouse.Recorded
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("recording line %q: %v", sc.Text(), err)
			}
			out = append(out, r)
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// strings of every row of a query whose columns are all String.
func stringRows(t *testing.T, conn driver.Conn, q string, args ...any) [][]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		row := make([]string, len(rows.Columns()))
		dest := make([]any, len(row))
		for i := range row {
			dest[i] = &row[i]
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

func TestRecordedStatementMeansWhatTheDriverSent(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	instant := time.Unix(1760000000, 0) // in time.Local
	// Each query returns only String columns: the type ClickHouse gave the
	// argument and its value, both as the driver bound it and as recorded.
	named := "SELECT toTypeName(@v), toString(@v)"
	tests := []struct {
		name  string
		query string
		args  []any
	}{
		{"a string with a quote, a backslash, a NUL, a newline and Chinese", "SELECT toTypeName(@v), hex(@v)", []any{clickhouse.Named("v", "it's a \\ \x00 \n 食品经营许可")}},
		{"a negative int64", named, []any{clickhouse.Named("v", int64(-42))}},
		{"the largest uint64", named, []any{clickhouse.Named("v", uint64(math.MaxUint64))}},
		{"an int32 slice", named, []any{clickhouse.Named("v", []int32{1, -2, 3})}},
		{"a string slice with a quote", named, []any{clickhouse.Named("v", []string{"a", "b'c"})}},
		{"an empty string slice", named, []any{clickhouse.Named("v", []string{})}},
		{"a whole float64", named, []any{clickhouse.Named("v", 1.0)}},
		{"a float64 NaN", named, []any{clickhouse.Named("v", math.NaN())}},
		{"minus infinity", named, []any{clickhouse.Named("v", math.Inf(-1))}},
		{"a float32", named, []any{clickhouse.Named("v", float32(0.1))}},
		{"a bool", named, []any{clickhouse.Named("v", true)}},
		{"a Stringer integer, sent as its text", named, []any{clickhouse.Named("v", event.KindTask)}},
		{"a GroupSet, a tuple for IN", "SELECT toTypeName(@v), toString(2 IN @v)", []any{clickhouse.Named("v", clickhouse.GroupSet{Value: []any{1, 2, int64(-3)}})}},
		{"GroupSets, tuples for IN", "SELECT toString((2, 'b') IN (@v)), toString((2, 'a') IN (@v))", []any{clickhouse.Named("v", []clickhouse.GroupSet{{Value: []any{1, "a"}}, {Value: []any{2, "b"}}})}},
		{"an ArraySet", named, []any{clickhouse.Named("v", clickhouse.ArraySet{int8(1), int64(-2)})}},
		{"a time in time.Local", named, []any{clickhouse.Named("v", instant)}},
		{"a time in UTC", named, []any{clickhouse.Named("v", instant.UTC())}},
		{"a time in the server's zone", named, []any{clickhouse.Named("v", instant.In(shanghai))}},
		{"a time in another zone", named, []any{clickhouse.Named("v", instant.In(newYork))}},
		{"the zero Unix time", named, []any{clickhouse.Named("v", time.Unix(0, 0))}},
		{"positional ? beside quoted and commented ones", "SELECT toTypeName(?), toString(?) /* ? */, '?' -- ?\n", []any{"a", int64(5)}},
		{"an escaped \\? stays a question mark", "SELECT '\\?', toString(?)", []any{int64(1)}},
		{"numbered $2 before $1", "SELECT toString($2), toString($1)", []any{"a", int64(2)}},
		{"@v inside a string is text", "SELECT '@v', toString(@v)", []any{clickhouse.Named("v", 7)}},
	}
	wh, recorded := recordingWarehouse(t, chtest.Addr(t), "rec_bind")
	plain := chtest.Conn(t, "default")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sent := stringRows(t, wh.Conn(), tt.query, tt.args...)
			all := recorded()
			r := all[len(all)-1]
			if r.Op != "query" || r.Unbound != "" || r.Err != "" || r.Database != "rec_bind" {
				t.Fatalf("recorded %+v, want a bound query of rec_bind", r)
			}
			if !strings.HasPrefix(r.From, "warehouse/record_test.go:") {
				t.Errorf("recorded from %q, want this test file", r.From)
			}
			replayed := stringRows(t, plain, r.SQL)
			if !slices.EqualFunc(sent, replayed, slices.Equal) {
				t.Fatalf("driver's binding answered %q, the recorded text %q\nrecorded: %s", sent, replayed, r.SQL)
			}
		})
	}
}

func TestWhatCannotBeRecordedAsSentIsFlagged(t *testing.T) {
	tests := []struct {
		name        string
		query       string
		args        []any
		wantUnbound string
		wantErr     bool
	}{
		{"an argument kind the recorder does not render", "SELECT toString(@v)", []any{clickhouse.Named("v", 5*time.Second)}, "no rendering of time.Duration", false},
		{"a time with a sub-second scale", "SELECT toString(@v)", []any{clickhouse.DateNamed("v", time.Now(), clickhouse.MilliSeconds)}, "scale", true},
		{"{name:Type}-like text, sent as server-side parameters by current servers", "SELECT '{a:b}', toString(?)", []any{int64(1)}, "server-side parameters", false},
		{"a statement the server refuses", "SELECT no_such_column", nil, "", true},
	}
	wh, recorded := recordingWarehouse(t, chtest.Addr(t), "rec_flag")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := wh.Conn().Query(context.Background(), tt.query, tt.args...)
			if err == nil {
				rows.Close()
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("Query error %v, want error %v", err, tt.wantErr)
			}
			all := recorded()
			r := all[len(all)-1]
			if tt.wantUnbound == "" && r.Unbound != "" || !strings.Contains(r.Unbound, tt.wantUnbound) {
				t.Errorf("recorded unbound %q, want %q", r.Unbound, tt.wantUnbound)
			}
			if (r.Err != "") != tt.wantErr {
				t.Errorf("recorded error %q, want one: %v", r.Err, tt.wantErr)
			}
		})
	}
}

// The inserts' rows, recorded as VALUES and replayed over HTTP (as compat
// does: over the native protocol an INSERT with inline VALUES hangs on
// 18.16), give back the rows the batches stored.
func TestRecordedInsertsReplayToTheSameRows(t *testing.T) {
	srv := startServer(t, t.TempDir())
	ctx := context.Background()
	wh, recorded := recordingWarehouse(t, srv.Addr(), "rec_src")
	if _, err := wh.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rows := storedSample()
	rows[0].MatterName = "it's \\ a\ttab\nand a newline"
	rej := []event.StoredRejection{{Rejection: event.Rejection{Index: 3, Raw: []byte("{\"a\":'\x00'}"), Error: "invalid JSON", Department: "D09"}, ReceivedAt: rows[0].ReceivedAt, Source: "hall", RequestID: "r1"}}
	if err := wh.WriteBatch(ctx, &event.Batch{Events: rows, Rejected: rej}); err != nil {
		t.Fatal(err)
	}
	if err := wh.WriteLightChanges(ctx, []warehouse.LightChange{{Kind: "step", CaseID: "SV-1", Item: "s1", Department: "D01", Light: "red",
		Since: time.Unix(1760000000, 0), ObservedAt: time.Unix(1760000100, 0).UTC(), Calendar: "cn-2026"}}); err != nil {
		t.Fatal(err)
	}
	// Floats that need care: NaN (an n/a value), infinity, a long fraction.
	b, err := wh.Conn().PrepareBatch(ctx, "INSERT INTO rec_src.indicator_results (period, period_kind, subject_type, subject, indicator, numerator, denominator, value, catalog, calendar, computed_at, run)")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []float64{math.NaN(), math.Inf(1), 1.0 / 3, 1e-300} {
		if err := b.Append("2026-10", int8(2), int8(1), "D01", "S1."+string(rune('1'+i)), v, 0.0, v, "cat", "cal", time.Unix(1760000000, 0), uint64(math.MaxUint64)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}

	cfg := warehouse.DefaultConfig()
	cfg.Addr, cfg.Database = srv.Addr(), "rec_dst"
	dst, err := warehouse.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := dst.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	inserts := 0
	for _, r := range recorded() {
		if r.Op != "insert" || strings.Contains(r.SQL, ".schema_migrations") {
			continue
		}
		if r.Unbound != "" || r.Err != "" {
			t.Fatalf("insert recorded with unbound %q, error %q", r.Unbound, r.Err)
		}
		inserts++
		httpQuery(t, srv.HTTPAddr(), strings.ReplaceAll(r.SQL, "rec_src.", "rec_dst."))
	}
	if inserts != 4 {
		t.Fatalf("%d inserts recorded, want 4 (events, rejected_events, light_changes, indicator_results)", inserts)
	}
	for _, table := range []string{"events", "rejected_events", "light_changes", "indicator_results"} {
		want := sortedLines(httpQuery(t, srv.HTTPAddr(), "SELECT * FROM rec_src."+table))
		got := sortedLines(httpQuery(t, srv.HTTPAddr(), "SELECT * FROM rec_dst."+table))
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s replayed from the recording:\n%s\nstored by the batches:\n%s", table, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func httpQuery(t *testing.T, addr, q string) string {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/", "text/plain", strings.NewReader(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d: %s\nquery: %.300s", resp.StatusCode, body, q)
	}
	return string(body)
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	slices.Sort(lines)
	return lines
}
