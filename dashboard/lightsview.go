package dashboard

import (
	"context"
	"sort"
	"time"

	"effidx/lights"
)

// LightSource is the lights job as the pages use it: the items of its last
// run, worst first (*lights.Job).
type LightSource interface {
	Snapshot() ([]lights.Lit, time.Time)
}

// lightView is one snapshot of the lights with what the pages count from
// it. Snapshot copies every open item, so it is taken at most once per
// lightsTTL and shared by all requests.
type lightView struct {
	at     time.Time    // when the lights job ran; zero: not yet
	items  []lights.Lit // worst first; shared, read-only
	byDept map[string]*lightCount
	kinds  []string
}

type lightCount struct {
	Department          string
	Red, Yellow, Green  int
	LegalOverdue, Total int
}

// lightsTTL: the lights job runs every minute; a page may be this much
// behind it.
const lightsTTL = 10 * time.Second

func (s *Server) lightView(ctx context.Context) (*lightView, error) {
	if s.lights == nil {
		return &lightView{byDept: map[string]*lightCount{}}, nil
	}
	return s.lightsCache.get(ctx, "lights", func(context.Context) (*lightView, error) {
		items, at := s.lights.Snapshot()
		v := &lightView{at: at, items: items, byDept: map[string]*lightCount{}}
		kinds := map[string]bool{}
		for i := range items {
			l := &items[i]
			c := v.byDept[l.Department]
			if c == nil {
				c = &lightCount{Department: l.Department}
				v.byDept[l.Department] = c
			}
			switch l.Light {
			case lights.Red:
				c.Red++
			case lights.Yellow:
				c.Yellow++
			default:
				c.Green++
			}
			if l.LegalOverdue {
				c.LegalOverdue++
			}
			c.Total++
			kinds[l.Kind] = true
		}
		for k := range kinds {
			v.kinds = append(v.kinds, k)
		}
		sort.Strings(v.kinds)
		return v, nil
	})
}

// departments lists the departments with open items, sorted.
func (v *lightView) departments() []string {
	out := make([]string, 0, len(v.byDept))
	for d := range v.byDept {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// board is the light board: departments with a red or yellow item, the
// worst first (most red, then most yellow); only dept when it is not "".
func (v *lightView) board(dept string) []*lightCount {
	var out []*lightCount
	for d, c := range v.byDept {
		if (dept == "" || d == dept) && c.Red+c.Yellow > 0 {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Red != b.Red {
			return a.Red > b.Red
		}
		if a.Yellow != b.Yellow {
			return a.Yellow > b.Yellow
		}
		return a.Department < b.Department
	})
	return out
}

// lightFilter selects items: empty fields select all; level is the
// light itself ("" = red and yellow, "all" = every light).
type lightFilter struct {
	Department, Kind, Level string
	CaseID                  string // one case's items (the link in a reminder)
}

func (f lightFilter) match(l *lights.Lit) bool {
	if f.Department != "" && l.Department != f.Department {
		return false
	}
	if f.CaseID != "" && l.CaseID != f.CaseID {
		return false
	}
	if f.Kind != "" && l.Kind != f.Kind {
		return false
	}
	switch f.Level {
	case "":
		return l.Light == lights.Red || l.Light == lights.Yellow
	case "all":
		return true
	}
	return l.Light == f.Level
}

// find returns the first limit items matching f, worst first, and how
// many match in all.
func (v *lightView) find(f lightFilter, limit int) ([]lights.APIItem, int) {
	var out []lights.APIItem
	total := 0
	for i := range v.items {
		l := &v.items[i]
		if !f.match(l) {
			continue
		}
		total++
		if len(out) < limit {
			out = append(out, apiItem(l))
		}
	}
	return out, total
}

// apiItem is the API's shape of an item (GET /api/v1/lights).
func apiItem(l *lights.Lit) lights.APIItem {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return lights.APIItem{
		CaseID: l.CaseID, Kind: l.Kind, Item: l.Sub, Matter: l.Matter, Department: l.Department,
		Responsible: l.Responsible, Due: opt(l.Due), LegalDue: opt(l.LegalDue),
		WorkdaysLeft: l.WorkdaysLeft, Light: l.Light, LegalOverdue: l.LegalOverdue, Provisional: l.Provisional,
	}
}
