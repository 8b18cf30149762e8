package warehouse

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// A Migration is one versioned schema step. Its statements are idempotent
// (IF NOT EXISTS), which is what makes running migrations twice, or from
// several replicas at once, safe without a lock.
type Migration struct {
	Version int
	Name    string
	Tables  []Table
}

// Table is a table in a form that renders both for one server and for a
// cluster (Replicated* local table + Distributed table over it).
type Table struct {
	Name        string
	Columns     []Column
	Engine      string // MergeTree family, without "Replicated", e.g. "ReplacingMergeTree(ver)"
	PartitionBy string
	OrderBy     string
	ShardBy     string // sharding key of the Distributed table
	Comment     string // why the table exists (rendered as an SQL comment)
}

// Column is one column; Type may contain {tz}, replaced by the time zone.
type Column struct{ Name, Type string }

// Render says how to render migrations.
type Render struct {
	Database string
	Timezone string
	Cluster  string // "" = single node
	// NoReplication renders a cluster without Keeper/ZooKeeper: plain
	// MergeTree-family local tables and Distributed tables, without
	// ON CLUSTER (distributed DDL needs Keeper too; ClickHouse answers "DDL
	// background thread is not initialized"), so the statements are run on
	// every host of the cluster in turn (see Migrate). The zero value keeps
	// the replicated rendering.
	NoReplication bool
}

// onCluster is the ON CLUSTER clause of a DDL statement, if any.
func (r Render) onCluster() string {
	if r.Cluster == "" || r.NoReplication {
		return ""
	}
	return " ON CLUSTER " + r.Cluster
}

// perHost reports whether the statements must be run on every host.
func (r Render) perHost() bool { return r.Cluster != "" && r.NoReplication }

// Statements renders m as the SQL statements to run, in order.
func (m Migration) Statements(r Render) []string {
	var out []string
	for _, t := range m.Tables {
		out = append(out, t.statements(r)...)
	}
	return out
}

// Checksum identifies the rendered text of m; it is recorded with the
// version so that a migration edited after being applied is noticed.
func (m Migration) Checksum(r Render) string {
	h := sha256.New()
	for _, s := range m.Statements(r) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (t Table) columns(r Render) string {
	var b strings.Builder
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "    %s %s", c.Name, strings.ReplaceAll(c.Type, "{tz}", r.Timezone))
	}
	return b.String()
}

func (t Table) statements(r Render) []string {
	head := ""
	if t.Comment != "" {
		head = "-- " + t.Comment + "\n"
	}
	tail := ""
	if t.PartitionBy != "" {
		tail += "\nPARTITION BY " + t.PartitionBy
	}
	tail += "\nORDER BY " + t.OrderBy
	if r.Cluster == "" {
		return []string{fmt.Sprintf("%sCREATE TABLE IF NOT EXISTS %s.%s\n(\n%s\n)\nENGINE = %s%s",
			head, r.Database, t.Name, t.columns(r), t.Engine, tail)}
	}
	local := t.Name + "_local"
	engine := t.Engine
	if !r.NoReplication {
		engine = replicated(t.Engine, r.Database, local)
	}
	return []string{
		fmt.Sprintf("%sCREATE TABLE IF NOT EXISTS %s.%s%s\n(\n%s\n)\nENGINE = %s%s",
			head, r.Database, local, r.onCluster(), t.columns(r), engine, tail),
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s%s AS %s.%s\nENGINE = Distributed(%s, %s, %s, %s)",
			r.Database, t.Name, r.onCluster(), r.Database, local, r.Cluster, r.Database, local, t.ShardBy),
	}
}

// replicated turns "ReplacingMergeTree(ver)" into
// "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/t', '{replica}', ver)".
func replicated(engine, db, table string) string {
	name, args, _ := strings.Cut(engine, "(")
	args = strings.TrimSuffix(args, ")")
	zk := fmt.Sprintf("'/clickhouse/tables/{shard}/%s/%s', '{replica}'", db, table)
	if args != "" {
		zk += ", " + args
	}
	return "Replicated" + name + "(" + zk + ")"
}

// createDatabase renders the statement that creates the database.
func createDatabase(r Render) string {
	return "CREATE DATABASE IF NOT EXISTS " + r.Database + r.onCluster()
}

// migrationsTable renders the table that records applied migrations. It is
// local to each server (not replicated): every server records what it saw.
func migrationsTable(r Render) string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.schema_migrations%s
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime('%s')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version`, r.Database, r.onCluster(), r.Timezone)
}

// Event enums, shared by the schema and the inserts: the Enum8 values are
// the Go enum values, so rows are appended as plain int8.
const (
	kindEnum     = "Enum8('service' = 1, 'internal' = 2, 'scenario' = 3, 'ticket' = 4, 'task' = 5)"
	typeEnum     = "Enum8('submitted' = 1, 'accepted' = 2, 'rejected' = 3, 'step_started' = 4, 'step_finished' = 5, 'suspended' = 6, 'resumed' = 7, 'visit' = 8, 'completed' = 9, 'rated' = 10, 'rectified' = 11, 'reminded' = 12, 'responded' = 13, 'signed' = 14, 'feedback' = 15, 'milestone_due' = 16, 'milestone_met' = 17, 'withdrawn' = 18)"
	channelEnum  = "Enum8('' = 0, 'window' = 1, 'online' = 2, 'mobile' = 3, 'self_service' = 4)"
	stepTypeEnum = "Enum8('' = 0, 'handle' = 1, 'consult' = 2, 'countersign' = 3, 'approve' = 4)"
)

// eventColumns lists the events table; the insert uses the same list.
var eventColumns = []Column{
	{"event_id", "String"},
	{"kind", kindEnum},
	{"case_id", "String"},
	{"type", typeEnum},
	{"at", "DateTime('{tz}')"},
	{"department", "String"},
	{"region", "String"},
	{"matter", "String"},
	{"matter_name", "String"},
	{"channel", channelEnum},
	{"legal_days", "Int32"}, // -1 = absent
	{"promised_days", "Int32"},
	{"materials_total", "Int32"},
	{"materials_shared", "Int32"},
	{"step", "String"},
	{"step_type", stepTypeEnum},
	{"limit_days", "Int32"},
	{"joint_id", "String"},
	{"rating", "Int8"},   // 0 = absent
	{"resolved", "Int8"}, // -1 absent, 0 false, 1 true
	{"due", "Date"},      // 1970-01-01 = absent
	{"responsible", "String"},
	{"source", "String"},
	{"received_at", "DateTime('{tz}')"},
	{"ver", "UInt64"}, // larger for earlier receipt: the first copy of a resent event wins
}

var rejectedColumns = []Column{
	{"received_at", "DateTime('{tz}')"},
	{"source", "String"},
	{"request_id", "String"},
	{"idx", "UInt32"},
	{"department", "String"},
	{"error", "String"},
	{"raw", "String"},
	{"ver", "UInt64"}, // as in events: the first receipt of a resent bad line wins
}

// lightChangeColumns: one row per item and light level it reached.
var lightChangeColumns = []Column{
	{"kind", "Enum8('service' = 1, 'internal' = 2, 'scenario' = 3, 'ticket' = 4, 'task' = 5, 'step' = 6, 'milestone' = 7)"},
	{"case_id", "String"},
	{"item", "String"}, // step or milestone id; '' for the case
	{"department", "String"},
	{"light", "Enum8('yellow' = 2, 'red' = 3, 'legal_overdue' = 4)"},
	{"since", "DateTime('{tz}')"},       // when the item crossed into the light, by the rules
	{"observed_at", "DateTime('{tz}')"}, // when a lights run first saw it
	{"calendar", "String"},              // calendar version the instant was computed with
	{"ver", "UInt64"},                   // larger for an earlier observation
}

// Index tables (issue 4). Periods are written as in the API: 2026-10-05,
// 2026-10, 2026-Q4, 2026.
const (
	periodKindEnum  = "Enum8('day' = 1, 'month' = 2, 'quarter' = 3, 'year' = 4)"
	subjectTypeEnum = "Enum8('department' = 1, 'region' = 2, 'city' = 3)"
)

// resultColumns: one row per period, subject and indicator of one run. A
// period's rows are written by one insert (one part), and readers take the
// period's latest run, so a rerun replaces a result and never adds to it.
var resultColumns = []Column{
	{"period", "String"},
	{"period_kind", periodKindEnum},
	{"subject_type", subjectTypeEnum},
	{"subject", "String"},
	{"indicator", "String"},
	{"numerator", "Float64"},
	{"denominator", "Float64"},
	{"value", "Float64"}, // nan = n/a (zero denominator)
	{"catalog", "String"},
	{"calendar", "String"},
	{"computed_at", "DateTime('{tz}')"},
	{"run", "UInt64"}, // unix nanoseconds of the run's start: the latest run wins
}

// manualColumns: inspector entries of the manual indicators (E4.x); every
// version is kept, the latest counts.
var manualColumns = []Column{
	{"period", "String"},
	{"department", "String"},
	{"indicator", "String"},
	{"value", "Float64"},
	{"inspector", "String"},
	{"note", "String"},
	{"entered_at", "DateTime('{tz}')"},
	{"seq", "UInt64"}, // unix nanoseconds of the entry: orders entries within a second
}

// scoreChangeColumns: scores that changed when a recompute followed a new
// catalog or calendar version.
var scoreChangeColumns = []Column{
	{"period", "String"},
	{"subject_type", subjectTypeEnum},
	{"subject", "String"},
	{"level", "String"}, // indicator, group or dimension id, or "total"
	{"before", "Float64"},
	{"after", "Float64"},
	{"catalog_before", "String"},
	{"catalog_after", "String"},
	{"calendar_before", "String"},
	{"calendar_after", "String"},
	{"changed_at", "DateTime('{tz}')"},
}

// catalogColumns: the text of every catalog version results were computed
// with, so that scores can be recomputed under an earlier version.
var catalogColumns = []Column{
	{"version", "String"},
	{"yaml", "String"},
	{"first_used", "DateTime('{tz}')"},
}

// caseFactColumns: one row per case and refresh, exactly what the
// aggregation over the case's events yields (indices.caseAgg); ver is the
// refresh's start (unix nanoseconds), so a later refresh, which saw at
// least the events an earlier one saw, wins.
var caseFactColumns = []Column{
	{"k", "Int8"}, // the kind's enum value
	{"f_case", "String"},
	{"has_acc", "UInt8"},
	{"f_dept", "String"},
	{"f_region", "String"},
	{"f_matter", "String"},
	{"f_matter_name", "String"},
	{"acc_at", "DateTime('{tz}')"},
	{"has_done", "UInt8"},
	{"done_at", "DateTime('{tz}')"},
	{"promised", "Int32"},
	{"legal", "Int32"},
	{"on_time", "UInt8"}, // working days: by the calendar of facts_builds
	{"used", "Int64"},
	{"ch", channelEnum},
	{"mt", "Int32"},
	{"ms", "Int32"},
	{"visits", "UInt64"},
	{"has_rating", "UInt8"},
	{"r_last", "Int8"},
	{"rated_at", "DateTime('{tz}')"},
	{"has_bad", "UInt8"},
	{"bad_at", "DateTime('{tz}')"},
	{"bad_fixed", "UInt8"},
	{"wd_bad", "Int64"},
	{"has_fb", "UInt8"},
	{"sign24", "UInt8"},
	{"resolved_v", "Int8"},
	{"n_step_deps", "UInt64"},
	{"n_steps", "UInt64"},
	{"overlap", "UInt8"},
	{"h", "UInt64"}, // cityHash64(kind, case_id): tells cases apart cheaply
	{"ver", "UInt64"},
}

// stepFactColumns: one row per step and refresh (indices.stepAgg).
var stepFactColumns = []Column{
	{"f_case", "String"},
	{"f_sub", "String"}, // the step id
	{"f_dept", "String"},
	{"f_region", "String"},
	{"f_matter", "String"},
	{"has_start", "UInt8"},
	{"st_at", "DateTime('{tz}')"},
	{"has_fin", "UInt8"},
	{"fin_at", "DateTime('{tz}')"},
	{"s_lim", "Int32"},
	{"s_type", stepTypeEnum},
	{"s_ok", "UInt8"}, // finished within s_lim working days
	{"s_ok1", "UInt8"},
	{"s_ok3", "UInt8"},
	{"h", "UInt64"}, // cityHash64(case_id, step)
	{"ver", "UInt64"},
}

// eventFactColumns: one row per case and refresh (indices.eventAgg): its
// events counted per (event's department, region, day of at, day of first
// receipt), as parallel arrays, so that E5.1 and E5.3 add up small counts
// instead of telling 50M event ids apart; the lo/hi bounds let a period
// skip the cases it cannot count.
var eventFactColumns = []Column{
	{"f_case", "String"},
	{"at_lo", "DateTime('{tz}')"},
	{"at_hi", "DateTime('{tz}')"},
	{"rc_lo", "DateTime('{tz}')"}, // first receipts
	{"rc_hi", "DateTime('{tz}')"},
	{"e_dept", "Array(String)"},
	{"e_region", "Array(String)"},
	{"e_at", "Array(Date)"},
	{"e_rc", "Array(Date)"},
	{"e_n", "Array(UInt32)"},   // distinct events
	{"e_n1h", "Array(UInt32)"}, // of them, first received within 1 hour of at
	{"h", "UInt64"},            // cityHash64(case_id)
	{"ver", "UInt64"},
}

// Migrations is the schema history. Append; never edit an applied entry.
var Migrations = []Migration{
	{Version: 1, Name: "events and rejected_events", Tables: []Table{
		{
			Name:        "events",
			Comment:     "case lifecycle events; a resent event_id collapses (ReplacingMergeTree), read with FINAL or argMax",
			Columns:     eventColumns,
			Engine:      "ReplacingMergeTree(ver)",
			PartitionBy: "toYYYYMM(at)",
			OrderBy:     "(department, case_id, event_id)",
			ShardBy:     "cityHash64(case_id)",
		},
		{
			Name:        "rejected_events",
			Comment:     "events that failed validation, kept for inspection; the same bad line resent by the same source collapses",
			Columns:     rejectedColumns,
			Engine:      "ReplacingMergeTree(ver)",
			PartitionBy: "toYYYYMM(received_at)",
			OrderBy:     "(source, department, cityHash64(raw))",
			ShardBy:     "cityHash64(raw)",
		},
	}},
	{Version: 2, Name: "light_changes", Tables: []Table{
		{
			Name:        "light_changes",
			Comment:     "when each open item turned yellow, red or legal-overdue (indicator E2.2); the earliest observation wins",
			Columns:     lightChangeColumns,
			Engine:      "ReplacingMergeTree(ver)",
			PartitionBy: "toYYYYMM(since)",
			OrderBy:     "(kind, case_id, item, light)",
			ShardBy:     "cityHash64(case_id)",
		},
	}}, {Version: 3, Name: "index results and manual entries", Tables: []Table{
		{
			Name:        "indicator_results",
			Comment:     "numerator, denominator and value per period, subject and indicator; readers take each period's latest run",
			Columns:     resultColumns,
			Engine:      "ReplacingMergeTree(run)",
			PartitionBy: "period_kind",
			OrderBy:     "(period, subject_type, subject, indicator)",
			ShardBy:     "cityHash64(period)",
		},
		{
			Name:    "manual_values",
			Comment: "inspector entries of the manual indicators (E4.x): every version kept (audit trail), the latest counts",
			Columns: manualColumns,
			Engine:  "MergeTree()",
			OrderBy: "(department, indicator, period, seq)",
			ShardBy: "cityHash64(department)",
		},
		{
			Name:    "score_changes",
			Comment: "scores changed by a recompute after a catalog or calendar change (before and after); one row per transition",
			Columns: scoreChangeColumns,
			Engine:  "ReplacingMergeTree(changed_at)",
			OrderBy: "(period, subject_type, subject, level, catalog_after, calendar_after)",
			ShardBy: "cityHash64(period)",
		},
		{
			Name:    "catalogs",
			Comment: "the text of each catalog version results were computed with",
			Columns: catalogColumns,
			Engine:  "ReplacingMergeTree(first_used)",
			OrderBy: "version",
			ShardBy: "cityHash64(version)",
		},
	}},
	{Version: 4, Name: "stored case and step facts", Tables: []Table{
		{
			Name:    "case_facts",
			Comment: "each case's facts derived from all its events (indices/facts.go), refreshed for cases with new events; the latest refresh wins",
			Columns: caseFactColumns,
			Engine:  "ReplacingMergeTree(ver)",
			OrderBy: "(k, f_case)",
			ShardBy: "cityHash64(f_case)",
		},
		{
			Name:    "step_facts",
			Comment: "each step's facts derived from its events, refreshed like case_facts",
			Columns: stepFactColumns,
			Engine:  "ReplacingMergeTree(ver)",
			OrderBy: "(f_case, f_sub)",
			ShardBy: "cityHash64(f_case)",
		},
		{
			Name:    "facts_builds",
			Comment: "builds (with the calendar they counted working days with; another calendar rebuilds) and compactions of the stored-facts tables",
			Columns: []Column{{"table_name", "String"}, {"what", "String"}, {"calendar", "String"}, {"ver", "UInt64"}, {"at", "DateTime('{tz}')"}},
			Engine:  "MergeTree()",
			OrderBy: "(table_name, ver)",
			ShardBy: "cityHash64(table_name)",
		},
	}},
	{Version: 5, Name: "reminder_log", Tables: []Table{
		{
			Name:        "reminder_log",
			Comment:     "reminders (issue 8): claims, outcomes, acknowledgements and emitted events of each delivery; append-only, read by case and delivery id",
			Columns:     reminderLogColumns,
			Engine:      "MergeTree()",
			PartitionBy: "toYYYYMM(at)",
			OrderBy:     "(case_id, item, id, attempt, record)",
			ShardBy:     "cityHash64(case_id)",
		},
	}},
	{Version: 6, Name: "stored event counts", Tables: []Table{
		{
			Name:    "event_facts",
			Comment: "each case's events counted by department, region, day of at and day of first receipt (E5.1, E5.3), refreshed like case_facts",
			Columns: eventFactColumns,
			Engine:  "ReplacingMergeTree(ver)",
			OrderBy: "f_case",
			ShardBy: "cityHash64(f_case)",
		},
	}},
}
