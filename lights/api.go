package lights

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"effidx/access"
)

// APIItem is one entry of GET /api/v1/lights.
type APIItem struct {
	CaseID       string     `json:"case_id"`
	Kind         string     `json:"kind"`
	Item         string     `json:"item,omitempty"`
	Matter       string     `json:"matter,omitempty"`
	Department   string     `json:"department"`
	Responsible  string     `json:"responsible,omitempty"`
	Due          *time.Time `json:"due,omitempty"`
	LegalDue     *time.Time `json:"legal_due,omitempty"`
	WorkdaysLeft int        `json:"workdays_left"` // negative: working days overdue
	Light        string     `json:"light"`
	LegalOverdue bool       `json:"legal_overdue"`
	Provisional  bool       `json:"provisional,omitempty"`
}

// APIAnswer is the body of GET /api/v1/lights.
type APIAnswer struct {
	ComputedAt time.Time `json:"computed_at"`
	Total      int       `json:"total"` // matching items; Items holds at most limit of them
	Items      []APIItem `json:"items"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ServeHTTP answers GET /api/v1/lights?department=&kind=&level=&limit=.
// level is the least light shown: yellow means yellow and red.
func (j *Job) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dept, kind, lvl := q.Get("department"), q.Get("kind"), q.Get("level")
	// A department user sees only its own items (SPEC 7): no department
	// asked means its own, another department is refused.
	if id, ok := access.FromContext(r.Context()); ok && !id.SeesAll() {
		switch {
		case dept == "":
			dept = id.Department
		case !id.CanSeeDepartment(dept):
			access.Forbidden(w, fmt.Sprintf("%s may see only department %s's lights", id.Name, id.Department))
			return
		}
	}
	var min int8
	switch lvl {
	case "", Green:
	case Yellow, Red:
		min = level(lvl)
	default:
		http.Error(w, "level must be green, yellow or red", http.StatusBadRequest)
		return
	}
	limit := 1000
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100000 {
			http.Error(w, "limit must be 1..100000", http.StatusBadRequest)
			return
		}
		limit = n
	}
	s := j.current()
	if s == nil {
		http.Error(w, "lights are not computed yet; retry in a minute", http.StatusServiceUnavailable)
		return
	}
	key := fmt.Sprintf("%s\x00%s\x00%d\x00%d", dept, kind, min, limit)
	if b, ok := s.answers.Load(key); ok {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(b.([]byte))
		return
	}
	ans := APIAnswer{Items: []APIItem{}}
	for _, p := range s.order {
		it := s.item(p)
		if (dept != "" && it.Department != dept) || (kind != "" && it.Kind != kind) || s.verdict(p).level < min {
			continue
		}
		ans.Total++
		if len(ans.Items) < limit {
			l := s.lit(p)
			ans.Items = append(ans.Items, APIItem{
				CaseID: l.CaseID, Kind: l.Kind, Item: l.Sub, Matter: l.Matter, Department: l.Department,
				Responsible: l.Responsible, Due: timePtr(l.Due), LegalDue: timePtr(l.LegalDue),
				WorkdaysLeft: l.WorkdaysLeft, Light: l.Light, LegalOverdue: l.LegalOverdue, Provisional: l.Provisional,
			})
		}
	}
	ans.ComputedAt = s.taken
	b, err := json.Marshal(ans)
	if err != nil {
		http.Error(w, "encoding the lights failed", http.StatusInternalServerError)
		return
	}
	b = append(b, '\n')
	if s.nanswer.Add(1) <= maxAnswers {
		s.answers.Store(key, b)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(b)
}
