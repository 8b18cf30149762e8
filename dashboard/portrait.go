package dashboard

import (
	"context"
	"errors"
	"fmt"
	"html"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"effidx/access"
	"effidx/indices"
)

// trendLen is how many periods a department's trend shows, by kind.
func trendLen(k indices.PeriodKind) int {
	switch k {
	case indices.Day:
		return 14
	case indices.Quarter:
		return 8
	case indices.Year:
		return 5
	}
	return 12
}

// sparkLen is how many periods an indicator's sparkline shows.
const sparkLen = 6

// indRow is one second-level indicator of a self-portrait.
type indRow struct {
	ID, Name, Explain                  string
	Value, NumDen, Score, Weight, Lost string
	City, CityMean, Prev               string
	LostV                              float64
	NA, Manual                         bool
	Href                               string // the deduction drill-down
	Spark                              template.HTML
	SparkTitle                         string
}

// dimBlock is a dimension of the indicator table.
type dimBlock struct {
	ID, Name, Score, Lost string
	Rows                  []indRow
}

type portraitBody struct {
	Dept                            string
	Total, Rank, Change, RankChange string
	Band                            string
	Ranked                          int
	Dims                            []kpiTile
	Table                           []dimBlock
	TableHTML                       template.HTML
	Items                           []lightRow
	ItemsTable                      template.HTML
	ItemsTotal                      int
	HasReminders                    bool          // reminders are on
	RemindersTable                  template.HTML // the department's latest reminder records
	ItemsHref                       string
	LightsPending                   bool
	Computed, Catalog               string
	Slots                           map[string]chartSlot
	Manual                          string
}

// seeDept answers 403 unless the caller may see dept's details.
func (s *Server) seeDept(w http.ResponseWriter, r *http.Request, dept string) bool {
	if !identity(r).CanSeeDepartment(dept) {
		s.forbidden(w, r)
		return false
	}
	return true
}

func (s *Server) portraitPage(w http.ResponseWriter, r *http.Request) {
	dept := r.PathValue("id")
	if !s.seeDept(w, r, dept) {
		return
	}
	p, explicit, err := s.reqPeriod(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	who := identity(r)
	path := "/departments/" + escapeID(dept)
	d := &pageData{Title: dept + " 自画像", Page: "portrait", Who: who, Nav: nav(who, "portrait", p, explicit),
		Period: p, PNav: s.periodNav(path, p), DataSrc: href("/data"+path, "period", p.String())}
	pr, err := s.api.Portrait(r.Context(), dept, p)
	if isEmptyErr(err) {
		d.Empty = s.empty(r.Context(), path, p, err)
		if !errors.Is(err, indices.ErrNotYet) {
			d.Empty.Msg = fmt.Sprintf("%s在%s没有数据：没有办件、环节或任务归属这个部门。", dept, periodName(p))
		}
		d.DataSrc = ""
		d.Body = &portraitBody{Dept: dept}
		s.render(w, http.StatusOK, "portrait", d)
		return
	}
	if err != nil {
		s.failErr(w, r, "自画像", err)
		return
	}
	body, err := s.portraitBody(r.Context(), pr, p, explicit)
	if err != nil {
		s.failErr(w, r, "自画像", err)
		return
	}
	data, err := s.portraitCharts(r.Context(), pr, p)
	if err != nil {
		s.failErr(w, r, "自画像", err)
		return
	}
	body.Slots = map[string]chartSlot{"radar": slot(data, "radar"), "trend": slot(data, "trend")}
	d.Body = body
	s.render(w, http.StatusOK, "portrait", d)
}

func (s *Server) portraitData(w http.ResponseWriter, r *http.Request) {
	dept := r.PathValue("id")
	if !identity(r).CanSeeDepartment(dept) {
		who := identity(r)
		access.Forbidden(w, fmt.Sprintf("%s may see only department %s's portrait", who.Name, who.Department))
		return
	}
	p, _, err := s.reqPeriod(r)
	if err != nil {
		access.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	pr, err := s.api.Portrait(r.Context(), dept, p)
	if isEmptyErr(err) {
		writeData(w, &dataPayload{Period: p.String(), Charts: map[string]option{"radar": nil, "trend": nil},
			Empty: map[string]string{"radar": "本期暂无数据", "trend": "本期暂无数据"}})
		return
	}
	if err != nil {
		s.dataFail(w, r, "portrait", err)
		return
	}
	d, err := s.portraitCharts(r.Context(), pr, p)
	if err != nil {
		s.dataFail(w, r, "portrait", err)
		return
	}
	writeData(w, d)
}

// portraitCharts are the radar (first-level scores against the city's
// mean) and the index trend.
func (s *Server) portraitCharts(ctx context.Context, pr indices.PortraitResponse, p indices.Period) (*dataPayload, error) {
	d := &dataPayload{Period: p.String(), Charts: map[string]option{}, Empty: map[string]string{}}
	cards, err := s.api.Cards(ctx, p)
	if err != nil {
		return nil, err
	}
	groups := s.api.Catalog().Groups()
	var names []string
	own, city := make([]float64, len(groups)), make([]float64, len(groups))
	for i, g := range groups {
		names = append(names, g.NameZH)
		own[i], city[i] = math.NaN(), math.NaN()
		if i < len(pr.Card.Groups) {
			own[i] = pr.Card.Groups[i].Score
		}
		sum, n := 0.0, 0
		for _, cd := range cards {
			if cd.SubjectType == indices.SubjectDepartment && i < len(cd.Groups) && !cd.Groups[i].NA {
				sum += cd.Groups[i].Score
				n++
			}
		}
		if n > 0 {
			city[i] = sum / float64(n)
		}
	}
	d.Charts["radar"], d.Empty["radar"] = radar(names, own, city), "本期暂无一级指标得分"

	n := trendLen(p.Kind)
	x, dv, err := s.trendOf(ctx, indices.SubjectDepartment, pr.Department, p, n)
	if err != nil {
		return nil, err
	}
	_, cv, err := s.trendOf(ctx, indices.SubjectCity, indices.CityID, p, n)
	if err != nil {
		return nil, err
	}
	d.Charts["trend"] = lines(x, "分", true,
		lineSeries{name: pr.Department, color: colorPromised, values: dv, decimals: 1},
		lineSeries{name: "全市", color: colorYellow, values: cv, decimals: 1})
	d.Empty["trend"] = "暂无历史指数"
	return d, nil
}

func (s *Server) portraitBody(ctx context.Context, pr indices.PortraitResponse, p indices.Period, explicit bool) (*portraitBody, error) {
	cat := s.api.Catalog()
	card := pr.Card
	b := &portraitBody{Dept: pr.Department, Total: score(card.Total), Change: signed(card.Change), Ranked: pr.Ranked,
		Computed: clock(pr.ComputedAt, s.api.Now().Location()), Catalog: pr.Catalog}
	b.Band, _ = band(card.Total)
	b.Rank = dash
	if card.Rank > 0 {
		b.Rank = strconv.Itoa(card.Rank)
	}
	switch {
	case card.Rank == 0 || card.PrevRank == 0:
		b.RankChange = dash
	case card.RankChange > 0:
		b.RankChange = fmt.Sprintf("↑%d", card.RankChange)
	case card.RankChange < 0:
		b.RankChange = fmt.Sprintf("↓%d", -card.RankChange)
	default:
		b.RankChange = "持平"
	}
	for i, dm := range cat.Dimensions {
		v := math.NaN()
		if i < len(card.Dimensions) {
			v = card.Dimensions[i].Score
		}
		b.Dims = append(b.Dims, kpiTile{Label: dm.NameZH, Value: score(v)})
	}

	// Sparklines: the department's score per indicator over the last
	// periods (each period's cards are cached by the API).
	spark := map[string][]float64{}
	var sparkX []string
	q := p
	for range sparkLen - 1 {
		q = q.Previous()
	}
	for range sparkLen {
		cards, err := s.api.Cards(ctx, q)
		if errors.Is(err, indices.ErrNotYet) {
			break
		}
		if err != nil {
			return nil, err
		}
		sparkX = append(sparkX, q.String())
		cd := indices.Lookup(cards, indices.SubjectDepartment, pr.Department)
		for _, ind := range cat.Indicators() {
			v := math.NaN()
			if cd != nil {
				for _, is := range cd.Indicators {
					if is.ID == ind.ID {
						v = is.Score
					}
				}
			}
			spark[ind.ID] = append(spark[ind.ID], v)
		}
		q = q.Next()
	}

	ps := ""
	if explicit {
		ps = p.String()
	}
	byDim := map[string]*dimBlock{}
	for i, dm := range cat.Dimensions {
		blk := dimBlock{ID: dm.ID, Name: dm.NameZH}
		if i < len(card.Dimensions) {
			blk.Score, blk.Lost = score(card.Dimensions[i].Score), points(card.Dimensions[i].Deduction)
		}
		b.Table = append(b.Table, blk)
	}
	for i := range b.Table {
		byDim[b.Table[i].ID] = &b.Table[i]
	}
	groupDim := map[string]string{}
	for _, g := range cat.Groups() {
		groupDim[g.ID] = g.Dimension
	}
	for _, pi := range pr.Indicators {
		sc := pi.Score
		row := indRow{ID: pi.ID, Name: pi.NameZH, Explain: pi.Explain, NA: sc.NA, Manual: pi.Manual,
			Value: value(sc.Value, pi.Unit), Score: score(sc.Score), Weight: points(sc.Effective),
			Lost: points(sc.Deduction), LostV: sc.Deduction,
			City: value(pi.CityValue, pi.Unit), CityMean: value(pi.CityMean, pi.Unit), Prev: value(pi.PrevValue, pi.Unit),
			Href: href("/departments/"+escapeID(pr.Department)+"/deductions/"+escapeID(pi.ID), "period", ps)}
		switch {
		case pi.Manual:
			row.NumDen = "人工录入"
		case sc.NA:
			row.NumDen = "无数据"
		default:
			row.NumDen = amount(sc.Numerator) + " / " + count(sc.Denominator)
		}
		if sc.NA {
			row.Weight, row.Lost, row.Score = "不适用", dash, dash
		}
		row.Spark, row.SparkTitle = sparkline(spark[pi.ID]), sparkTitle(sparkX, spark[pi.ID])
		blk := byDim[groupDim[pi.Group]]
		if blk == nil {
			continue
		}
		blk.Rows = append(blk.Rows, row)
	}
	// Within a dimension: the most points lost first, n/a last.
	for i := range b.Table {
		rows := b.Table[i].Rows
		sort.SliceStable(rows, func(a, c int) bool {
			if rows[a].NA != rows[c].NA {
				return !rows[a].NA
			}
			return rows[a].LostV > rows[c].LostV
		})
	}

	b.TableHTML = indicatorTable(b.Table)

	// The department's open yellow and red items.
	lv, err := s.lightView(ctx)
	if err != nil {
		return nil, err
	}
	b.LightsPending = lv.at.IsZero() && s.lights != nil
	items, total := lv.find(lightFilter{Department: pr.Department}, 20)
	loc := s.api.Now().Location()
	b.Items, b.ItemsTotal = lightRows(items, loc), total
	b.ItemsTable = lightTable(b.Items, false, s.remindersOf(ctx, b.Items, loc))
	if s.reminders != nil {
		b.HasReminders = true
		if es, err := s.reminders.Recent(ctx, pr.Department, 20); err != nil {
			s.log.Warn("self-portrait: reminders not shown", "err", err)
		} else if len(es) > 0 {
			b.RemindersTable = reminderTable(es, loc)
		}
	}
	b.ItemsHref = href("/lights", "department", pr.Department)
	b.Manual = href("/manual", "department", pr.Department, "period", p.String())
	return b, nil
}

// sparkline draws scores 0..100 as a small SVG line; gaps for n/a.
func sparkline(vs []float64) template.HTML {
	const w, h = 84.0, 22.0
	n := len(vs)
	if n < 2 {
		return ""
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="spark" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" aria-hidden="true">`, w, h, w, h)
	var seg []string
	flush := func() {
		if len(seg) > 1 {
			fmt.Fprintf(&sb, `<polyline fill="none" stroke="#3b82f6" stroke-width="1.5" points="%s"/>`, strings.Join(seg, " "))
		} else if len(seg) == 1 {
			xy := strings.Split(seg[0], ",")
			fmt.Fprintf(&sb, `<circle r="1.6" fill="#3b82f6" cx="%s" cy="%s"/>`, xy[0], xy[1])
		}
		seg = seg[:0]
	}
	for i, v := range vs {
		if !finite(v) {
			flush()
			continue
		}
		x := 2 + float64(i)*(w-4)/float64(n-1)
		y := h - 2 - math.Max(0, math.Min(100, v))/100*(h-4)
		seg = append(seg, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	flush()
	sb.WriteString(`</svg>`)
	// Only numbers formatted here go into the markup.
	return template.HTML(sb.String())
}

func sparkTitle(x []string, vs []float64) string {
	var parts []string
	for i, v := range vs {
		if i < len(x) {
			parts = append(parts, x[i]+" "+score(v))
		}
	}
	return "得分：" + strings.Join(parts, "，")
}

// ---- deductions ----

type deductionsBody struct {
	Dept                               string
	Ind                                *indices.Indicator
	Value, Score, Weight, Lost, NumDen string
	NA                                 bool
	Items                              []deductionRow
	Total                              uint64
	Page, Pages                        int
	Prev, Next                         string
	Back                               string
	Manual                             string
}

type deductionRow struct {
	CaseID, Item, Matter, Start, End, What string
}

const deductionsPageSize = 50

func (s *Server) deductionsPage(w http.ResponseWriter, r *http.Request) {
	dept, id := r.PathValue("id"), r.PathValue("indicator")
	if !s.seeDept(w, r, dept) {
		return
	}
	p, explicit, err := s.reqPeriod(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	page := 1
	if ps := r.URL.Query().Get("page"); ps != "" {
		if page, err = strconv.Atoi(ps); err != nil || page < 1 || page > 1<<20 {
			s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("page %q: 页码应为 1 起的整数", ps))
			return
		}
	}
	ind := s.api.Catalog().Indicator(id)
	if ind == nil {
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("指标 %q 不存在（指标编号形如 S1.1）", id))
		return
	}
	who := identity(r)
	path := "/departments/" + escapeID(dept) + "/deductions/" + escapeID(id)
	ps := ""
	if explicit {
		ps = p.String()
	}
	d := &pageData{Title: fmt.Sprintf("%s %s 扣分明细", dept, ind.NameZH), Page: "deductions", Who: who,
		Nav: nav(who, "deductions", p, explicit), Period: p, PNav: s.periodNav(path, p), Scripts: []string{"/assets/dashboard.js"}}
	body := &deductionsBody{Dept: dept, Ind: ind, Page: page,
		Back:   href("/departments/"+escapeID(dept), "period", ps),
		Manual: href("/manual", "department", dept, "period", p.String())}
	d.Body = body
	res, err := s.api.Deductions(r.Context(), dept, id, p, page, deductionsPageSize)
	if errors.Is(err, indices.ErrNotYet) {
		d.Empty = s.empty(r.Context(), path, p, err)
		s.render(w, http.StatusOK, "deductions", d)
		return
	}
	if err != nil {
		s.failErr(w, r, "扣分明细", err)
		return
	}
	loc := s.api.Now().Location()
	if sc := res.Score; sc != nil {
		body.NA = sc.NA
		body.Value, body.Score, body.Weight, body.Lost = value(sc.Value, ind.Unit), score(sc.Score), points(sc.Effective), points(sc.Deduction)
		if !sc.NA && !ind.Manual {
			body.NumDen = amount(sc.Numerator) + " / " + count(sc.Denominator)
		}
	} else {
		d.Empty = s.empty(r.Context(), path, p, nil)
		d.Empty.Msg = fmt.Sprintf("%s在%s没有数据。", dept, periodName(p))
	}
	for _, it := range res.Items {
		body.Items = append(body.Items, deductionRow{CaseID: it.CaseID, Item: it.Item, Matter: it.Matter,
			Start: clockPtr(it.Start, loc), End: clockPtr(it.End, loc), What: it.What})
	}
	body.Total = res.Total
	body.Pages = int((res.Total + deductionsPageSize - 1) / deductionsPageSize)
	if page > 1 {
		body.Prev = href(path, "period", ps, "page", strconv.Itoa(page-1))
	}
	if page < body.Pages {
		body.Next = href(path, "period", ps, "page", strconv.Itoa(page+1))
	}
	s.render(w, http.StatusOK, "deductions", d)
}

// indicatorTable renders the indicator table's body, one tbody per
// dimension: written here rather than by html/template, whose escaping
// per cell was most of the page's cost. Every text is escaped; the
// sparkline is SVG drawn from numbers only.
func indicatorTable(dims []dimBlock) template.HTML {
	var b strings.Builder
	e := html.EscapeString
	for _, d := range dims {
		b.WriteString(`<tbody><tr class="dim"><th colspan="10">` + e(d.ID) + " " + e(d.Name) + "　得分 " + e(d.Score) + "　失分 " + e(d.Lost) + `</th></tr>`)
		for _, r := range d.Rows {
			if r.NA {
				b.WriteString(`<tr class="na">`)
			} else {
				b.WriteString(`<tr>`)
			}
			b.WriteString(`<td title="` + e(r.Explain) + `"><span class="id">` + e(r.ID) + `</span> ` + e(r.Name))
			if r.Manual {
				b.WriteString(` <small>人工</small>`)
			}
			if r.NA {
				b.WriteString(` <small>不适用</small>`)
			}
			b.WriteString(`</td>`)
			for _, v := range []string{r.Value, r.NumDen, r.Score, r.Weight} {
				b.WriteString(`<td class="num">` + e(v) + `</td>`)
			}
			b.WriteString(`<td class="num lost"><a href="` + e(r.Href) + `" title="查看扣分明细">` + e(r.Lost) + `</a></td>`)
			for _, v := range []string{r.City, r.CityMean, r.Prev} {
				b.WriteString(`<td class="num">` + e(v) + `</td>`)
			}
			b.WriteString(`<td title="` + e(r.SparkTitle) + `">` + string(r.Spark) + `</td></tr>`)
		}
		b.WriteString(`</tbody>`)
	}
	return template.HTML(b.String())
}

// trendOf is a subject's index over the n periods up to last (oldest
// first), the API's Trend as chart axes.
func (s *Server) trendOf(ctx context.Context, typ, subject string, last indices.Period, n int) ([]string, []float64, error) {
	pts, err := s.api.Trend(ctx, typ, subject, last, n)
	if err != nil {
		return nil, nil, err
	}
	xs, vs := make([]string, len(pts)), make([]float64, len(pts))
	for i, pt := range pts {
		xs[i], vs[i] = pt.Period, float64(pt.Total)
	}
	return xs, vs, nil
}
