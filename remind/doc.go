// Package remind tells the people responsible for open cases, steps, tasks
// and milestones that their item is about to be, or is, late (预先提醒,
// 超时警告, 催办), and escalates to the section head and the department
// leader when nobody reacts.
//
// The job (robfig/cron, remind.schedule) works from the current lights: for
// every open item it finds the first matching rule of rules/reminders.yaml,
// the latest of the rule's steps that has fallen due, and from that the
// deliveries that are due now: the step's reminder to the responsible, its
// repeats while the item stays overdue, and — for urge steps nobody has
// acknowledged — the escalations, counted in working time from when the
// responsible was first reminded. Quiet hours hold every message (repeats,
// escalations and retries too) until the next working morning of the
// calendar, except for items past their statutory deadline when the rules
// say so. The directory (remind.directory) names the recipient and how to
// reach them: the department's webhook (JSON, HMAC-signed, with an
// Idempotency-Key) and e-mail over SMTP.
//
// # Each delivery once
//
// A delivery is (item, rule step, repeat, level, channel); its id, a hash
// of those, is also the Idempotency-Key header and the Message-ID. The
// reminder_log table in ClickHouse records, per delivery, claims, outcomes
// (sent, failed, skipped), acknowledgements and the events emitted for
// them. ClickHouse has no transactions and no compare-and-set, and two
// replicas may well read the log before either writes to it, so "read,
// then write if absent" would send twice. Instead every attempt is claimed
// and the claims, not the reads, decide:
//
//  1. A replica that finds an attempt to make inserts a claim row
//     (delivery id, attempt number, ClickHouse's now() as claimed_at, a
//     random nonce). The insert must be acknowledged within claim_settle of
//     when the replica asked ClickHouse the time, else the replica gives up
//     this attempt (its claim may still land; then it only blocks others,
//     see 4).
//  2. It waits until ClickHouse's clock reads claimed_at + claim_settle + 1s
//     (one second for DateTime's resolution), then reads every claim of
//     the attempt. The winner is the claim with the least (claimed_at,
//     nonce); only the winner sends.
//  3. Why two replicas cannot both win: say claim A orders before claim B
//     and both replicas sent. A's insert was acknowledged, so it was
//     visible before claimed_at(A) + settle + 1s; B read after ClickHouse's
//     clock passed claimed_at(B) + settle + 1s, which is not earlier. So B
//     saw A, which orders first: B did not send. This holds for one
//     ClickHouse server and for shards without replication (a shard's one
//     server sees its own inserts); with replicated tables a read may go to
//     a replica that has not fetched the claim yet, which this design does
//     not cover (run the job on one replica there, or use insert_quorum).
//  4. The winner sends, then records sent or failed. A later run does not
//     start a new attempt while the current one has a claim younger than
//     claim_lease without an outcome. A failed attempt is retried as the
//     next attempt after a backoff (retry_min doubling up to retry_max),
//     at most max_attempts times; then the delivery stays failed, visible
//     in the log, the API, the pages and effidx_reminders_failed_total.
//  5. The one gap no scheme closes: a replica that dies after the channel
//     took the message but before it recorded sent. Its claim goes stale
//     after claim_lease and the next attempt sends again — with the same
//     Idempotency-Key (webhook) and Message-ID (e-mail), so that a gateway
//     that honours them drops the copy. Restarts, retries and a second
//     replica never send twice; a crash in that window may, detectably.
//
// A run walks every open item of the lights (about 0.5 s for a million
// on a loaded 2-core machine) but asks ClickHouse only about items with
// something new: each item's rule step in force remembers, between runs,
// when its first reminder went out and when its next repeat or escalation
// falls due, and acknowledgements are read incrementally. A restarted
// process reads the log once for every item in force.
//
// # Events
//
// Urge steps are 催办: their reminders to the responsible become `reminded`
// events (step = the reminder id, e.g. "rm:overdue#2@s3"), and an
// acknowledgement (a signed link in the message, or POST
// /api/v1/reminders/ack) is recorded in the log and becomes `responded`
// events for the reminders of that step sent before it — so indicator E2.1
// counts them. The events go through the collector (in process, or POSTed
// to remind.events_url) with ids derived from the reminder, so a resend
// collapses. The log is the outbox: a run emits what has no `emitted`
// record yet, so an event lost to a crash goes out on the next run.
package remind
