package remind

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"effidx/rules"
)

// Levels of a delivery, as in reminder_log.level.
var levelNames = [...]string{rules.Responsible, rules.SectionHead, rules.Leader}

// ItemRef names an item with a light.
type ItemRef struct {
	Kind        string `json:"kind"` // service, internal, scenario, ticket, task, step, milestone
	CaseID      string `json:"case_id"`
	Item        string `json:"item,omitempty"` // step or milestone id
	Matter      string `json:"matter,omitempty"`
	Department  string `json:"department"`
	Responsible string `json:"responsible,omitempty"`
}

// Message is what a channel delivers; the webhook's JSON body as is.
type Message struct {
	ID           string     `json:"id"`                    // delivery id, also the Idempotency-Key
	ReminderID   string     `json:"reminder_id,omitempty"` // urges: the step of the reminded/responded events
	Type         string     `json:"type"`                  // notice | urge | escalation
	Step         string     `json:"step"`                  // rule step id
	Repeat       int        `json:"repeat"`
	Level        string     `json:"level"` // responsible | section_head | leader
	To           Person     `json:"to"`
	Note         string     `json:"note,omitempty"` // e.g. why the duty contact gets it
	Item         ItemRef    `json:"item"`
	Light        string     `json:"light"`
	LegalOverdue bool       `json:"legal_overdue"`
	Due          *time.Time `json:"due,omitempty"`
	LegalDue     *time.Time `json:"legal_due,omitempty"`
	WorkdaysLeft int        `json:"workdays_left"` // negative: overdue; tasks and milestones: calendar days
	Subject      string     `json:"subject"`
	Text         string     `json:"text"`
	Link         string     `json:"link,omitempty"`    // the item on the lights page
	AckURL       string     `json:"ack_url,omitempty"` // urges: the signed acknowledgement link
	DueAt        time.Time  `json:"due_at"`            // when the message fell due
}

// hash16 is a hex id of parts (128 bits of SHA-256).
func hash16(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// topicID identifies an item's rule step: what an acknowledgement covers.
func topicID(kind, caseID, item, step string) string {
	return hash16("topic", kind, caseID, item, step)
}

// deliveryID identifies one delivery: the unit sent exactly once.
func deliveryID(kind, caseID, item, step string, repeat, level int, channel string) string {
	return hash16("delivery", kind, caseID, item, step, strconv.Itoa(repeat), strconv.Itoa(level), channel)
}

// ReminderID is the step field of the reminded and responded events of a
// reminder: "rm:" step ["#" repeat] ["@" item]. Rule step ids cannot
// contain '#' or '@', so the item (any text) can come last.
func ReminderID(step string, repeat int, item string) string {
	id := "rm:" + step
	if repeat > 0 {
		id += "#" + strconv.Itoa(repeat)
	}
	if item != "" {
		id += "@" + item
	}
	return id
}

// eventID is the event_id of a reminded or responded event: derived from
// the reminder, so that a resend collapses.
func eventID(typ, caseID, reminderID string) string {
	return "effidx-remind-" + hash16(typ, caseID, reminderID)
}

var kindLabels = map[string]string{
	"service": "办件", "internal": "内部事项", "scenario": "场景事件", "ticket": "12345诉求",
	"task": "改革任务", "step": "办理环节", "milestone": "任务节点",
}

var lightLabels = map[string]string{"green": "绿灯", "yellow": "黄灯", "red": "红灯"}

// compose fills the subject and text of m (Chinese, for the people who
// read them; the JSON fields carry the same facts for gateways).
func (m *Message) compose(loc *time.Location) {
	what := kindLabels[m.Item.Kind] + " " + m.Item.CaseID
	if m.Item.Item != "" {
		what += " / " + m.Item.Item
	}
	var head string
	switch m.Type {
	case "notice":
		head = "【预先提醒】"
	case "urge":
		head = "【催办】"
		if m.Repeat > 0 {
			head = fmt.Sprintf("【催办·第%d次】", m.Repeat+1)
		}
	case "escalation":
		head = "【督办升级】"
	}
	if m.LegalOverdue {
		head += "【超法定时限】"
	}
	m.Subject = head + what
	var b strings.Builder
	fmt.Fprintf(&b, "%s：\n\n", m.To.Name)
	switch m.Type {
	case "escalation":
		fmt.Fprintf(&b, "您部门的%s已超期，责任人%s尚未确认催办，现提请您督办。\n", what, orDash(m.Item.Responsible))
	case "urge":
		fmt.Fprintf(&b, "您负责的%s已超期，请尽快办理，并点击下方链接确认收到。\n", what)
	default:
		fmt.Fprintf(&b, "您负责的%s即将到期，请合理安排办理。\n", what)
	}
	if m.Note != "" {
		fmt.Fprintf(&b, "（%s）\n", m.Note)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "部门：%s\n", m.Item.Department)
	if m.Item.Matter != "" {
		fmt.Fprintf(&b, "事项：%s\n", m.Item.Matter)
	}
	fmt.Fprintf(&b, "亮灯：%s", orDash(lightLabels[m.Light]))
	if m.LegalOverdue {
		b.WriteString("（已超法定时限）")
	}
	b.WriteString("\n")
	if m.Due != nil {
		fmt.Fprintf(&b, "到期：%s\n", m.Due.In(loc).Format("2006-01-02 15:04"))
	} else {
		b.WriteString("到期：时钟暂停\n")
	}
	if m.LegalDue != nil {
		fmt.Fprintf(&b, "法定到期：%s\n", m.LegalDue.In(loc).Format("2006-01-02 15:04"))
	}
	unit := "个工作日"
	if m.Item.Kind == "task" || m.Item.Kind == "milestone" {
		unit = "天"
	}
	switch {
	case m.WorkdaysLeft < 0:
		fmt.Fprintf(&b, "已超期：%d %s\n", -m.WorkdaysLeft, unit)
	case m.WorkdaysLeft == 0:
		b.WriteString("今日到期\n")
	default:
		fmt.Fprintf(&b, "剩余：%d %s\n", m.WorkdaysLeft, unit)
	}
	if m.Link != "" {
		fmt.Fprintf(&b, "\n查看：%s\n", m.Link)
	}
	if m.AckURL != "" {
		fmt.Fprintf(&b, "确认收到：%s\n", m.AckURL)
	}
	fmt.Fprintf(&b, "\n（效能督查系统自动发送，编号 %s）\n", m.ID)
	m.Text = b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// itemLink is the item on the lights page, filtered to its case.
func itemLink(base string, it ItemRef) string {
	if base == "" {
		return ""
	}
	q := url.Values{"department": {it.Department}, "case": {it.CaseID}, "level": {"all"}}
	return strings.TrimSuffix(base, "/") + "/lights?" + q.Encode()
}
