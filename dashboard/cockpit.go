package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"effidx/access"
	"effidx/indices"
)

// cockpit is what the wall screen shows of one period, built from the
// API's cached results at most once per pageTTL whatever the number of
// screens.
type cockpit struct {
	p        indices.Period
	notYet   error // indices.ErrNotYet for a period not begun
	has      bool  // some department has a score
	computed time.Time
	city     *indices.Card
	dims     []string // dimension names, catalog order
	depts    []*indices.Card
	regions  []*indices.Card
	today    kpi
	cur      kpi
	trendX   []string
	trend    [4][]float64 // the city's index, then S, C, E
	matters  []indices.MatterLines
}

// kpi are the day's or period's case figures of the city.
type kpi struct {
	accepted, completed, onTime, instant, online, positive float64
}

func nanKPI() kpi {
	n := math.NaN()
	return kpi{n, n, n, n, n, n}
}

// cityKPI reads the figures from a computation's city results: accepted
// cases are S3.1's denominator, completed ones S2.2's.
func cityKPI(c indices.Computation) kpi {
	k := nanKPI()
	for _, r := range c.Results {
		if r.SubjectType != indices.SubjectCity {
			continue
		}
		switch r.Indicator {
		case "S3.1":
			k.accepted, k.online = r.Denominator, r.Value
		case "S2.2":
			k.completed = r.Denominator
		case "S1.1":
			k.onTime = r.Value
		case "S2.1":
			k.instant = r.Value
		case "S5.1":
			k.positive = r.Value
		}
	}
	return k
}

// trendMonths is how far back the cockpit's trend goes.
const trendMonths = 12

func (s *Server) buildCockpit(ctx context.Context, p indices.Period) (*cockpit, error) {
	c := &cockpit{p: p, today: nanKPI(), cur: nanKPI()}
	for _, d := range s.api.Catalog().Dimensions {
		c.dims = append(c.dims, d.NameZH)
	}
	now := s.api.Now()
	if tc, err := s.api.Results(ctx, indices.PeriodOf(indices.Day, now)); err == nil {
		c.today = cityKPI(tc)
	} else if !errors.Is(err, indices.ErrNotYet) {
		return nil, fmt.Errorf("today's figures: %w", err)
	}
	comp, err := s.api.Results(ctx, p)
	if errors.Is(err, indices.ErrNotYet) {
		c.notYet = err
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("results of %s: %w", p, err)
	}
	c.computed, c.cur = comp.ComputedAt, cityKPI(comp)
	cards, err := s.api.Cards(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("scores of %s: %w", p, err)
	}
	c.city = indices.Lookup(cards, indices.SubjectCity, indices.CityID)
	for _, typ := range []string{indices.SubjectDepartment, indices.SubjectRegion} {
		sc, err := s.api.Scores(ctx, p, typ)
		if err != nil {
			return nil, fmt.Errorf("%s ranking of %s: %w", typ, p, err)
		}
		var ranked []*indices.Card
		for _, cd := range sc.Cards {
			if cd.Rank > 0 {
				ranked = append(ranked, cd)
			}
		}
		if typ == indices.SubjectDepartment {
			c.depts, c.has = ranked, len(ranked) > 0
		} else {
			c.regions = ranked
		}
	}

	// The trend: the city's index by month up to the month of p (not
	// past today).
	loc := now.Location()
	ref := p.End(loc).Add(-time.Second)
	if ref.After(now) {
		ref = now
	}
	m := indices.PeriodOf(indices.Month, ref)
	for range trendMonths - 1 {
		m = m.Previous()
	}
	for range trendMonths {
		mc, err := s.api.Cards(ctx, m)
		if errors.Is(err, indices.ErrNotYet) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("trend %s: %w", m, err)
		}
		c.trendX = append(c.trendX, m.String())
		city := indices.Lookup(mc, indices.SubjectCity, indices.CityID)
		for i := range c.trend {
			v := math.NaN()
			if city != nil {
				if i == 0 {
					v = city.Total
				} else if i-1 < len(city.Dimensions) {
					v = city.Dimensions[i-1].Score
				}
			}
			c.trend[i] = append(c.trend[i], v)
		}
		m = m.Next()
	}
	if c.has {
		if c.matters, err = s.api.BusiestMatters(ctx, p, 10); err != nil {
			return nil, fmt.Errorf("busiest matters of %s: %w", p, err)
		}
	}
	return c, nil
}

func (s *Server) cockpitFor(ctx context.Context, p indices.Period) (*cockpit, error) {
	return s.cockpitCache.get(ctx, p.String(), func(ctx context.Context) (*cockpit, error) {
		return s.buildCockpit(ctx, p)
	})
}

// kpiTile is one figure of the cockpit; Key names its data-text.
type kpiTile struct {
	Key, Label, Value string
}

type cockpitBody struct {
	Data     *dataPayload
	Total    kpiTile
	Dims     []kpiTile
	Today    []kpiTile
	Cur      []kpiTile
	CurLabel string
	Lights   []kpiTile
	Computed kpiTile
	Slots    map[string]chartSlot
}

func kpiTiles(prefix string, k kpi) []kpiTile {
	return []kpiTile{
		{prefix + ".accepted", "受理", count(k.accepted)},
		{prefix + ".completed", "办结", count(k.completed)},
		{prefix + ".on_time", "按时办结率", pct(k.onTime)},
		{prefix + ".instant", "即办率", pct(k.instant)},
		{prefix + ".online", "网办率", pct(k.online)},
		{prefix + ".positive", "好评率", pct(k.positive)},
	}
}

// cockpitPayload is the cockpit's charts and figures for who.
func (s *Server) cockpitPayload(ctx context.Context, c *cockpit, who access.Identity, explicit bool) (*dataPayload, *cockpitBody) {
	d := &dataPayload{Period: c.p.String(), Charts: map[string]option{}, Empty: map[string]string{}, Links: map[string][]string{}, Text: map[string]string{}}
	ps := ""
	if explicit {
		ps = c.p.String()
	}
	body := &cockpitBody{Data: d, CurLabel: periodName(c.p)}
	if c.p == indices.PeriodOf(indices.Month, s.api.Now()) {
		body.CurLabel = "本月"
	}
	noData := fmt.Sprintf("%s暂无数据", periodName(c.p))
	if c.notYet != nil {
		noData = fmt.Sprintf("%s尚未开始", periodName(c.p))
	}
	if !c.has {
		d.Notice = s.empty(ctx, "/", c.p, c.notYet)
	}

	// The figures.
	total := math.NaN()
	if c.city != nil {
		total = c.city.Total
	}
	body.Total = kpiTile{"city.total", "城市改革效能指数", score(total)}
	for i, name := range c.dims {
		v := math.NaN()
		if c.city != nil && i < len(c.city.Dimensions) {
			v = c.city.Dimensions[i].Score
		}
		body.Dims = append(body.Dims, kpiTile{fmt.Sprintf("dim.%d", i), name, score(v)})
	}
	body.Today, body.Cur = kpiTiles("today", c.today), kpiTiles("cur", c.cur)
	computed := "尚未计算"
	if !c.computed.IsZero() {
		computed = "指数计算于 " + clock(c.computed, s.api.Now().Location())
	}
	body.Computed = kpiTile{"computed", "", computed}

	// The rankings.
	var names, links []string
	var totals []float64
	for _, cd := range c.depts {
		names, totals = append(names, cd.Subject), append(totals, cd.Total)
		l := ""
		if who.CanSeeDepartment(cd.Subject) {
			l = href("/departments/"+escapeID(cd.Subject), "period", ps)
		}
		links = append(links, l)
	}
	d.Charts["rank_dept"], d.Links["rank_dept"], d.Empty["rank_dept"] = rankBar(names, totals), links, noData
	names, totals = nil, nil
	for _, cd := range c.regions {
		names, totals = append(names, cd.Subject), append(totals, cd.Total)
	}
	d.Charts["rank_region"], d.Empty["rank_region"] = rankBar(names, totals), noData

	// The trend.
	series := []lineSeries{{name: "改革效能指数", color: "#38bdf8", values: c.trend[0], decimals: 1}}
	dimColors := []string{"#a78bfa", "#34d399", "#fbbf24"}
	for i, name := range c.dims {
		if i+1 < len(c.trend) && i < len(dimColors) {
			series = append(series, lineSeries{name: name, color: dimColors[i], values: c.trend[i+1], decimals: 1})
		}
	}
	d.Charts["trend"], d.Empty["trend"] = lines(c.trendX, "分", true, series...), "近12个月暂无指数"

	// The three lines of the busiest matters.
	var mnames, mlinks []string
	var legal, promised, actual []float64
	for _, m := range c.matters {
		n := m.MatterName
		if n == "" {
			n = m.Matter
		}
		mnames, mlinks = append(mnames, n), append(mlinks, href("/matters/"+escapeID(m.Matter), "period", ps))
		legal, promised, actual = append(legal, float64(m.Legal)), append(promised, float64(m.Promised)), append(actual, float64(m.Actual))
	}
	d.Charts["lines"] = hbars(mnames, "", 1,
		barSeries{"法定时限", colorLegal, legal}, barSeries{"承诺时限", colorPromised, promised}, barSeries{"实际用时", colorActual, actual})
	d.Links["lines"], d.Empty["lines"] = mlinks, noData+"：本期没有办结的办件"

	// The light board: a department user sees its own department only.
	scope := ""
	if !who.SeesAll() {
		scope = who.Department
	}
	lv, err := s.lightView(ctx)
	if err != nil {
		s.log.Warn("dashboard: lights", "err", err)
		lv = &lightView{}
	}
	board := lv.board(scope)
	const boardRows = 15
	var lnames, llinks []string
	var reds, yellows []float64
	red, yellow := 0, 0
	for i, b := range board {
		red, yellow = red+b.Red, yellow+b.Yellow
		if i < boardRows {
			lnames, llinks = append(lnames, b.Department), append(llinks, href("/lights", "department", b.Department))
			reds, yellows = append(reds, float64(b.Red)), append(yellows, float64(b.Yellow))
		}
	}
	d.Charts["lights"] = hbars(lnames, "lights", 0, barSeries{"红灯", colorRed, reds}, barSeries{"黄灯", colorYellow, yellows})
	d.Links["lights"] = llinks
	d.Empty["lights"] = "当前没有黄灯或红灯"
	if lv.at.IsZero() {
		d.Empty["lights"] = "亮灯尚未计算（亮灯任务每分钟运行一次），请稍候"
	}
	body.Lights = []kpiTile{{"lights.red", "红灯", count(float64(red))}, {"lights.yellow", "黄灯", count(float64(yellow))}}

	for _, t := range append(append(append(append([]kpiTile{body.Total, body.Computed}, body.Dims...), body.Today...), body.Cur...), body.Lights...) {
		d.Text[t.Key] = t.Value
	}
	body.Slots = map[string]chartSlot{}
	for name := range d.Charts {
		body.Slots[name] = slot(d, name)
	}
	return d, body
}

// cockpitView is the cockpit as one kind of viewer sees it.
type cockpitView struct {
	data *dataPayload
	body *cockpitBody
	json []byte // data encoded: a wall screen's fetch only writes it
}

// cockpitViewFor is the cockpit of p for who, built once per pageTTL for
// all viewers who see the same (leaders and inspectors alike; each
// department its own): a wall screen's fetch only encodes it.
func (s *Server) cockpitViewFor(ctx context.Context, p indices.Period, who access.Identity, explicit bool) (cockpitView, error) {
	scope := "all"
	if !who.SeesAll() {
		scope = "department:" + who.Department
	}
	key := fmt.Sprintf("%s|%v|%s", p, explicit, scope)
	return s.viewCache.get(ctx, key, func(ctx context.Context) (cockpitView, error) {
		c, err := s.cockpitFor(ctx, p)
		if err != nil {
			return cockpitView{}, err
		}
		d, body := s.cockpitPayload(ctx, c, who, explicit)
		d.At = time.Now()
		b, err := json.Marshal(d)
		if err != nil {
			return cockpitView{}, fmt.Errorf("encode the cockpit's data: %w", err)
		}
		return cockpitView{d, body, b}, nil
	})
}

func (s *Server) cockpitPage(w http.ResponseWriter, r *http.Request) {
	p, explicit, err := s.reqPeriod(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	who := identity(r)
	// The wall screen's page is rendered once per viewer and period, not
	// per request: its figures come again by /data/cockpit anyway.
	key := fmt.Sprintf("%s|%v|%s|%s|%s", p, explicit, who.Name, who.Role, who.Department)
	b, err := s.pageCache.get(r.Context(), key, func(ctx context.Context) ([]byte, error) {
		v, err := s.cockpitViewFor(ctx, p, who, explicit)
		if err != nil {
			return nil, err
		}
		src := "/data/cockpit"
		if explicit {
			src = href(src, "period", p.String())
		}
		return s.renderBytes("cockpit", &pageData{
			Title: "城市大脑 · 改革效能驾驶舱", Page: "cockpit", Dark: true, Who: who,
			Nav: nav(who, "cockpit", p, explicit), Period: p, PNav: s.periodNav("/", p),
			DataSrc: src, Refresh: int(s.cfg.Refresh / time.Second), Empty: v.body.Data.Notice, Body: v.body,
		})
	})
	if err != nil {
		s.failErr(w, r, "驾驶舱", err)
		return
	}
	writePage(w, http.StatusOK, b)
}

func (s *Server) cockpitData(w http.ResponseWriter, r *http.Request) {
	p, explicit, err := s.reqPeriod(r)
	if err != nil {
		access.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	v, err := s.cockpitViewFor(r.Context(), p, identity(r), explicit)
	if err != nil {
		s.dataFail(w, r, "cockpit", err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(v.json)
}
