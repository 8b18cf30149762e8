package dashboard

import (
	"context"
	"fmt"
	"html"
	"html/template"
	"net/url"
	"strings"
	"time"

	"effidx/remind"
)

// ReminderSource is what the pages show of the reminders (*remind.Job).
type ReminderSource interface {
	// History is what was sent about the cases, oldest first.
	History(ctx context.Context, cases []string) ([]remind.Entry, error)
	// Recent is a department's latest reminder records, newest first.
	Recent(ctx context.Context, department string, limit int) ([]remind.Entry, error)
}

// reminderKind names an entry for people: 提醒 (notice), 催办 (urge) or
// 升级 (escalation to a head).
func reminderKind(e *remind.Entry) string {
	switch {
	case e.Record == "ack":
		return "确认"
	case e.Level != "responsible":
		return "升级"
	case e.ReminderID != "":
		if e.Repeat > 0 {
			return fmt.Sprintf("催办(第%d次)", e.Repeat+1)
		}
		return "催办"
	}
	return "提醒"
}

var recordNames = map[string]string{"sent": "已发送", "failed": "发送失败", "skipped": "无法发送", "ack": "已确认"}

// remindersOf fills each row's reminder summary: what went to whom and
// when, and whether it was acknowledged. Without a source, or when the
// log cannot be read, the rows stay as they are (the lights matter more).
func (s *Server) remindersOf(ctx context.Context, rows []lightRow, loc *time.Location) bool {
	if s.reminders == nil || len(rows) == 0 {
		return false
	}
	cases := make([]string, 0, len(rows))
	seen := map[string]bool{}
	for _, r := range rows {
		if !seen[r.CaseID] {
			seen[r.CaseID] = true
			cases = append(cases, r.CaseID)
		}
	}
	es, err := s.reminders.History(ctx, cases)
	if err != nil {
		s.log.Warn("lights page: reminder history not shown", "err", err)
		return true
	}
	type key struct{ caseID, item string }
	byItem := map[key][]*remind.Entry{}
	for i := range es {
		e := &es[i]
		byItem[key{e.CaseID, e.Item}] = append(byItem[key{e.CaseID, e.Item}], e)
	}
	for i := range rows {
		rows[i].Reminders = summary(byItem[key{rows[i].CaseID, rows[i].Item}], loc)
	}
	return true
}

// summary is one line per message (channels merged), the last few only,
// then the acknowledgement.
func summary(es []*remind.Entry, loc *time.Location) string {
	type msg struct {
		at, what, to string
		channels     []string
		state        string
	}
	var msgs []*msg
	byKey := map[string]*msg{}
	ack := ""
	for _, e := range es {
		at := e.At.In(loc).Format("01-02 15:04")
		if e.Record == "ack" {
			if ack == "" {
				ack = "✓ " + e.RecipientName + " " + at + " 已确认"
			}
			continue
		}
		k := fmt.Sprintf("%s/%d/%s", e.Step, e.Repeat, e.Level)
		m := byKey[k]
		if m == nil {
			m = &msg{at: at, what: reminderKind(e), to: e.RecipientName}
			byKey[k] = m
			msgs = append(msgs, m)
		}
		if e.Record == "sent" {
			m.channels = append(m.channels, e.Channel)
			m.state = ""
		} else if len(m.channels) == 0 {
			m.state = recordNames[e.Record]
		}
	}
	var parts []string
	if len(msgs) > 4 {
		parts = append(parts, fmt.Sprintf("…前 %d 条略", len(msgs)-4))
		msgs = msgs[len(msgs)-4:]
	}
	for _, m := range msgs {
		p := m.at + " " + m.what + "→" + m.to
		if len(m.channels) > 0 {
			p += "（" + strings.Join(m.channels, "、") + "）"
		}
		if m.state != "" {
			p += " " + m.state
		}
		parts = append(parts, p)
	}
	if ack != "" {
		parts = append(parts, ack)
	} else if len(msgs) > 0 {
		parts = append(parts, "未确认")
	}
	return strings.Join(parts, "；")
}

// reminderTable lists a department's latest reminder records (the
// self-portrait). Every text is escaped.
func reminderTable(es []remind.Entry, loc *time.Location) template.HTML {
	var b strings.Builder
	e := html.EscapeString
	b.WriteString(`<table class="table reminders"><thead><tr><th>时间</th><th>办件编号</th><th>环节 / 节点</th><th>类型</th><th>对象</th><th>渠道</th><th>状态</th></tr></thead><tbody>`)
	for i := range es {
		r := &es[i]
		who := r.RecipientName
		if who == "" {
			who = r.Recipient
		}
		state := recordNames[r.Record]
		if r.Record != "sent" && r.Record != "ack" && r.Note != "" {
			state += "：" + r.Note
		}
		fmt.Fprintf(&b, `<tr><td>%s</td><td class="mono"><a href="/lights?%s">%s</a></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>`,
			e(r.At.In(loc).Format("2006-01-02 15:04")), e("department="+url.QueryEscape(r.Department)+"&case="+url.QueryEscape(r.CaseID)+"&level=all"), e(r.CaseID),
			e(r.Item), e(reminderKind(r)), e(who), e(r.Channel), e(state))
	}
	b.WriteString(`</tbody></table>`)
	return template.HTML(b.String())
}
