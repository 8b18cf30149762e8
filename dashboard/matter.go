package dashboard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"

	"effidx/access"
	"effidx/indices"
)

// linesPoint is a matter's three lines in one period; ok is false when no
// case of it was completed then.
type linesPoint struct {
	p  indices.Period
	ok bool
	r  indices.LinesResponse
}

// matterLines is matter's three lines over the periods up to p (not past
// today), each cached: a matter page does not query ClickHouse per view.
func (s *Server) matterLines(ctx context.Context, matter string, p indices.Period) ([]linesPoint, error) {
	now := s.api.Now()
	q := p
	n := trendLen(p.Kind)
	for range n - 1 {
		q = q.Previous()
	}
	var out []linesPoint
	for range n {
		if q.Start(now.Location()).After(now) {
			break
		}
		qq := q
		pt, err := s.linesCache.get(ctx, matter+"\x00"+q.String(), func(ctx context.Context) (linesPoint, error) {
			r, err := s.api.Lines(ctx, matter, qq)
			if isEmptyErr(err) {
				return linesPoint{p: qq}, nil
			}
			return linesPoint{p: qq, ok: err == nil, r: r}, err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, pt)
		q = q.Next()
	}
	return out, nil
}

func linesChart(pts []linesPoint) option {
	var x []string
	var legal, promised, actual []float64
	for _, pt := range pts {
		x = append(x, pt.p.String())
		if pt.ok {
			legal, promised, actual = append(legal, float64(pt.r.Legal)), append(promised, float64(pt.r.Promised)), append(actual, float64(pt.r.Actual))
		} else {
			legal, promised, actual = append(legal, math.NaN()), append(promised, math.NaN()), append(actual, math.NaN())
		}
	}
	return lines(x, "工作日", false,
		lineSeries{name: "法定时限", color: colorLegal, values: legal, decimals: 2},
		lineSeries{name: "承诺时限", color: colorPromised, values: promised, decimals: 2},
		lineSeries{name: "实际用时", color: colorActual, values: actual, decimals: 2})
}

type matterBody struct {
	Matter, Name            string
	Cases                   string
	Legal, Promised, Actual string
	Departments             []matterDept
	Recent                  []matterCase
	OwnOnly                 string // a department user sees its own cases only
	Slot                    chartSlot
}

type matterDept struct {
	Department, Href, Cases, Legal, Promised, Actual string
}

type matterCase struct {
	CaseID, Department, Accepted, Completed, Legal, Promised, Used, OnTime string
	Late                                                                   bool
}

const recentCases = 20

func (s *Server) matterPage(w http.ResponseWriter, r *http.Request) {
	matter := r.PathValue("id")
	p, explicit, err := s.reqPeriod(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	who := identity(r)
	path := "/matters/" + escapeID(matter)
	d := &pageData{Title: "事项 " + matter, Page: "matter", Who: who, Nav: nav(who, "matter", p, explicit),
		Period: p, PNav: s.periodNav(path, p), DataSrc: href("/data"+path, "period", p.String())}
	pts, err := s.matterLines(r.Context(), matter, p)
	if err != nil {
		s.failErr(w, r, "三线数据", err)
		return
	}
	b := &matterBody{Matter: matter, Name: matter}
	for _, pt := range pts {
		if pt.ok && pt.r.MatterName != "" {
			b.Name = pt.r.MatterName
		}
	}
	dp := &dataPayload{Charts: map[string]option{"lines": linesChart(pts)}, Empty: map[string]string{"lines": "近期没有办结的办件，画不出三线"}}
	b.Slot = slot(dp, "lines")
	var cur *linesPoint
	if n := len(pts); n > 0 && pts[n-1].p == p {
		cur = &pts[n-1]
	}
	if cur == nil || !cur.ok {
		d.Empty = s.empty(r.Context(), path, p, nil)
		d.Empty.Msg = fmt.Sprintf("事项 %s 在%s没有办结的办件。", matter, periodName(p))
		d.Empty.Last = nil
		for i := len(pts) - 1; i >= 0; i-- {
			if pts[i].ok {
				d.Empty.Last = &link{Label: "查看" + periodName(pts[i].p), Href: href(path, "period", pts[i].p.String())}
				break
			}
		}
	} else {
		lr := cur.r
		b.Cases, b.Legal, b.Promised, b.Actual = count(float64(lr.Cases)), days(float64(lr.Legal)), days(float64(lr.Promised)), days(float64(lr.Actual))
		ps := ""
		if explicit {
			ps = p.String()
		}
		for _, dr := range lr.Departments {
			md := matterDept{Department: dr.Department, Cases: count(float64(dr.Cases)),
				Legal: days(float64(dr.Legal)), Promised: days(float64(dr.Promised)), Actual: days(float64(dr.Actual))}
			if who.CanSeeDepartment(dr.Department) {
				md.Href = href("/departments/"+escapeID(dr.Department), "period", ps)
			}
			b.Departments = append(b.Departments, md)
		}
		scope := ""
		if !who.SeesAll() {
			scope, b.OwnOnly = who.Department, who.Department
		}
		cases, err := s.casesCache.get(r.Context(), matter+"\x00"+scope+"\x00"+p.String(), func(ctx context.Context) ([]indices.MatterCase, error) {
			return s.api.RecentCases(ctx, matter, scope, p, recentCases)
		})
		if err != nil {
			s.failErr(w, r, "近期办件", err)
			return
		}
		loc := s.api.Now().Location()
		for _, c := range cases {
			lim := func(n int) string {
				if n < 0 {
					return dash
				}
				return fmt.Sprintf("%d 个工作日", n)
			}
			mc := matterCase{CaseID: c.CaseID, Department: c.Department, Accepted: clock(c.Accepted, loc), Completed: clock(c.Completed, loc),
				Legal: lim(c.Legal), Promised: lim(c.Promised), Used: days(c.Used), OnTime: "按时"}
			switch {
			case c.Legal < 0 && c.Promised < 0:
				mc.OnTime = "无期限"
			case !c.OnTime:
				mc.OnTime, mc.Late = "超期", true
			}
			b.Recent = append(b.Recent, mc)
		}
	}
	d.Title = b.Name + " · 三线"
	d.Body = b
	s.render(w, http.StatusOK, "matter", d)
}

func (s *Server) matterData(w http.ResponseWriter, r *http.Request) {
	p, _, err := s.reqPeriod(r)
	if err != nil {
		access.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	pts, err := s.matterLines(r.Context(), r.PathValue("id"), p)
	if err != nil && !errors.Is(err, indices.ErrNotYet) {
		s.dataFail(w, r, "matter lines", err)
		return
	}
	writeData(w, &dataPayload{Period: p.String(), Charts: map[string]option{"lines": linesChart(pts)},
		Empty: map[string]string{"lines": "近期没有办结的办件，画不出三线"}})
}
