package warehouse

import (
	"context"
	"time"
)

// Reminder log record types (column record).
const (
	RecordClaim   = "claim"   // a replica's bid to make an attempt at a delivery
	RecordSent    = "sent"    // the channel accepted the message
	RecordFailed  = "failed"  // the attempt failed; note says why
	RecordSkipped = "skipped" // never sendable (nobody to send to); note says why
	RecordAck     = "ack"     // the responsible acknowledged the reminders of a step
	RecordEmitted = "emitted" // the reminded/responded event id went to the collector
)

// reminderLogColumns: one row per record of a delivery (package remind
// explains the claim protocol that makes each delivery go out once).
var reminderLogColumns = []Column{
	{"id", "String"},    // delivery id (also the Idempotency-Key); an ack's: its topic; emitted: the event id
	{"topic", "String"}, // the item and rule step the record belongs to
	{"record", "Enum8('claim' = 1, 'sent' = 2, 'failed' = 3, 'skipped' = 4, 'ack' = 5, 'emitted' = 6)"},
	{"attempt", "UInt16"},
	{"kind", "String"}, // item kind: service ... task, step, milestone
	{"case_id", "String"},
	{"item", "String"}, // step or milestone id; '' for the case
	{"department", "String"},
	{"matter", "String"},
	{"step", "String"}, // rule step id
	{"repeat", "UInt16"},
	{"level", "Enum8('responsible' = 0, 'section_head' = 1, 'leader' = 2)"},
	{"reminder_id", "String"}, // the step field of the reminded / responded events
	{"channel", "String"},
	{"recipient", "String"}, // person id
	{"recipient_name", "String"},
	{"address", "String"}, // webhook URL or e-mail address
	{"light", "String"},
	{"legal_overdue", "UInt8"},
	{"due", "DateTime('{tz}')"},        // the item's due instant (0: clock stopped)
	{"due_at", "DateTime('{tz}')"},     // when the message fell due
	{"at", "DateTime('{tz}')"},         // when the record was made (the job's clock)
	{"claimed_at", "DateTime('{tz}')"}, // claims: ClickHouse's clock, which orders the claims
	{"nonce", "UInt64"},                // claims: random, breaks ties of claimed_at
	{"replica", "String"},
	{"note", "String"}, // error, why skipped, who acknowledged and how
}

// ReminderRecord is one row of reminder_log.
type ReminderRecord struct {
	ID, Topic, Record                 string
	Attempt                           int
	Kind, CaseID, Item, Department    string
	Matter, Step                      string
	Repeat                            int
	Level                             int // 0 responsible, 1 section head, 2 leader
	ReminderID, Channel               string
	Recipient, RecipientName, Address string
	Light                             string
	LegalOverdue                      bool
	Due, DueAt, At, ClaimedAt         time.Time
	Nonce                             uint64
	Replica, Note                     string
}

// ReminderLogColumnList is the column list of reminder_log, in
// ReminderRecord order, for queries that read whole records.
func ReminderLogColumnList() string { return columnList(reminderLogColumns) }

// WriteReminderRecords inserts records in one insert (one part: a batch of
// claims becomes visible at once).
func (w *Warehouse) WriteReminderRecords(ctx context.Context, rs []ReminderRecord) error {
	if len(rs) == 0 {
		return nil
	}
	n := len(rs)
	str := func() []string { return make([]string, n) }
	id, topic, record, kind, caseID, item, dept, matter, step := str(), str(), str(), str(), str(), str(), str(), str(), str()
	rid, channel, recipient, rname, addr, light, replica, note := str(), str(), str(), str(), str(), str(), str(), str()
	attempt, repeat := make([]uint16, n), make([]uint16, n)
	level, legal := make([]int8, n), make([]uint8, n)
	due, dueAt, at, claimed := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	nonce := make([]uint64, n)
	unix := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.Unix()
	}
	for i, r := range rs {
		id[i], topic[i], record[i], kind[i], caseID[i], item[i], dept[i], matter[i], step[i] =
			r.ID, r.Topic, r.Record, r.Kind, r.CaseID, r.Item, r.Department, r.Matter, r.Step
		rid[i], channel[i], recipient[i], rname[i], addr[i], light[i], replica[i], note[i] =
			r.ReminderID, r.Channel, r.Recipient, r.RecipientName, r.Address, r.Light, r.Replica, r.Note
		attempt[i], repeat[i], level[i] = uint16(r.Attempt), uint16(r.Repeat), int8(r.Level)
		if r.LegalOverdue {
			legal[i] = 1
		}
		due[i], dueAt[i], at[i], claimed[i], nonce[i] = unix(r.Due), unix(r.DueAt), unix(r.At), unix(r.ClaimedAt), r.Nonce
	}
	return w.insertColumns(ctx, "reminder_log", reminderLogColumns, []any{id, topic, record, attempt, kind, caseID, item, dept, matter, step,
		repeat, level, rid, channel, recipient, rname, addr, light, legal, due, dueAt, at, claimed, nonce, replica, note})
}
