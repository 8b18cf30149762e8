-- cluster city without replication: no distributed DDL (it needs Keeper);
-- effidx migrate runs these statements on every host of the cluster
CREATE DATABASE IF NOT EXISTS effidx;

CREATE TABLE IF NOT EXISTS effidx.schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime('Asia/Shanghai')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version;

-- migration 1: events and rejected_events
-- case lifecycle events; a resent event_id collapses (ReplacingMergeTree), read with FINAL or argMax
CREATE TABLE IF NOT EXISTS effidx.events_local
(
    event_id String,
    kind Enum8('service' = 1, 'internal' = 2, 'scenario' = 3, 'ticket' = 4, 'task' = 5),
    case_id String,
    type Enum8('submitted' = 1, 'accepted' = 2, 'rejected' = 3, 'step_started' = 4, 'step_finished' = 5, 'suspended' = 6, 'resumed' = 7, 'visit' = 8, 'completed' = 9, 'rated' = 10, 'rectified' = 11, 'reminded' = 12, 'responded' = 13, 'signed' = 14, 'feedback' = 15, 'milestone_due' = 16, 'milestone_met' = 17, 'withdrawn' = 18),
    at DateTime('Asia/Shanghai'),
    department String,
    region String,
    matter String,
    matter_name String,
    channel Enum8('' = 0, 'window' = 1, 'online' = 2, 'mobile' = 3, 'self_service' = 4),
    legal_days Int32,
    promised_days Int32,
    materials_total Int32,
    materials_shared Int32,
    step String,
    step_type Enum8('' = 0, 'handle' = 1, 'consult' = 2, 'countersign' = 3, 'approve' = 4),
    limit_days Int32,
    joint_id String,
    rating Int8,
    resolved Int8,
    due Date,
    responsible String,
    source String,
    received_at DateTime('Asia/Shanghai'),
    ver UInt64
)
ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(at)
ORDER BY (department, case_id, event_id);

CREATE TABLE IF NOT EXISTS effidx.events AS effidx.events_local
ENGINE = Distributed(city, effidx, events_local, cityHash64(case_id));

-- events that failed validation, kept for inspection; the same bad line resent by the same source collapses
CREATE TABLE IF NOT EXISTS effidx.rejected_events_local
(
    received_at DateTime('Asia/Shanghai'),
    source String,
    request_id String,
    idx UInt32,
    department String,
    error String,
    raw String,
    ver UInt64
)
ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(received_at)
ORDER BY (source, department, cityHash64(raw));

CREATE TABLE IF NOT EXISTS effidx.rejected_events AS effidx.rejected_events_local
ENGINE = Distributed(city, effidx, rejected_events_local, cityHash64(raw));

-- migration 2: light_changes
-- when each open item turned yellow, red or legal-overdue (indicator E2.2); the earliest observation wins
CREATE TABLE IF NOT EXISTS effidx.light_changes_local
(
    kind Enum8('service' = 1, 'internal' = 2, 'scenario' = 3, 'ticket' = 4, 'task' = 5, 'step' = 6, 'milestone' = 7),
    case_id String,
    item String,
    department String,
    light Enum8('yellow' = 2, 'red' = 3, 'legal_overdue' = 4),
    since DateTime('Asia/Shanghai'),
    observed_at DateTime('Asia/Shanghai'),
    calendar String,
    ver UInt64
)
ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(since)
ORDER BY (kind, case_id, item, light);

CREATE TABLE IF NOT EXISTS effidx.light_changes AS effidx.light_changes_local
ENGINE = Distributed(city, effidx, light_changes_local, cityHash64(case_id));

-- migration 3: index results and manual entries
-- numerator, denominator and value per period, subject and indicator; readers take each period's latest run
CREATE TABLE IF NOT EXISTS effidx.indicator_results_local
(
    period String,
    period_kind Enum8('day' = 1, 'month' = 2, 'quarter' = 3, 'year' = 4),
    subject_type Enum8('department' = 1, 'region' = 2, 'city' = 3),
    subject String,
    indicator String,
    numerator Float64,
    denominator Float64,
    value Float64,
    catalog String,
    calendar String,
    computed_at DateTime('Asia/Shanghai'),
    run UInt64
)
ENGINE = ReplacingMergeTree(run)
PARTITION BY period_kind
ORDER BY (period, subject_type, subject, indicator);

CREATE TABLE IF NOT EXISTS effidx.indicator_results AS effidx.indicator_results_local
ENGINE = Distributed(city, effidx, indicator_results_local, cityHash64(period));

-- inspector entries of the manual indicators (E4.x): every version kept (audit trail), the latest counts
CREATE TABLE IF NOT EXISTS effidx.manual_values_local
(
    period String,
    department String,
    indicator String,
    value Float64,
    inspector String,
    note String,
    entered_at DateTime('Asia/Shanghai'),
    seq UInt64
)
ENGINE = MergeTree()
ORDER BY (department, indicator, period, seq);

CREATE TABLE IF NOT EXISTS effidx.manual_values AS effidx.manual_values_local
ENGINE = Distributed(city, effidx, manual_values_local, cityHash64(department));

-- scores changed by a recompute after a catalog or calendar change (before and after); one row per transition
CREATE TABLE IF NOT EXISTS effidx.score_changes_local
(
    period String,
    subject_type Enum8('department' = 1, 'region' = 2, 'city' = 3),
    subject String,
    level String,
    before Float64,
    after Float64,
    catalog_before String,
    catalog_after String,
    calendar_before String,
    calendar_after String,
    changed_at DateTime('Asia/Shanghai')
)
ENGINE = ReplacingMergeTree(changed_at)
ORDER BY (period, subject_type, subject, level, catalog_after, calendar_after);

CREATE TABLE IF NOT EXISTS effidx.score_changes AS effidx.score_changes_local
ENGINE = Distributed(city, effidx, score_changes_local, cityHash64(period));

-- the text of each catalog version results were computed with
CREATE TABLE IF NOT EXISTS effidx.catalogs_local
(
    version String,
    yaml String,
    first_used DateTime('Asia/Shanghai')
)
ENGINE = ReplacingMergeTree(first_used)
ORDER BY version;

CREATE TABLE IF NOT EXISTS effidx.catalogs AS effidx.catalogs_local
ENGINE = Distributed(city, effidx, catalogs_local, cityHash64(version));

-- migration 4: stored case and step facts
-- each case's facts derived from all its events (indices/facts.go), refreshed for cases with new events; the latest refresh wins
CREATE TABLE IF NOT EXISTS effidx.case_facts_local
(
    k Int8,
    f_case String,
    has_acc UInt8,
    f_dept String,
    f_region String,
    f_matter String,
    f_matter_name String,
    acc_at DateTime('Asia/Shanghai'),
    has_done UInt8,
    done_at DateTime('Asia/Shanghai'),
    promised Int32,
    legal Int32,
    on_time UInt8,
    used Int64,
    ch Enum8('' = 0, 'window' = 1, 'online' = 2, 'mobile' = 3, 'self_service' = 4),
    mt Int32,
    ms Int32,
    visits UInt64,
    has_rating UInt8,
    r_last Int8,
    rated_at DateTime('Asia/Shanghai'),
    has_bad UInt8,
    bad_at DateTime('Asia/Shanghai'),
    bad_fixed UInt8,
    wd_bad Int64,
    has_fb UInt8,
    sign24 UInt8,
    resolved_v Int8,
    n_step_deps UInt64,
    n_steps UInt64,
    overlap UInt8,
    h UInt64,
    ver UInt64
)
ENGINE = ReplacingMergeTree(ver)
ORDER BY (k, f_case);

CREATE TABLE IF NOT EXISTS effidx.case_facts AS effidx.case_facts_local
ENGINE = Distributed(city, effidx, case_facts_local, cityHash64(f_case));

-- each step's facts derived from its events, refreshed like case_facts
CREATE TABLE IF NOT EXISTS effidx.step_facts_local
(
    f_case String,
    f_sub String,
    f_dept String,
    f_region String,
    f_matter String,
    has_start UInt8,
    st_at DateTime('Asia/Shanghai'),
    has_fin UInt8,
    fin_at DateTime('Asia/Shanghai'),
    s_lim Int32,
    s_type Enum8('' = 0, 'handle' = 1, 'consult' = 2, 'countersign' = 3, 'approve' = 4),
    s_ok UInt8,
    s_ok1 UInt8,
    s_ok3 UInt8,
    h UInt64,
    ver UInt64
)
ENGINE = ReplacingMergeTree(ver)
ORDER BY (f_case, f_sub);

CREATE TABLE IF NOT EXISTS effidx.step_facts AS effidx.step_facts_local
ENGINE = Distributed(city, effidx, step_facts_local, cityHash64(f_case));

-- builds (with the calendar they counted working days with; another calendar rebuilds) and compactions of the stored-facts tables
CREATE TABLE IF NOT EXISTS effidx.facts_builds_local
(
    table_name String,
    what String,
    calendar String,
    ver UInt64,
    at DateTime('Asia/Shanghai')
)
ENGINE = MergeTree()
ORDER BY (table_name, ver);

CREATE TABLE IF NOT EXISTS effidx.facts_builds AS effidx.facts_builds_local
ENGINE = Distributed(city, effidx, facts_builds_local, cityHash64(table_name));

-- migration 5: reminder_log
-- reminders (issue 8): claims, outcomes, acknowledgements and emitted events of each delivery; append-only, read by case and delivery id
CREATE TABLE IF NOT EXISTS effidx.reminder_log_local
(
    id String,
    topic String,
    record Enum8('claim' = 1, 'sent' = 2, 'failed' = 3, 'skipped' = 4, 'ack' = 5, 'emitted' = 6),
    attempt UInt16,
    kind String,
    case_id String,
    item String,
    department String,
    matter String,
    step String,
    repeat UInt16,
    level Enum8('responsible' = 0, 'section_head' = 1, 'leader' = 2),
    reminder_id String,
    channel String,
    recipient String,
    recipient_name String,
    address String,
    light String,
    legal_overdue UInt8,
    due DateTime('Asia/Shanghai'),
    due_at DateTime('Asia/Shanghai'),
    at DateTime('Asia/Shanghai'),
    claimed_at DateTime('Asia/Shanghai'),
    nonce UInt64,
    replica String,
    note String
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(at)
ORDER BY (case_id, item, id, attempt, record);

CREATE TABLE IF NOT EXISTS effidx.reminder_log AS effidx.reminder_log_local
ENGINE = Distributed(city, effidx, reminder_log_local, cityHash64(case_id));

-- migration 6: stored event counts
-- each case's events counted by department, region, day of at and day of first receipt (E5.1, E5.3), refreshed like case_facts
CREATE TABLE IF NOT EXISTS effidx.event_facts_local
(
    f_case String,
    at_lo DateTime('Asia/Shanghai'),
    at_hi DateTime('Asia/Shanghai'),
    rc_lo DateTime('Asia/Shanghai'),
    rc_hi DateTime('Asia/Shanghai'),
    e_dept Array(String),
    e_region Array(String),
    e_at Array(Date),
    e_rc Array(Date),
    e_n Array(UInt32),
    e_n1h Array(UInt32),
    h UInt64,
    ver UInt64
)
ENGINE = ReplacingMergeTree(ver)
ORDER BY f_case;

CREATE TABLE IF NOT EXISTS effidx.event_facts AS effidx.event_facts_local
ENGINE = Distributed(city, effidx, event_facts_local, cityHash64(f_case));
