package remind

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"effidx/warehouse"
)

// Lists go to ClickHouse as one bound array: `x IN (SELECT arrayJoin(?))`
// is a set, and still narrows the read by the primary key (18.16 and
// current releases alike), which has(?, x) does not.

// chunkIDs bounds the ids of one IN list (the list is query text).
const chunkIDs = 2000

// state is what the log says about one delivery.
type state struct {
	sent, skipped time.Time // earliest such record (job clock); zero: none
	first         time.Time // earliest outcome of any kind
	attempt       int       // the highest attempt with a claim or an outcome
	claimedAt     time.Time // earliest claim of that attempt (ClickHouse's clock)
	failedAt      time.Time // that attempt's failure; zero: none
	note          string    // of the latest failure or the skip
	failures      int
}

func (s *state) outcome(at time.Time) {
	if s.first.IsZero() || at.Before(s.first) {
		s.first = at
	}
}

// done says whether nothing more will be attempted.
func (s *state) done(maxAttempts int) bool {
	return !s.sent.IsZero() || !s.skipped.IsZero() || (!s.failedAt.IsZero() && s.attempt >= maxAttempts)
}

// readStates reads the records of deliveries ids (of cases, which narrow
// the read to their part of the table's order).
func (j *Job) readStates(ctx context.Context, ds []*delivery) (map[string]*state, error) {
	out := map[string]*state{}
	for lo := 0; lo < len(ds); lo += chunkIDs {
		part := ds[lo:min(lo+chunkIDs, len(ds))]
		ids, cases := keysOf(part)
		// claimed_at as a number: it is the zero DateTime on every record but
		// claims, which releases print differently.
		rows, err := j.conn.Query(ctx, fmt.Sprintf(`SELECT id, toString(record), attempt, at, toUInt32(claimed_at), note
FROM %s.reminder_log
WHERE case_id IN (SELECT arrayJoin(?)) AND id IN (SELECT arrayJoin(?)) AND record IN ('claim', 'sent', 'failed', 'skipped')`, j.db), cases, ids)
		if err != nil {
			return nil, fmt.Errorf("read reminder log: %w", err)
		}
		for rows.Next() {
			var id, rec, note string
			var attempt uint16
			var at time.Time
			var claimedUnix uint32
			if err := rows.Scan(&id, &rec, &attempt, &at, &claimedUnix, &note); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read reminder log: %w", err)
			}
			claimed := time.Unix(int64(claimedUnix), 0)
			s := out[id]
			if s == nil {
				s = &state{}
				out[id] = s
			}
			a := int(attempt)
			if a > s.attempt {
				s.attempt, s.claimedAt, s.failedAt = a, time.Time{}, time.Time{}
			}
			switch rec {
			case warehouse.RecordSent:
				if s.sent.IsZero() || at.Before(s.sent) {
					s.sent = at
				}
				s.outcome(at)
			case warehouse.RecordSkipped:
				if s.skipped.IsZero() || at.Before(s.skipped) {
					s.skipped, s.note = at, note
				}
				s.outcome(at)
			case warehouse.RecordFailed:
				s.failures++
				s.outcome(at)
				if a == s.attempt {
					s.failedAt, s.note = at, note
				}
			case warehouse.RecordClaim:
				if a == s.attempt && (s.claimedAt.IsZero() || claimed.Before(s.claimedAt)) {
					s.claimedAt = claimed
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read reminder log: %w", err)
		}
	}
	return out, nil
}

// serverNow is ClickHouse's clock, which orders claims (one clock for all
// replicas, unlike theirs).
func (j *Job) serverNow(ctx context.Context) (time.Time, error) {
	var t time.Time
	if err := j.conn.QueryRow(ctx, "SELECT now()").Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("ask ClickHouse the time: %w", err)
	}
	return t, nil
}

func nonce() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// claim bids for the next attempt of each delivery and returns those this
// replica won (see the package documentation for why this is safe).
func (j *Job) claim(ctx context.Context, ds []*delivery, now time.Time) ([]*delivery, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	asked := time.Now()
	t0, err := j.serverNow(ctx)
	if err != nil {
		return nil, err
	}
	recs := make([]warehouse.ReminderRecord, len(ds))
	mine := make(map[string]uint64, len(ds))
	for i, d := range ds {
		n := nonce()
		mine[d.id] = n
		recs[i] = d.record(warehouse.RecordClaim, now, j.replica)
		recs[i].ClaimedAt, recs[i].Nonce = t0, n
	}
	// The claim counts only if ClickHouse took it within the settle time
	// from when we asked the time: then every replica deciding after
	// t0+settle+1s sees it.
	ictx, cancel := context.WithDeadline(ctx, asked.Add(j.cfg.ClaimSettle))
	err = j.wh.WriteReminderRecords(ictx, recs)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("claim %d reminders (nothing sent; the next run tries again): %w", len(ds), err)
	}
	settled := t0.Add(j.cfg.ClaimSettle + time.Second)
	for {
		if d := time.Until(asked.Add(settled.Sub(t0))); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		st, err := j.serverNow(ctx)
		if err != nil {
			return nil, err
		}
		if !st.Before(settled) {
			break
		}
		select {
		case <-time.After(settled.Sub(st)):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	type best struct {
		at    time.Time
		nonce uint64
	}
	winner := map[string]best{}
	byID := make(map[string]*delivery, len(ds))
	for _, d := range ds {
		byID[d.id] = d
	}
	for lo := 0; lo < len(ds); lo += chunkIDs {
		part := ds[lo:min(lo+chunkIDs, len(ds))]
		ids, cases := keysOf(part)
		rows, err := j.conn.Query(ctx, fmt.Sprintf(`SELECT id, attempt, claimed_at, nonce
FROM %s.reminder_log
WHERE case_id IN (SELECT arrayJoin(?)) AND id IN (SELECT arrayJoin(?)) AND record = 'claim'`, j.db), cases, ids)
		if err != nil {
			return nil, fmt.Errorf("read claims: %w", err)
		}
		for rows.Next() {
			var id string
			var attempt uint16
			var at time.Time
			var n uint64
			if err := rows.Scan(&id, &attempt, &at, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read claims: %w", err)
			}
			if d := byID[id]; d == nil || int(attempt) != d.attempt {
				continue
			}
			if b, ok := winner[id]; !ok || at.Before(b.at) || (at.Equal(b.at) && n < b.nonce) {
				winner[id] = best{at, n}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read claims: %w", err)
		}
	}
	var won []*delivery
	for _, d := range ds {
		if b, ok := winner[d.id]; ok && b.nonce == mine[d.id] && b.at.Equal(t0) {
			d.claimedAt = asked
			won = append(won, d)
		}
	}
	return won, nil
}

// writeRecords inserts records, retrying a little: an outcome that is not
// recorded makes its attempt look abandoned after the lease.
func (j *Job) writeRecords(ctx context.Context, rs []warehouse.ReminderRecord) error {
	var err error
	for try := 0; try < 3; try++ {
		if err = j.wh.WriteReminderRecords(ctx, rs); err == nil || errors.Is(err, context.Canceled) {
			return err
		}
		select {
		case <-time.After(time.Duration(try+1) * 500 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

// keysOf is the delivery ids of ds and their cases, sorted and without
// repeats (the cases narrow a read of reminder_log to its order's ranges).
func keysOf(ds []*delivery) (ids, cases []string) {
	ids, cases = make([]string, 0, len(ds)), make([]string, 0, len(ds))
	for _, d := range ds {
		ids = append(ids, d.id)
		cases = append(cases, d.t.ref.CaseID)
	}
	slices.Sort(cases)
	return ids, slices.Compact(cases)
}
