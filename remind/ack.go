package remind

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"effidx/access"
	"effidx/warehouse"
)

// ackClaims are what an acknowledgement link grants: acknowledging one
// item's rule step, until it expires.
type ackClaims struct {
	Case    string `json:"c"`
	Topic   string `json:"t"`
	Person  string `json:"p"`
	Expires int64  `json:"e"`
}

// ackPath is where acknowledgement links point; the token is the whole
// credential (no sign-on: the person may read the message on a phone).
const ackPath = "/reminders/ack/"

func (j *Job) ackMAC(payload string) []byte {
	mac := hmac.New(sha256.New, []byte(j.cfg.AckSecret))
	mac.Write([]byte("effidx-ack-v1."))
	mac.Write([]byte(payload))
	return mac.Sum(nil)[:18]
}

func (j *Job) ackToken(c ackClaims) string {
	b, _ := json.Marshal(c)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(j.ackMAC(payload))
}

func (j *Job) ackURL(c ackClaims) string {
	return strings.TrimSuffix(j.cfg.BaseURL, "/") + ackPath + j.ackToken(c)
}

var errBadToken = errors.New("this acknowledgement link is not valid (mistyped or altered)")

// verifyAck checks a token's signature and expiry.
func (j *Job) verifyAck(token string, now time.Time) (ackClaims, error) {
	var c ackClaims
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || j.cfg.AckSecret == "" {
		return c, errBadToken
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, j.ackMAC(payload)) {
		return c, errBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Case == "" || c.Topic == "" {
		return c, errBadToken
	}
	if now.Unix() > c.Expires {
		return c, fmt.Errorf("this acknowledgement link expired on %s", time.Unix(c.Expires, 0).In(now.Location()).Format("2006-01-02 15:04"))
	}
	return c, nil
}

// Entry is one record of an item's reminders, for the API and the pages.
type Entry struct {
	Record        string    `json:"record"` // sent, failed, skipped, ack
	Kind          string    `json:"kind"`
	CaseID        string    `json:"case_id"`
	Item          string    `json:"item,omitempty"`
	Department    string    `json:"department"`
	Step          string    `json:"step"`
	Repeat        int       `json:"repeat"`
	Level         string    `json:"level"`
	ReminderID    string    `json:"reminder_id,omitempty"`
	Channel       string    `json:"channel,omitempty"`
	Recipient     string    `json:"recipient,omitempty"`
	RecipientName string    `json:"recipient_name,omitempty"`
	At            time.Time `json:"at"`
	Attempt       int       `json:"attempt,omitempty"`
	Note          string    `json:"note,omitempty"`
	Topic         string    `json:"topic"`
}

const entryColumns = `toString(record), kind, case_id, item, department, step, repeat, toString(level), reminder_id, channel, recipient, recipient_name, at, attempt, note, topic`

func scanEntries(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}) ([]Entry, error) {
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var repeat, attempt uint16
		if err := rows.Scan(&e.Record, &e.Kind, &e.CaseID, &e.Item, &e.Department, &e.Step, &repeat, &e.Level, &e.ReminderID,
			&e.Channel, &e.Recipient, &e.RecipientName, &e.At, &attempt, &e.Note, &e.Topic); err != nil {
			return nil, err
		}
		e.Repeat, e.Attempt = int(repeat), int(attempt)
		out = append(out, e)
	}
	return out, rows.Err()
}

// History is what was sent about the given cases, to whom and when, what
// failed and what was acknowledged, oldest first.
func (j *Job) History(ctx context.Context, cases []string) ([]Entry, error) {
	if len(cases) == 0 {
		return nil, nil
	}
	var out []Entry
	for lo := 0; lo < len(cases); lo += chunkIDs {
		rows, err := j.conn.Query(ctx, fmt.Sprintf(`SELECT %s FROM %s.reminder_log
WHERE case_id IN (SELECT arrayJoin(?)) AND record IN ('sent', 'failed', 'skipped', 'ack')
ORDER BY at, level, channel`, entryColumns, j.db), cases[lo:min(lo+chunkIDs, len(cases))])
		if err != nil {
			return nil, fmt.Errorf("reminder history: %w", err)
		}
		es, err := scanEntries(rows)
		if err != nil {
			return nil, fmt.Errorf("reminder history: %w", err)
		}
		out = append(out, es...)
	}
	return out, nil
}

// Recent is a department's latest reminder records ("" = every
// department), newest first.
func (j *Job) Recent(ctx context.Context, department string, limit int) ([]Entry, error) {
	q := fmt.Sprintf(`SELECT %s FROM %s.reminder_log
WHERE record IN ('sent', 'failed', 'skipped', 'ack') AND (? = '' OR department = ?)
ORDER BY at DESC, case_id, item, level
LIMIT ?`, entryColumns, j.db)
	rows, err := j.conn.Query(ctx, q, department, department, limit)
	if err != nil {
		return nil, fmt.Errorf("recent reminders: %w", err)
	}
	es, err := scanEntries(rows)
	if err != nil {
		return nil, fmt.Errorf("recent reminders: %w", err)
	}
	return es, nil
}

// topicOf finds an item's rule step from its reminders: by topic id, or by
// a reminder id as events carry it.
func (j *Job) topicOf(ctx context.Context, caseID, topic, reminderID string) ([]Entry, error) {
	rows, err := j.conn.Query(ctx, fmt.Sprintf(`SELECT %s FROM %s.reminder_log
WHERE case_id = ? AND record IN ('sent', 'failed', 'skipped', 'ack')
  AND (topic = ? OR topic IN (SELECT topic FROM %s.reminder_log WHERE case_id = ? AND reminder_id = ? AND reminder_id != ''))
ORDER BY at, level, channel`, entryColumns, j.db, j.db), caseID, topic, caseID, reminderID)
	if err != nil {
		return nil, fmt.Errorf("reminders of case %s: %w", caseID, err)
	}
	es, err := scanEntries(rows)
	if err != nil {
		return nil, fmt.Errorf("reminders of case %s: %w", caseID, err)
	}
	return es, nil
}

// ErrNothingToAck says no reminder was sent for what was to be acknowledged.
var ErrNothingToAck = errors.New("no reminder of this item and step was sent")

// acknowledge records that who acknowledged the step of entries (via says
// how); an acknowledgement already there is kept, not repeated. It returns
// when the step was acknowledged.
func (j *Job) acknowledge(ctx context.Context, es []Entry, who, whoName, via string) (time.Time, bool, error) {
	var base *Entry
	for i := range es {
		if es[i].Record == warehouse.RecordAck {
			return es[i].At, false, nil
		}
		if base == nil && es[i].Record == warehouse.RecordSent {
			base = &es[i]
		}
	}
	if base == nil {
		return time.Time{}, false, ErrNothingToAck
	}
	now := j.now()
	rec := warehouse.ReminderRecord{ID: base.Topic, Topic: base.Topic, Record: warehouse.RecordAck, Kind: base.Kind, CaseID: base.CaseID,
		Item: base.Item, Department: base.Department, Step: base.Step, Recipient: who, RecipientName: whoName, At: now,
		Replica: j.replica, Note: via}
	if err := j.writeRecords(ctx, []warehouse.ReminderRecord{rec}); err != nil {
		return time.Time{}, false, fmt.Errorf("record acknowledgement: %w", err)
	}
	j.setAcked(topicKey{base.Kind, base.CaseID, base.Item, base.Step}, now)
	// The responded events now rather than at the next run: best effort,
	// the outbox catches up if this fails.
	if j.sink != nil {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var rep Report
			if err := j.emit(ctx, &rep); err != nil {
				j.log.Warn("responded events wait for the next run", "err", err)
			}
		}()
	}
	return now, true, nil
}

// Register adds the acknowledgement link's page (public: the signed token
// is the credential) and the API (behind auth).
func (j *Job) Register(handle func(pattern string, h http.Handler), auth func(http.Handler) http.Handler) {
	handle("GET "+ackPath+"{token}", http.HandlerFunc(j.ackPage))
	handle("POST "+ackPath+"{token}", http.HandlerFunc(j.ackPage))
	handle("POST /api/v1/reminders/ack", auth(http.HandlerFunc(j.ackAPI)))
	handle("GET /api/v1/reminders", auth(http.HandlerFunc(j.listAPI)))
}

var ackTemplate = template.Must(template.New("ack").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>确认收到催办</title></head><body>
<h1>确认收到催办</h1>
{{if .Error}}<p><strong>{{.Error}}</strong></p>{{else}}
<p>办件 <b>{{.CaseID}}</b>{{if .Item}} / {{.Item}}{{end}}（部门 {{.Department}}，提醒步骤 {{.Step}}）</p>
<ul>{{range .Sent}}<li>{{.At}} 发送给 {{.To}}（{{.Channel}}）</li>{{end}}</ul>
{{if .AckedAt}}<p>已于 <b>{{.AckedAt}}</b> 确认{{if .Fresh}}，督办升级已停止{{end}}。</p>
{{else}}<form method="post"><button type="submit">确认收到，停止升级</button></form>{{end}}
{{end}}</body></html>
`))

type ackView struct {
	Error                          string
	CaseID, Item, Department, Step string
	Sent                           []struct{ At, To, Channel string }
	AckedAt                        string
	Fresh                          bool
}

// ackPage shows an acknowledgement link's item (GET: mail scanners and
// link previews fetch links, so looking acknowledges nothing) and records
// the acknowledgement on POST.
func (j *Job) ackPage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer") // the token is in the URL
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	now := j.now()
	loc := now.Location()
	if cal, _ := j.calendar(); cal != nil {
		loc = cal.Location()
	}
	c, err := j.verifyAck(r.PathValue("token"), now)
	if err != nil {
		w.WriteHeader(http.StatusForbidden)
		_ = ackTemplate.Execute(w, ackView{Error: err.Error()})
		return
	}
	es, err := j.topicOf(r.Context(), c.Case, c.Topic, "")
	if err != nil {
		j.log.Error("acknowledgement page", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = ackTemplate.Execute(w, ackView{Error: "暂时无法读取催办记录，请稍后重试。"})
		return
	}
	v := ackView{CaseID: c.Case}
	for _, e := range es {
		v.Item, v.Department, v.Step = e.Item, e.Department, e.Step
		switch e.Record {
		case warehouse.RecordSent:
			v.Sent = append(v.Sent, struct{ At, To, Channel string }{e.At.In(loc).Format("2006-01-02 15:04"), e.RecipientName, e.Channel})
		case warehouse.RecordAck:
			if v.AckedAt == "" {
				v.AckedAt = e.At.In(loc).Format("2006-01-02 15:04")
			}
		}
	}
	if r.Method == http.MethodPost && v.AckedAt == "" {
		name := c.Person
		if p := j.dir.People[c.Person]; p != nil {
			name = p.Name
		}
		at, fresh, err := j.acknowledge(r.Context(), es, c.Person, name, "link")
		switch {
		case errors.Is(err, ErrNothingToAck):
			w.WriteHeader(http.StatusNotFound)
			_ = ackTemplate.Execute(w, ackView{Error: "没有找到可确认的催办。"})
			return
		case err != nil:
			j.log.Error("acknowledgement", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = ackTemplate.Execute(w, ackView{Error: "确认未能保存，请稍后重试。"})
			return
		}
		v.AckedAt, v.Fresh = at.In(loc).Format("2006-01-02 15:04"), fresh
	}
	_ = ackTemplate.Execute(w, v)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// AckRequest is the body of POST /api/v1/reminders/ack: the case and one
// of its reminder ids (as in the message and the reminded event), or the
// topic from a message.
type AckRequest struct {
	CaseID     string `json:"case_id"`
	ReminderID string `json:"reminder_id,omitempty"`
	Topic      string `json:"topic,omitempty"`
}

// ackAPI acknowledges for a signed-in user: a department user for its own
// department's items, a leader for any; inspectors only read.
func (j *Job) ackAPI(w http.ResponseWriter, r *http.Request) {
	id, ok := access.FromContext(r.Context())
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "who is asking is not known"})
		return
	}
	var req AckRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.CaseID == "" || (req.ReminderID == "" && req.Topic == "") {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `want {"case_id": "...", "reminder_id": "rm:..."} (or "topic")`})
		return
	}
	es, err := j.topicOf(r.Context(), req.CaseID, req.Topic, req.ReminderID)
	if err != nil {
		j.log.Error("acknowledgement API", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "reading the reminders failed; retry"})
		return
	}
	if len(es) == 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": ErrNothingToAck.Error()})
		return
	}
	if !id.CanSeeDepartment(es[0].Department) || id.Role == access.Inspector {
		access.Forbidden(w, fmt.Sprintf("%s may not acknowledge department %s's reminders", id.Name, es[0].Department))
		return
	}
	at, fresh, err := j.acknowledge(r.Context(), es, id.Name, id.Name, "api")
	switch {
	case errors.Is(err, ErrNothingToAck):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	case err != nil:
		j.log.Error("acknowledgement API", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the acknowledgement was not saved; retry"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"case_id": req.CaseID, "topic": es[0].Topic, "step": es[0].Step,
		"acknowledged_at": at, "already": !fresh})
}

// listAPI answers GET /api/v1/reminders?case_id=&department=&limit=: a
// case's whole history, or a department's latest records.
func (j *Job) listAPI(w http.ResponseWriter, r *http.Request) {
	id, ok := access.FromContext(r.Context())
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "who is asking is not known"})
		return
	}
	q := r.URL.Query()
	dept := q.Get("department")
	if !id.SeesAll() {
		if dept != "" && !id.CanSeeDepartment(dept) {
			access.Forbidden(w, fmt.Sprintf("%s may see only department %s's reminders", id.Name, id.Department))
			return
		}
		dept = id.Department
	}
	limit := 200
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be 1..10000"})
			return
		}
		limit = n
	}
	var es []Entry
	var err error
	if c := q.Get("case_id"); c != "" {
		es, err = j.History(r.Context(), []string{c})
		kept := es[:0]
		for _, e := range es {
			if dept == "" || e.Department == dept {
				kept = append(kept, e)
			}
		}
		es = kept
		if len(es) > limit {
			es = es[len(es)-limit:]
		}
	} else {
		es, err = j.Recent(r.Context(), dept, limit)
	}
	if err != nil {
		j.log.Error("reminders API", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "reading the reminders failed; retry"})
		return
	}
	if es == nil {
		es = []Entry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"reminders": es})
}
