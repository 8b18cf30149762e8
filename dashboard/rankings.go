package dashboard

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"effidx/indices"
)

// rankRow is one subject of a league table.
type rankRow struct {
	Rank, PrevRank, RankChange int
	Subject, Href              string
	Total, Change              float64
	Dims                       []float64
}

// rankSorts are the sortable columns: key → value of a row (NaN and
// rank 0 sort last whichever the order).
var rankSorts = map[string]func(r *rankRow) float64{
	"rank":        func(r *rankRow) float64 { return orNaN(float64(r.Rank), r.Rank == 0) },
	"total":       func(r *rankRow) float64 { return r.Total },
	"S":           func(r *rankRow) float64 { return dimOf(r, 0) },
	"C":           func(r *rankRow) float64 { return dimOf(r, 1) },
	"E":           func(r *rankRow) float64 { return dimOf(r, 2) },
	"change":      func(r *rankRow) float64 { return r.Change },
	"rank_change": func(r *rankRow) float64 { return orNaN(float64(r.RankChange), r.PrevRank == 0 || r.Rank == 0) },
	"subject":     nil, // by name
}

func orNaN(v float64, none bool) float64 {
	if none {
		return math.NaN()
	}
	return v
}

func dimOf(r *rankRow, i int) float64 {
	if i < len(r.Dims) {
		return r.Dims[i]
	}
	return math.NaN()
}

// sortRows sorts by key; desc reverses, n/a stays last.
func sortRows(rows []*rankRow, key string, desc bool) {
	f := rankSorts[key]
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if f == nil {
			if desc {
				return a.Subject > b.Subject
			}
			return a.Subject < b.Subject
		}
		va, vb := f(a), f(b)
		if finite(va) != finite(vb) {
			return finite(va)
		}
		if va == vb || !finite(va) {
			return a.Subject < b.Subject
		}
		if desc {
			return va > vb
		}
		return va < vb
	})
}

type rankCol struct {
	Key, Label, Href string
	Sorted           string // "", "asc" or "desc"
}

type rankingsBody struct {
	Body        template.HTML // the table's rows
	Subject     string        // department or region
	SubjectName string
	Tabs        []link
	Cols        []rankCol
	Rows        []*rankRow
	CSV         string
	Computed    string
}

var subjectNames = map[string]string{indices.SubjectDepartment: "部门", indices.SubjectRegion: "区县"}

// rankings reads the league table of subject type typ in p.
func (s *Server) rankings(r *http.Request, p indices.Period, typ string, explicit bool) ([]*rankRow, indices.ScoresResponse, error) {
	sc, err := s.api.Scores(r.Context(), p, typ)
	if err != nil {
		return nil, sc, err
	}
	who := identity(r)
	ps := ""
	if explicit {
		ps = p.String()
	}
	var rows []*rankRow
	for _, cd := range sc.Cards {
		row := &rankRow{Rank: cd.Rank, PrevRank: cd.PrevRank, RankChange: cd.RankChange, Subject: cd.Subject, Total: cd.Total, Change: cd.Change}
		for _, dm := range cd.Dimensions {
			row.Dims = append(row.Dims, dm.Score)
		}
		if typ == indices.SubjectDepartment && who.CanSeeDepartment(cd.Subject) {
			row.Href = href("/departments/"+escapeID(cd.Subject), "period", ps)
		}
		rows = append(rows, row)
	}
	return rows, sc, nil
}

func (s *Server) rankingsPage(w http.ResponseWriter, r *http.Request) {
	p, explicit, err := s.reqPeriod(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	q := r.URL.Query()
	typ := q.Get("subject")
	if typ == "" {
		typ = indices.SubjectDepartment
	}
	if _, ok := subjectNames[typ]; !ok {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("subject %q: 请选择 department（部门）或 region（区县）", typ))
		return
	}
	key, order := q.Get("sort"), q.Get("order")
	if key == "" {
		key = "rank"
	}
	if _, ok := rankSorts[key]; !ok {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("sort %q: 可按 rank, total, S, C, E, change, rank_change, subject 排序", key))
		return
	}
	if order != "asc" && order != "desc" {
		order = "asc"
		if key != "rank" && key != "subject" {
			order = "desc"
		}
	}
	rows, sc, err := s.rankings(r, p, typ, explicit)
	if err != nil && !isEmptyErr(err) {
		if q.Get("format") == "csv" {
			s.dataFail(w, r, "rankings", err)
			return
		}
		s.failErr(w, r, "排名", err)
		return
	}
	sortRows(rows, key, order == "desc")
	if q.Get("format") == "csv" {
		writeRankingsCSV(w, p, typ, s.api.Catalog(), rows)
		return
	}
	ps := ""
	if explicit {
		ps = p.String()
	}
	who := identity(r)
	body := &rankingsBody{Subject: typ, SubjectName: subjectNames[typ], Rows: rows, Body: rankTable(rows),
		CSV: href("/rankings", "period", p.String(), "subject", typ, "sort", key, "order", order, "format", "csv")}
	if !sc.ComputedAt.IsZero() {
		body.Computed = clock(sc.ComputedAt, s.api.Now().Location())
	}
	for _, t := range []string{indices.SubjectDepartment, indices.SubjectRegion} {
		body.Tabs = append(body.Tabs, link{Label: subjectNames[t] + "排名", Href: href("/rankings", "period", ps, "subject", t), Active: t == typ})
	}
	cols := []rankCol{{Key: "rank", Label: "排名"}, {Key: "subject", Label: subjectNames[typ]}, {Key: "total", Label: "改革效能指数"}}
	for i, dm := range s.api.Catalog().Dimensions {
		k := []string{"S", "C", "E"}
		if i < len(k) {
			cols = append(cols, rankCol{Key: k[i], Label: dm.NameZH})
		}
	}
	cols = append(cols, rankCol{Key: "rank_change", Label: "排名变化"}, rankCol{Key: "change", Label: "较上期"})
	for i := range cols {
		c := &cols[i]
		next := "desc"
		if c.Key == "rank" || c.Key == "subject" {
			next = "asc"
		}
		if c.Key == key {
			c.Sorted = order
			next = map[string]string{"asc": "desc", "desc": "asc"}[order]
		}
		c.Href = href("/rankings", "period", ps, "subject", typ, "sort", c.Key, "order", next)
	}
	body.Cols = cols
	d := &pageData{Title: subjectNames[typ] + "排名", Page: "rankings", Who: who, Nav: nav(who, "rankings", p, explicit),
		Period: p, PNav: s.periodNav("/rankings", p, "subject", typ), Body: body, Scripts: []string{"/assets/dashboard.js"}}
	if len(rows) == 0 || !anyRanked(rows) {
		d.Empty = s.empty(r.Context(), "/rankings", p, err, "subject", typ)
	}
	s.render(w, http.StatusOK, "rankings", d)
}

func anyRanked(rows []*rankRow) bool {
	for _, r := range rows {
		if r.Rank > 0 {
			return true
		}
	}
	return false
}

// writeRankingsCSV writes the table as CSV in UTF-8 with a byte-order
// mark: Excel then reads the Chinese correctly (XLSX-compatible).
func writeRankingsCSV(w http.ResponseWriter, p indices.Period, typ string, cat *indices.Catalog, rows []*rankRow) {
	var buf bytes.Buffer
	buf.WriteString("\uFEFF")
	cw := csv.NewWriter(&buf)
	head := []string{"排名", subjectNames[typ] + "编码", "改革效能指数"}
	for _, dm := range cat.Dimensions {
		head = append(head, dm.NameZH)
	}
	head = append(head, "等级", "上期排名", "排名变化", "较上期", "期间")
	_ = cw.Write(head)
	num := func(v float64) string {
		if !finite(v) {
			return ""
		}
		return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
	}
	for _, r := range rows {
		rec := []string{rankText(r.Rank), r.Subject, num(r.Total)}
		for i := range cat.Dimensions {
			rec = append(rec, num(dimOf(r, i)))
		}
		bandName, _ := band(r.Total)
		rc := ""
		if r.PrevRank > 0 && r.Rank > 0 {
			rc = strconv.Itoa(r.RankChange)
		}
		rec = append(rec, bandName, rankText(r.PrevRank), rc, num(r.Change), p.String())
		_ = cw.Write(rec)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		http.Error(w, "CSV: "+err.Error(), http.StatusInternalServerError)
		return
	}
	name := fmt.Sprintf("effidx-rankings-%s-%s.csv", typ, p)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q; filename*=UTF-8''%s", name, url.PathEscape(name)))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func rankText(r int) string {
	if r == 0 {
		return ""
	}
	return strconv.Itoa(r)
}

// rankTable renders the league table's rows: written here rather than by
// html/template, whose escaping per cell is most of a page's cost. Every
// text is escaped.
func rankTable(rows []*rankRow) template.HTML {
	var b strings.Builder
	e := html.EscapeString
	b.WriteString("<tbody>")
	for _, r := range rows {
		b.WriteString(`<tr><td class="num">`)
		if r.Rank > 0 {
			b.WriteString(strconv.Itoa(r.Rank))
		} else {
			b.WriteString(dash)
		}
		b.WriteString(`</td><td>`)
		if r.Href != "" {
			b.WriteString(`<a href="` + e(r.Href) + `">` + e(r.Subject) + `</a>`)
		} else {
			b.WriteString(e(r.Subject))
		}
		b.WriteString(`</td><td class="num strong">` + score(r.Total) + `</td>`)
		for _, d := range r.Dims {
			b.WriteString(`<td class="num">` + score(d) + `</td>`)
		}
		b.WriteString(`<td class="num">`)
		switch {
		case r.Rank == 0 || r.PrevRank == 0:
			b.WriteString(dash)
		case r.RankChange > 0:
			b.WriteString(`<span class="up">↑` + strconv.Itoa(r.RankChange) + `</span>`)
		case r.RankChange < 0:
			b.WriteString(`<span class="down">↓` + strconv.Itoa(-r.RankChange) + `</span>`)
		default:
			b.WriteString("持平")
		}
		bandName, _ := band(r.Total)
		b.WriteString(`</td><td class="num">` + signed(r.Change) + `</td><td><span class="band">` + bandName + `</span></td></tr>`)
	}
	b.WriteString("</tbody>")
	// Numbers are formatted here; the subject and link are escaped.
	return template.HTML(b.String())
}
