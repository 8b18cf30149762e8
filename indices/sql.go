package indices

import (
	"fmt"
	"sort"
	"strings"
)

// The computation is one aggregation query per source. Each source query
// first derives per-item facts (a case, a step, a task or milestone, a
// reminder, a red light) from all of the item's events, then sums every
// indicator's numerator and denominator per (department, region) in the
// same pass. The facts use only aggregates that a duplicate event cannot
// change (min, argMin, uniqExact, groupUniqArray), so events that are not
// merged yet need no FINAL, and times come from `at`, never from arrival,
// so order does not matter.
//
// Working days: WD over a window around the period is the bound array
// @wd (see calendarArgs). Parameters are bound by name: @from and @to (the
// period as unix seconds), @from_day, @to_day and @today (day numbers),
// the @wd_* window parameters.
type source int

const (
	srcCases     source = iota // service, internal, scenario and ticket cases
	srcSteps                   // steps, credited to the step's department
	srcTasks                   // reform tasks and their milestones
	srcReminders               // 催办 and their responses
	srcRed                     // cases that turned red (light_changes)
	srcEvents                  // every event, and rejected events
)

var sourceOrder = []source{srcCases, srcSteps, srcTasks, srcReminders, srcRed, srcEvents}

// heaviestFirst is the order the source queries start in, the heavy ones
// first so that the light ones fill in behind them. On the benchmark's
// year (10M cases, 2026-12-07) red lights take 8.5-12 s, cases 5.5-6.5,
// reminders 4.3-6, events 3.6-4.7, steps and tasks ~1; starting red lights
// first was not faster (year 14.9 s against 12.7-13.2 s, other data).
var heaviestFirst = []source{srcEvents, srcCases, srcRed, srcReminders, srcSteps, srcTasks}

func (s source) String() string {
	return [...]string{"cases", "steps", "tasks", "reminders", "red lights", "events"}[s]
}

// kindNumber is the Enum8 value of a case kind in the events table.
var kindNumber = map[Kind]int{KindService: 1, KindInternal: 2, KindScenario: 3, KindTicket: 4, KindTask: 5}

// part is what one source adds to an indicator: SQL expressions over the
// source's fact columns; {k} stands for the indicator's kind number.
type part struct {
	src      source
	num, den string
}

// formula computes one indicator. noRegion: the source carries no region
// (light changes, rejected events), so regions have the indicator n/a.
type formula struct {
	parts    []part
	noRegion bool
}

func one(src source, num, den string) formula { return formula{parts: []part{{src, num, den}}} }

// caseKinds are the kinds whose on-time style formulas exist per kind.
var caseKinds = []Kind{KindService, KindInternal, KindScenario, KindTicket}

// formulas by kind and query name (the catalog's kind and query). Case
// formulas are registered for every case kind: the same computation over
// another kind is another indicator.
var formulas = func() map[string]formula {
	m := map[string]formula{}
	for _, k := range caseKinds {
		add := func(q string, f formula) { m[string(k)+"/"+q] = f }
		done := "k = {k} AND done_in"
		acc := "k = {k} AND acc_in"
		add("on_time_completion", one(srcCases, done+" AND lim >= 0 AND on_time", done+" AND lim >= 0"))
		add("promise_compression", one(srcCases,
			"if("+acc+" AND legal > 0, legal - if(promised >= 0, promised, legal), 0)", "if("+acc+" AND legal > 0, legal, 0)"))
		add("actual_speedup", one(srcCases, "if("+done+" AND legal > 0, legal - used, 0)", "if("+done+" AND legal > 0, legal, 0)"))
		add("instant_rate", one(srcCases, done+" AND promised = 0 AND done_d = acc_d", done))
		add("zero_visit_rate", one(srcCases, done+" AND visits = 0", done))
		add("at_most_one_visit_rate", one(srcCases, done+" AND visits <= 1", done))
		add("online_rate", one(srcCases, acc+" AND ch IN ('online', 'mobile')", acc))
		add("mobile_rate", one(srcCases, acc+" AND ch = 'mobile'", acc))
		add("fully_online_rate", one(srcCases, done+" AND ch IN ('online', 'mobile') AND visits = 0", done))
		add("shared_materials_rate", one(srcCases, "if("+acc+", ms, 0)", "if("+acc+", mt, 0)"))
		add("materials_per_case", one(srcCases, "if("+acc+", greatest(0, mt - ms), 0)", acc))
		add("positive_rating_rate", one(srcCases, "k = {k} AND rated_in AND r_last >= 4", "k = {k} AND rated_in"))
		add("rating_participation", one(srcCases, done+" AND has_rating", done))
		add("bad_rating_rectified", one(srcCases, "k = {k} AND bad_in AND bad_fixed", "k = {k} AND bad_in AND (bad_fixed OR bad_closed)"))
		add("mean_working_days", one(srcCases, "if("+done+", used, 0)", done))
		add("closed_loop_rate", one(srcCases, done+" AND has_fb", done))
		add("mean_hours", one(srcCases, "if("+done+", hours, 0)", done))
		add("signed_within_24h", one(srcCases, acc+" AND sign24", acc))
		add("resolved_rate", one(srcCases, done+" AND resolved_v = 1", done))
	}
	m["step/parallel_handling_rate"] = one(srcCases, "done_in AND n_step_deps >= 2 AND overlap", "done_in AND n_step_deps >= 2")
	m["step/steps_per_case"] = one(srcCases, "if(done_in AND n_steps > 0, n_steps, 0)", "done_in AND n_steps > 0")
	m["step/steps_on_time"] = one(srcSteps, "fin_in AND s_lim >= 0 AND s_ok", "fin_in AND s_lim >= 0")
	m["step/consult_within_1_day"] = one(srcSteps, "fin_in AND s_type = 'consult' AND s_ok1", "fin_in AND s_type = 'consult'")
	m["step/countersign_within_3_days"] = one(srcSteps, "fin_in AND s_type = 'countersign' AND s_ok3", "fin_in AND s_type = 'countersign'")
	m["task/tasks_on_time"] = one(srcTasks, "f_sub = '' AND due_in AND met", "f_sub = '' AND due_in AND (met OR closed)")
	m["task/milestones_met"] = one(srcTasks, "f_sub != '' AND due_in AND met", "f_sub != '' AND due_in AND (met OR closed)")
	m["task/mean_days_late"] = one(srcTasks, "if(late, days_late, 0)", "late")
	m["event/reminders_answered_in_time"] = one(srcReminders, "rem_in AND ok", "rem_in AND (ok OR closed)")
	m["event/red_lights_cleared"] = formula{parts: []part{{srcRed, "ok", "ok OR closed"}}, noRegion: true}
	m["event/reported_within_1h"] = one(srcEvents, "n_at_1h", "n_at")
	m["event/completed_with_accepted"] = formula{parts: []part{
		{srcCases, "done_any_in AND has_acc", "done_any_in"},
		{srcTasks, "f_sub = '' AND done_any_in AND has_acc", "f_sub = '' AND done_any_in"},
	}}
	m["event/events_valid"] = formula{parts: []part{{srcEvents, "n_recv", "n_recv + n_rej"}}, noRegion: true}
	return m
}()

func lookupFormula(k Kind, query string) (formula, bool) {
	f, ok := formulas[string(k)+"/"+query]
	return f, ok
}

// KnownQueries lists the kind/query pairs a catalog may use.
func KnownQueries() []string {
	out := make([]string, 0, len(formulas))
	for k := range formulas {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// wd is WD of a day-number expression: a read of W inside the window, the
// weekday rule outside it.
func wd(day string) string {
	n := "toInt64(" + day + ")"
	w0 := "(5 * intDiv(" + n + " - 4, 7) + least((" + n + " - 4) % 7 + 1, 5))"
	return "multiIf(" + n + " < @wd_base, @wd_lo - (@w0_lo - " + w0 + "), " +
		n + " > @wd_end, @wd_hi + (" + w0 + " - @w0_hi), " +
		"W[" + n + " - @wd_base + 1])"
}

// day is the day number (days since 1970-01-01 in the schema's zone) of a
// DateTime expression.
func day(t string) string { return "toInt64(toDate(" + t + "))" }

// within: the item started on day start and ended on day end met a limit
// of n working days: end is at or before the due date, the n-th working
// day after start (n = 0: start itself, or the next working day when start
// is a day off). end <= due date ⇔ WD(end - 1) < WD(due date).
func within(end, start, n string) string {
	return fmt.Sprintf("(%s < %s + %s + if(%s = 0 AND %s = %s, 1, 0))",
		wd(end+" - 1"), wd(start), n, n, wd(start), wd(start+" - 1"))
}

// closedAfter: the window of n working days after day start has ended by
// today (today is after the n-th working day).
func closedAfter(start, n string) string {
	return fmt.Sprintf("(@wd_yesterday >= %s + %s)", wd(start), n)
}

func calendarWith(string) string { return "WITH @wd AS W" }

const inPeriod = "%s >= toDateTime(@from) AND %s < toDateTime(@to)"

func periodCond(col string) string { return fmt.Sprintf(inPeriod, col, col) }

// factsSQL is the per-item subquery of a source; its department and
// region columns are named f_dept and f_region. narrow is appended to the
// WHERE of the subquery that picks the items of the period (e.g. "AND
// department = @dept"): it must keep every item the caller wants (a
// superset is fine, the caller filters the facts again) and lets
// ClickHouse derive facts for far fewer items.
func factsSQL(db string, s source, narrow string) string {
	switch s {
	case srcCases:
		return caseDerive(caseAgg(db, itemPick{in: casePeriodPick + narrow}))

	case srcSteps:
		return stepDerive(stepAgg(db, itemPick{in: stepPeriodPick + narrow}))

	case srcTasks:
		return calendarWith(db) + `
SELECT
    case_id AS f_case,
    step AS f_sub,
    '' AS f_matter,
    countIf(type IN ('accepted', 'milestone_due')) > 0 AS has_plan,
    countIf(type = 'accepted') > 0 AS has_acc,
    if(has_plan, argMinIf(department, at, type IN ('accepted', 'milestone_due')), argMin(department, at)) AS f_dept,
    if(has_plan, argMinIf(region, at, type IN ('accepted', 'milestone_due')), argMin(region, at)) AS f_region,
    toInt64(argMaxIf(due, at, type IN ('accepted', 'milestone_due'))) AS due_n,
    countIf(type IN ('completed', 'milestone_met')) > 0 AS has_done,
    minIf(at, type IN ('completed', 'milestone_met')) AS done_at,
    minIf(at, type IN ('accepted', 'milestone_due')) AS f_start,
    done_at AS f_end,
    ` + day("done_at") + ` AS done_d,
    countIf(type = 'withdrawn') > 0 AS withdrawn,
    NOT withdrawn AND due_n > 0 AND due_n >= @from_day AND due_n < @to_day AS due_in,
    has_done AND done_d <= due_n AS met,
    @today > due_n AS closed,
    f_sub = '' AND due_in AND (has_done AND done_d > due_n OR NOT has_done AND @today > due_n) AS late,
    if(has_done, ` + wd("done_d") + `, @wd_today) - ` + wd("due_n") + ` AS days_late,
    has_done AND ` + periodCond("done_at") + ` AS done_any_in
FROM ` + db + `.events
WHERE kind = 'task'
  AND case_id IN (SELECT case_id FROM ` + db + `.events WHERE kind = 'task'
      AND (type IN ('accepted', 'milestone_due') AND toInt64(due) >= @from_day AND toInt64(due) < @to_day
           OR type = 'completed' AND ` + periodCond("at") + `)` + narrow + `)
GROUP BY f_case, f_sub`

	case srcReminders:
		return calendarWith(db) + `
SELECT
    case_id AS f_case,
    step AS f_sub,
    '' AS f_matter,
    argMinIf(department, at, type = 'reminded') AS f_dept,
    argMinIf(region, at, type = 'reminded') AS f_region,
    countIf(type = 'reminded') > 0 AS has_rem,
    minIf(at, type = 'reminded') AS rem_at,
    rem_at AS f_start,
    minIf(at, type = 'responded') AS f_end,
    has_rem AND ` + periodCond("rem_at") + ` AS rem_in,
    countIf(type = 'responded') > 0 AND ` + within(day("minIf(at, type = 'responded')"), day("rem_at"), "1") + ` AS ok,
    ` + closedAfter(day("rem_at"), "1") + ` AS closed
FROM ` + db + `.events
WHERE type IN ('reminded', 'responded')
  AND (case_id, step) IN (SELECT case_id, step FROM ` + db + `.events WHERE type = 'reminded' AND ` + periodCond("at") + narrow + `)
GROUP BY f_case, f_sub`

	case srcRed:
		return calendarWith(db) + `
SELECT
    case_id AS f_case,
    '' AS f_sub,
    '' AS f_matter,
    f_dept,
    '' AS f_region,
    red_at AS f_start,
    done_at AS f_end,
    has_done AND ` + within(day("done_at"), day("red_at"), "2") + ` AS ok,
    ` + closedAfter(day("red_at"), "2") + ` AS closed
FROM
(
    SELECT case_id, any(department) AS f_dept, min(since) AS red_at
    FROM ` + db + `.light_changes
    WHERE light = 'red' AND item = '' AND kind IN ('service', 'internal', 'scenario', 'ticket', 'task')` + narrow + `
    GROUP BY case_id
    HAVING ` + periodCond("red_at") + `
) AS l
ANY LEFT JOIN
(
    SELECT case_id, 1 AS has_done, min(at) AS done_at
    FROM ` + db + `.events
    WHERE type = 'completed' AND case_id IN (SELECT case_id FROM ` + db + `.light_changes WHERE light = 'red' AND item = '' AND ` + periodCond("since") + `)
    GROUP BY case_id
) AS c USING (case_id)`

	case srcEvents:
		return eventDerive(db, eventAgg(db, itemPick{in: eventPeriodPick + narrow}))
	}
	panic("unknown source")
}

// sumsSQL sums the numerators and denominators of ids over source s per
// department and region: two Float64 columns per indicator, in order.
// facts is the source's per-item subquery (factsSQL or periodFactsSQL).
func sumsSQL(db, facts string, ids []string, f func(id string) formula, kindOf func(id string) Kind, s source) string {
	var b strings.Builder
	// W again: 18.16 does not pass WITH into subqueries, and some formulas
	// use WD themselves.
	b.WriteString(calendarWith(db) + "\nSELECT f_dept, f_region")

	for _, id := range ids {
		p := f(id).partFor(s)
		k := fmt.Sprint(kindNumber[kindOf(id)])
		fmt.Fprintf(&b, ",\n    sum(toFloat64(%s)), sum(toFloat64(%s))", strings.ReplaceAll(p.num, "{k}", k), strings.ReplaceAll(p.den, "{k}", k))
	}
	fmt.Fprintf(&b, "\nFROM\n(%s\n) AS f\nGROUP BY f_dept, f_region", facts)
	return b.String()
}

func (f formula) partFor(s source) part {
	for _, p := range f.parts {
		if p.src == s {
			return p
		}
	}
	panic("formula has no part for source " + s.String())
}

// itemsSQL lists the items of source s behind department @dept's lost
// points on one formula part: for higher-is-better indicators the items
// counted in the denominator but not (fully) in the numerator, worst
// first; for lower-is-better ones the items that added to the numerator,
// largest first. count selects the number of such items instead.
func itemsSQL(db string, s source, p part, kind int, down, count bool) string {
	k := fmt.Sprint(kind)
	num, den := strings.ReplaceAll(p.num, "{k}", k), strings.ReplaceAll(p.den, "{k}", k)
	lost, order := "n < d", "d - n DESC, f_start, f_case, f_sub"
	if down {
		lost, order = "n > 0", "n / d DESC, f_start, f_case, f_sub"
	}
	sel := "f_case, f_sub, f_matter, f_start, f_end, n, d"
	tail := "\nORDER BY " + order + "\nLIMIT @limit OFFSET @offset"
	if count {
		sel, tail = "count()", ""
	}
	return fmt.Sprintf(`%s
SELECT %s FROM
(
    %s
    SELECT f_case, f_sub, f_matter, f_start, f_end, toFloat64(%s) AS n, toFloat64(%s) AS d
    FROM
    (%s
    ) AS f
    WHERE f_dept = @dept
) AS x
WHERE d > 0 AND %s%s`, calendarWith(db), sel, calendarWith(db), num, den, factsSQL(db, s, "\n          AND department = @dept"), lost, tail)
}

// eventItemsSQL lists the events behind E5.1 (reported late) and E5.3
// (rejected), which have no per-item facts.
func eventItemsSQL(db, query string, count bool) string {
	var q string
	switch query {
	case "reported_within_1h":
		// Events as eventAgg counts them: their first copies (FINAL).
		q = `SELECT event_id AS f_case, toString(type) AS f_sub, matter AS f_matter, at AS f_start, received_at AS f_end,
    toFloat64(0) AS n, toFloat64(1) AS d
FROM ` + db + `.events FINAL
PREWHERE department = @dept
WHERE ` + periodCond("at") + ` AND received_at > at + 3600`
	default: // events_valid
		q = `SELECT any(request_id) AS f_case, any(error) AS f_sub, '' AS f_matter, min(received_at) AS f_start, min(received_at) AS f_end,
    toFloat64(0) AS n, toFloat64(1) AS d
FROM ` + db + `.rejected_events
WHERE department = @dept AND ` + periodCond("received_at") + `
GROUP BY source, cityHash64(raw)`
	}
	if count {
		return "SELECT count() FROM (" + q + ") AS x"
	}
	return "SELECT f_case, f_sub, f_matter, f_start, f_end, n, d FROM (" + q + ") AS x\nORDER BY f_start, f_case\nLIMIT @limit OFFSET @offset"
}

// lostWhat says, per query, what went wrong with a listed item.
var lostWhat = map[string]string{
	"on_time_completion":         "超期办结 / completed after its due instant",
	"promise_compression":        "承诺时限未压缩到位 / promised limit close to the legal one",
	"actual_speedup":             "实际用时占法定时限比例高 / used much of the legal limit",
	"instant_rate":               "未当场即办 / not completed on the day as an instant case",
	"zero_visit_rate":            "申请人跑了现场 / the applicant had to come in",
	"at_most_one_visit_rate":     "跑动超过一次 / the applicant came in more than once",
	"online_rate":                "未网上受理 / not applied for online",
	"mobile_rate":                "未掌上办理 / not applied for on mobile",
	"fully_online_rate":          "未全程网办 / not handled online end to end",
	"shared_materials_rate":      "材料未通过共享获取 / materials not taken from data sharing",
	"materials_per_case":         "申请人提交材料多 / the applicant submitted materials",
	"positive_rating_rate":       "评价不满意 / rated below 4",
	"rating_participation":       "办结后无评价 / completed without a rating",
	"bad_rating_rectified":       "差评未在15个工作日内整改 / bad rating not fixed within 15 working days",
	"mean_working_days":          "办理用时长 / took many working days",
	"parallel_handling_rate":     "多部门环节串行办理 / steps of several departments ran one after another",
	"steps_on_time":              "环节超时 / step finished after its limit",
	"steps_per_case":             "环节多 / many steps",
	"consult_within_1_day":       "征求意见超过1个工作日 / consultation took more than 1 working day",
	"countersign_within_3_days":  "会签超过3个工作日 / countersign took more than 3 working days",
	"closed_loop_rate":           "未反馈闭环 / no feedback to the reporter",
	"mean_hours":                 "处置时间长 / took many hours",
	"signed_within_24h":          "24小时内未签收 / not signed within 24 hours",
	"resolved_rate":              "诉求未解决 / not resolved",
	"tasks_on_time":              "任务未按期完成 / task not completed by its due date",
	"milestones_met":             "节点目标未按期达成 / milestone not met by its due date",
	"mean_days_late":             "任务逾期 / task late",
	"reminders_answered_in_time": "催办未在1个工作日内响应 / reminder not answered within 1 working day",
	"red_lights_cleared":         "亮红灯后2个工作日内未办结 / not completed within 2 working days after turning red",
	"reported_within_1h":         "数据晚于1小时报送 / reported more than 1 hour after it happened",
	"completed_with_accepted":    "办结件缺少受理记录 / completed without an accepted event",
	"events_valid":               "数据校验未通过 / rejected by validation",
}

// linesSQL: per department, a matter's service cases completed in the
// period with their legal, promised and used working days (sums and
// counts), from the stored facts (bind factsArgs).
func linesSQL(db string, final bool) string {
	return calendarWith(db) + `
SELECT f_dept, any(f_matter_name), count(),
    toFloat64(sumIf(legal, legal >= 0)), toFloat64(countIf(legal >= 0)),
    toFloat64(sumIf(promised, promised >= 0)), toFloat64(countIf(promised >= 0)),
    toFloat64(sum(used))
FROM
(` + periodFactsSQL(db, srcCases, final) + `
) AS f
WHERE k = 1 AND done_in AND f_matter = @matter
GROUP BY f_dept
ORDER BY f_dept`
}

// busiestSQL: the @n matters with the most service cases completed in
// the period, with their legal, promised and used working days.
func busiestSQL(db string, final bool) string {
	return calendarWith(db) + `
SELECT f_matter, any(f_matter_name), count() AS n,
    toFloat64(sumIf(legal, legal >= 0)), toFloat64(countIf(legal >= 0)),
    toFloat64(sumIf(promised, promised >= 0)), toFloat64(countIf(promised >= 0)),
    toFloat64(sum(used))
FROM
(` + periodFactsSQL(db, srcCases, final) + `
) AS f
WHERE k = 1 AND done_in AND f_matter != ''
GROUP BY f_matter
ORDER BY n DESC, f_matter
LIMIT @n`
}
