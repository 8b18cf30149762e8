package indices

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"effidx/access"
	"effidx/rules"
)

// API serves the index: scores and ranks, the department self-portrait,
// the cases behind a deduction, and a matter's three lines (SPEC 6). Its
// methods are what the pages use too; the handlers add identity checks
// and JSON.
//
// Scored periods are cached: a request reads ClickHouse only when the
// period's results or manual entries changed here, or after cacheTTL (a
// job on another replica may have written).
type API struct {
	job    *Job
	manual *Manual
	log    *slog.Logger

	mu       sync.Mutex
	inflight map[string]*sync.Mutex // a period computed or scored once, whoever asks
	cache    map[string]*scored
	gen      map[string]uint64 // per period, bumped by every invalidation
}

// cacheTTL bounds how stale a cached period can be when another replica
// recomputed it.
const cacheTTL = 30 * time.Second

// scored is a period's computation scored, with its previous period,
// and the JSON answers already encoded from it.
type scored struct {
	c     Computation
	cards []*Card // ranked per subject type, compared with prev
	prev  []*Card
	at    time.Time

	refreshing atomic.Bool
	encoded    sync.Map // answer key → []byte

	matters []MatterLines // for the busiest-matters key
}

// NewAPI serves what job computes, with manual entries from manual.
func NewAPI(job *Job, manual *Manual, log *slog.Logger) *API {
	if log == nil {
		log = slog.Default()
	}
	a := &API{job: job, manual: manual, log: log, inflight: map[string]*sync.Mutex{}, cache: map[string]*scored{}, gen: map[string]uint64{}}
	job.onWrite = append(job.onWrite, a.invalidate)
	manual.onPut = append(manual.onPut, a.invalidate)
	return a
}

// invalidate forgets the cached scores of p and of the period after it
// (which compares with p).
func (a *API) invalidate(p Period) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range []string{p.String(), p.Next().String()} {
		delete(a.cache, k)
		a.gen[k]++
	}
	for k := range a.cache {
		if strings.HasPrefix(k, "busiest "+p.String()+" ") {
			delete(a.cache, k)
		}
	}
}

// Register hands every route to handle (a ServeMux pattern and its
// handler); the caller wraps them in the access middleware, which puts the
// caller's identity into the request.
func (a *API) Register(handle func(pattern string, h http.Handler)) {
	handle("GET /api/v1/scores", http.HandlerFunc(a.scores))
	handle("GET /api/v1/portrait/{department}", http.HandlerFunc(a.portrait))
	handle("GET /api/v1/deductions/{department}/{indicator}", http.HandlerFunc(a.deductions))
	handle("GET /api/v1/matters/{matter}/lines", http.HandlerFunc(a.lines))
	handle("PUT /api/v1/manual/{department}/{indicator}", a.manual.PutHandler())
	handle("GET /api/v1/manual/{department}/{indicator}", a.manual.HistoryHandler())
}

// ErrNotYet: the period asked for has not begun.
var ErrNotYet = errors.New("period has not begun")

// computation is the stored run of p, computed now if p was never computed
// (a period a leader picks for the first time).
func (a *API) computation(ctx context.Context, p Period) (Computation, error) {
	var c Computation
	cal, err := a.job.Calendar()
	if cal == nil {
		return c, err
	}
	// A period not begun is answered without asking ClickHouse: it is what
	// a period switch one step too far asks, again and again.
	if p.Start(cal.Location()).After(a.job.now()) {
		return c, ErrNotYet
	}
	c, ok, err := a.job.store.Read(ctx, p)
	if err != nil || ok {
		return c, err
	}
	m := a.flight("compute " + p.String())
	m.Lock()
	defer m.Unlock()
	if c, ok, err = a.job.store.Read(ctx, p); err != nil || ok {
		return c, err
	}
	a.log.Info("computing a period on first request", "period", p.String())
	c, _, err = a.job.ComputePeriod(ctx, p)
	return c, err
}

// cards scores every subject of c with the current catalog and the
// period's latest manual entries.
func (a *API) cards(ctx context.Context, c Computation) ([]*Card, error) {
	manual, err := a.manual.Latest(ctx, c.Period)
	if err != nil {
		return nil, err
	}
	cards := Cards(a.job.Catalog(), c.Results, manual)
	byType := map[string][]*Card{}
	for _, cd := range cards {
		byType[cd.SubjectType] = append(byType[cd.SubjectType], cd)
	}
	for _, cs := range byType {
		Rank(cs)
	}
	return cards, nil
}

// periodCards scores period p and its previous period, compared (cached).
func (a *API) periodCards(ctx context.Context, p Period) (Computation, []*Card, []*Card, error) {
	sc, err := a.entry(ctx, p)
	if err != nil {
		return Computation{}, nil, nil, err
	}
	return sc.c, sc.cards, sc.prev, nil
}

// entry is period p's cache entry. A stale entry (older than cacheTTL) is
// still answered from while one goroutine rebuilds it, so readers never
// wait for ClickHouse once a period is warm; a missing one (never read,
// or invalidated by a write here) is built once, whoever asks.
func (a *API) entry(ctx context.Context, p Period) (*scored, error) {
	key := p.String()
	a.mu.Lock()
	sc := a.cache[key]
	a.mu.Unlock()
	if sc != nil {
		if time.Since(sc.at) >= cacheTTL && sc.refreshing.CompareAndSwap(false, true) {
			go func() {
				if _, err := a.build(context.Background(), p); err != nil {
					sc.refreshing.Store(false)
					a.log.Warn("refresh cached index period", "period", key, "err", err)
				}
			}()
		}
		return sc, nil
	}
	m := a.flight(key)
	m.Lock()
	defer m.Unlock()
	a.mu.Lock()
	sc = a.cache[key]
	a.mu.Unlock()
	if sc != nil {
		return sc, nil
	}
	return a.build(ctx, p)
}

// build scores p afresh and caches it, unless a write invalidated p
// while it was reading (then the next reader builds again).
func (a *API) build(ctx context.Context, p Period) (*scored, error) {
	key := p.String()
	a.mu.Lock()
	gen := a.gen[key]
	a.mu.Unlock()
	c, cur, prev, err := a.scorePeriod(ctx, p)
	if err != nil {
		return nil, err
	}
	sc := &scored{c: c, cards: cur, prev: prev, at: time.Now()}
	a.mu.Lock()
	if a.gen[key] == gen {
		a.cache[key] = sc
	}
	a.mu.Unlock()
	return sc, nil
}

// flight is the mutex that makes one request build key while the others
// wait for it.
func (a *API) flight(key string) *sync.Mutex {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.inflight[key]
	if m == nil {
		m = &sync.Mutex{}
		a.inflight[key] = m
	}
	return m
}

// encoded answers from the JSON cached with period p's entry under key,
// encoding build's answer the first time. Errors are not cached.
func (a *API) encoded(ctx context.Context, p Period, key string, build func() (any, error)) ([]byte, error) {
	sc, err := a.entry(ctx, p)
	if err != nil {
		return nil, err
	}
	if b, ok := sc.encoded.Load(key); ok {
		return b.([]byte), nil
	}
	v, err := build()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	sc.encoded.Store(key, buf.Bytes())
	return buf.Bytes(), nil
}

// replyEncoded writes JSON from the period's cache.
func (a *API) replyEncoded(w http.ResponseWriter, r *http.Request, p Period, key string, build func() (any, error)) {
	b, err := a.encoded(r.Context(), p, key, build)
	if err != nil {
		a.fail(w, p, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(b)
}

func (a *API) scorePeriod(ctx context.Context, p Period) (Computation, []*Card, []*Card, error) {
	c, err := a.computation(ctx, p)
	if err != nil {
		return c, nil, nil, err
	}
	cur, err := a.cards(ctx, c)
	if err != nil {
		return c, nil, nil, err
	}
	var prev []*Card
	if pc, ok, err := a.job.store.Read(ctx, p.Previous()); err != nil {
		return c, nil, nil, err
	} else if ok {
		if prev, err = a.cards(ctx, pc); err != nil {
			return c, nil, nil, err
		}
	}
	Compare(cur, prev)
	return c, cur, prev, nil
}

// ScoresResponse is GET /api/v1/scores.
type ScoresResponse struct {
	Period      string    `json:"period"`
	SubjectType string    `json:"subject_type"`
	Catalog     string    `json:"catalog"`
	Calendar    string    `json:"calendar"`
	ComputedAt  time.Time `json:"computed_at"`
	Cards       []*Card   `json:"cards"`
}

// Scores is the ranking of one subject type in period p, best first.
func (a *API) Scores(ctx context.Context, p Period, typ string) (ScoresResponse, error) {
	switch typ {
	case SubjectDepartment, SubjectRegion, SubjectCity:
	default:
		return ScoresResponse{}, badRequest("subject %q: want department, region or city", typ)
	}
	c, cards, _, err := a.periodCards(ctx, p)
	if err != nil {
		return ScoresResponse{}, err
	}
	out := ScoresResponse{Period: p.String(), SubjectType: typ, Catalog: c.Catalog, Calendar: c.Calendar, ComputedAt: c.ComputedAt, Cards: []*Card{}}
	for _, cd := range cards {
		if cd.SubjectType == typ {
			out.Cards = append(out.Cards, cd)
		}
	}
	sortRanked(out.Cards)
	return out, nil
}

func (a *API) scores(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.identity(w, r); !ok {
		return
	}
	p, ok := a.period(w, r)
	if !ok {
		return
	}
	typ := r.URL.Query().Get("subject")
	if typ == "" {
		typ = SubjectDepartment
	}
	a.replyEncoded(w, r, p, "scores/"+typ, func() (any, error) { return a.Scores(r.Context(), p, typ) })
}

func sortRanked(cs []*Card) {
	sort.SliceStable(cs, func(i, j int) bool {
		ri, rj := cs[i].Rank, cs[j].Rank
		if (ri == 0) != (rj == 0) {
			return rj == 0
		}
		if ri != rj {
			return ri < rj
		}
		return cs[i].Subject < cs[j].Subject
	})
}

// PortraitIndicator is one indicator of a self-portrait.
type PortraitIndicator struct {
	*Indicator
	Score     *IndicatorScore `json:"score"`
	CityValue float64         `json:"-"`
	CityMean  float64         `json:"-"`
	PrevValue float64         `json:"-"`
	PrevScore float64         `json:"-"`
}

// MarshalJSON flattens the catalog entry and the score, NaN as null.
func (p PortraitIndicator) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		*Indicator
		Score     *IndicatorScore `json:"score"`
		CityValue jsonFloat       `json:"city_value"`
		CityMean  jsonFloat       `json:"city_mean"`
		PrevValue jsonFloat       `json:"prev_value"`
		PrevScore jsonFloat       `json:"prev_score"`
	}{p.Indicator, p.Score, jsonFloat(p.CityValue), jsonFloat(p.CityMean), jsonFloat(p.PrevValue), jsonFloat(p.PrevScore)})
}

// PortraitResponse is GET /api/v1/portrait/{department}.
type PortraitResponse struct {
	Period     string              `json:"period"`
	Department string              `json:"department"`
	Catalog    string              `json:"catalog"`
	Calendar   string              `json:"calendar"`
	ComputedAt time.Time           `json:"computed_at"`
	Ranked     int                 `json:"ranked"` // departments with a rank
	Card       *Card               `json:"card"`
	City       *Card               `json:"city"` // the city's own scores (nil without data)
	Indicators []PortraitIndicator `json:"indicators"`
}

// Portrait is department dept's self-portrait in period p.
func (a *API) Portrait(ctx context.Context, dept string, p Period) (PortraitResponse, error) {
	c, cards, prev, err := a.periodCards(ctx, p)
	if err != nil {
		return PortraitResponse{}, err
	}
	card := Lookup(cards, SubjectDepartment, dept)
	if card == nil {
		return PortraitResponse{}, notFound("department %q has no data in %s", dept, p)
	}
	city := Lookup(cards, SubjectCity, CityID)
	prevCard := Lookup(prev, SubjectDepartment, dept)
	out := PortraitResponse{Period: p.String(), Department: dept, Catalog: c.Catalog, Calendar: c.Calendar, ComputedAt: c.ComputedAt, Card: card, City: city}
	for _, cd := range cards {
		if cd.SubjectType == SubjectDepartment && cd.Rank > 0 {
			out.Ranked++
		}
	}
	for i, ind := range a.job.Catalog().Indicators() {
		pi := PortraitIndicator{Indicator: ind, Score: card.Indicators[i], CityValue: math.NaN(), CityMean: cityMean(cards, i),
			PrevValue: math.NaN(), PrevScore: math.NaN()}
		if city != nil {
			pi.CityValue = city.Indicators[i].Value
		}
		if prevCard != nil && i < len(prevCard.Indicators) && prevCard.Indicators[i].ID == ind.ID {
			pi.PrevValue, pi.PrevScore = prevCard.Indicators[i].Value, prevCard.Indicators[i].Score
		}
		out.Indicators = append(out.Indicators, pi)
	}
	return out, nil
}

func (a *API) portrait(w http.ResponseWriter, r *http.Request) {
	dept := r.PathValue("department")
	if !a.canSee(w, r, dept) {
		return
	}
	p, ok := a.period(w, r)
	if !ok {
		return
	}
	a.replyEncoded(w, r, p, "portrait/"+dept, func() (any, error) { return a.Portrait(r.Context(), dept, p) })
}

// cityMean is the mean of the departments' values of indicator i (n/a
// ones left out).
func cityMean(cards []*Card, i int) float64 {
	sum, n := 0.0, 0
	for _, cd := range cards {
		if cd.SubjectType == SubjectDepartment && !cd.Indicators[i].NA {
			sum += cd.Indicators[i].Value
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// DeductionItem is one case, step, task, reminder or event behind lost
// points.
type DeductionItem struct {
	CaseID      string     `json:"case_id"`
	Item        string     `json:"item,omitempty"` // step, milestone or reminder id; for events the type or error
	Matter      string     `json:"matter,omitempty"`
	Start       *time.Time `json:"start"` // accepted, started, reminded, turned red, happened
	End         *time.Time `json:"end"`   // completed, finished, responded, received; null while open
	Numerator   float64    `json:"numerator"`
	Denominator float64    `json:"denominator"`
	What        string     `json:"what"`
}

// DeductionsResponse is GET /api/v1/deductions/{department}/{indicator}.
type DeductionsResponse struct {
	Period     string          `json:"period"`
	Department string          `json:"department"`
	Indicator  string          `json:"indicator"`
	Name       string          `json:"name_zh"`
	Score      *IndicatorScore `json:"score"`
	Total      uint64          `json:"total"` // items in all pages
	Page       int             `json:"page"`
	PageSize   int             `json:"page_size"`
	Items      []DeductionItem `json:"items"`
}

// Deductions pages through the items behind department dept's lost
// points on indicator id in period p (page from 1).
func (a *API) Deductions(ctx context.Context, dept, id string, p Period, page, size int) (DeductionsResponse, error) {
	cat := a.job.Catalog()
	ind := cat.Indicator(id)
	if ind == nil {
		return DeductionsResponse{}, notFound("indicator %q is not in catalog %s (ids look like S1.1)", id, cat.Version())
	}
	out := DeductionsResponse{Period: p.String(), Department: dept, Indicator: ind.ID, Name: ind.NameZH, Page: page, PageSize: size, Items: []DeductionItem{}}
	_, cards, _, err := a.periodCards(ctx, p)
	if err != nil {
		return out, err
	}
	if card := Lookup(cards, SubjectDepartment, dept); card != nil {
		for _, s := range card.Indicators {
			if s.ID == ind.ID {
				out.Score = s
			}
		}
	}
	if !ind.Manual {
		if out.Total, out.Items, err = a.items(ctx, ind, dept, p, page, size); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (a *API) deductions(w http.ResponseWriter, r *http.Request) {
	dept := r.PathValue("department")
	if !a.canSee(w, r, dept) {
		return
	}
	p, ok := a.period(w, r)
	if !ok {
		return
	}
	page, size, ok := paging(w, r)
	if !ok {
		return
	}
	ind := r.PathValue("indicator")
	key := fmt.Sprintf("deductions/%s/%s/%d/%d", dept, ind, page, size)
	a.replyEncoded(w, r, p, key, func() (any, error) { return a.Deductions(r.Context(), dept, ind, p, page, size) })
}

// items pages through the items behind dept's lost points on ind.
func (a *API) items(ctx context.Context, ind *Indicator, dept string, p Period, page, size int) (uint64, []DeductionItem, error) {
	f, ok := lookupFormula(ind.Kind, ind.Query)
	if !ok {
		return 0, nil, fmt.Errorf("no computation for %s", ind.ID)
	}
	cal, err := a.job.Calendar()
	if cal == nil {
		return 0, nil, err
	}
	loc := cal.Location()
	from, to := p.Start(loc), p.End(loc)
	now := a.job.now()
	db := a.job.wh.Database()
	args := func(limit, offset int) []any {
		return append(calendarArgs(cal, from, to, now),
			clickhouse.Named("dept", dept), clickhouse.Named("limit", limit), clickhouse.Named("offset", offset))
	}
	down := ind.Direction == Down
	// A formula may draw on several sources (E5.2: cases and tasks): the
	// pages run through them in order.
	var total uint64
	var out []DeductionItem
	skip := (page - 1) * size
	for _, pt := range f.parts {
		countQ, listQ := itemsSQL(db, pt.src, pt, kindNumber[ind.Kind], down, true), itemsSQL(db, pt.src, pt, kindNumber[ind.Kind], down, false)
		if pt.src == srcEvents {
			countQ, listQ = eventItemsSQL(db, ind.Query, true), eventItemsSQL(db, ind.Query, false)
		}
		var n uint64
		if err := a.job.wh.Conn().QueryRow(ctx, countQ, args(0, 0)...).Scan(&n); err != nil {
			return 0, nil, fmt.Errorf("count deductions %s/%s: %w", dept, ind.ID, err)
		}
		total += n
		if skip >= int(n) {
			skip -= int(n)
			continue
		}
		want := size - len(out)
		if want <= 0 {
			continue
		}
		rows, err := a.job.wh.Conn().Query(ctx, listQ, args(want, skip)...)
		if err != nil {
			return 0, nil, fmt.Errorf("list deductions %s/%s: %w", dept, ind.ID, err)
		}
		skip = 0
		for rows.Next() {
			var it DeductionItem
			var start, end time.Time
			if err := rows.Scan(&it.CaseID, &it.Item, &it.Matter, &start, &end, &it.Numerator, &it.Denominator); err != nil {
				rows.Close()
				return 0, nil, fmt.Errorf("list deductions %s/%s: %w", dept, ind.ID, err)
			}
			it.Start, it.End = instant(start, loc), instant(end, loc)
			it.What = lostWhat[ind.Query]
			out = append(out, it)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return 0, nil, fmt.Errorf("list deductions %s/%s: %w", dept, ind.ID, err)
		}
	}
	if out == nil {
		out = []DeductionItem{}
	}
	return total, out, nil
}

// instant is nil for ClickHouse's zero DateTime (an absent time).
func instant(t time.Time, loc *time.Location) *time.Time {
	if t.Unix() <= 0 {
		return nil
	}
	t = t.In(loc)
	return &t
}

// LinesResponse is GET /api/v1/matters/{matter}/lines: the legal,
// promised and actual working days of a matter's service cases completed
// in the period (the three lines).
type LinesResponse struct {
	Period      string     `json:"period"`
	Matter      string     `json:"matter"`
	MatterName  string     `json:"matter_name"`
	Cases       uint64     `json:"cases"`
	Legal       jsonFloat  `json:"legal_days"`    // mean statutory limit
	Promised    jsonFloat  `json:"promised_days"` // mean promised limit
	Actual      jsonFloat  `json:"actual_days"`   // mean working days used
	Departments []LinesRow `json:"departments"`
}

// LinesRow is the three lines of one department.
type LinesRow struct {
	Department string    `json:"department"`
	Cases      uint64    `json:"cases"`
	Legal      jsonFloat `json:"legal_days"`
	Promised   jsonFloat `json:"promised_days"`
	Actual     jsonFloat `json:"actual_days"`
}

// Lines is the three lines of matter in period p.
func (a *API) Lines(ctx context.Context, matter string, p Period) (LinesResponse, error) {
	out := LinesResponse{Period: p.String(), Matter: matter, Departments: []LinesRow{}}
	cal, err := a.job.Calendar()
	if cal == nil {
		return out, err
	}
	args, final, err := a.periodArgs(ctx, cal, p, clickhouse.Named("matter", matter))
	if err != nil {
		return out, fmt.Errorf("three lines of %s: %w", matter, err)
	}
	rows, err := a.job.wh.Conn().Query(ctx, linesSQL(a.job.wh.Database(), final), args...)
	if err != nil {
		return out, fmt.Errorf("three lines of %s: %w", matter, err)
	}
	defer rows.Close()
	var legalSum, promisedSum, actualSum, legalN, promisedN float64
	for rows.Next() {
		var row LinesRow
		var name string
		var ls, ln, ps, pn, us float64
		if err := rows.Scan(&row.Department, &name, &row.Cases, &ls, &ln, &ps, &pn, &us); err != nil {
			return out, fmt.Errorf("three lines of %s: %w", matter, err)
		}
		out.MatterName = name
		row.Legal, row.Promised, row.Actual = jsonFloat(ratio(ls, ln)), jsonFloat(ratio(ps, pn)), jsonFloat(ratio(us, float64(row.Cases)))
		out.Departments = append(out.Departments, row)
		out.Cases += row.Cases
		legalSum, legalN, promisedSum, promisedN, actualSum = legalSum+ls, legalN+ln, promisedSum+ps, promisedN+pn, actualSum+us
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("three lines of %s: %w", matter, err)
	}
	if out.Cases == 0 {
		return out, notFound("matter %q has no service case completed in %s", matter, p)
	}
	out.Legal, out.Promised, out.Actual = jsonFloat(ratio(legalSum, legalN)), jsonFloat(ratio(promisedSum, promisedN)), jsonFloat(ratio(actualSum, float64(out.Cases)))
	return out, nil
}

func (a *API) lines(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.identity(w, r); !ok {
		return
	}
	p, ok := a.period(w, r)
	if !ok {
		return
	}
	out, err := a.Lines(r.Context(), r.PathValue("matter"), p)
	a.reply(w, p, out, err)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// identity is the caller, or a 401 already written.
func (a *API) identity(w http.ResponseWriter, r *http.Request) (access.Identity, bool) {
	id, ok := access.FromContext(r.Context())
	if !ok {
		access.Unauthorized(w, "no identity: send Authorization: Bearer <token>")
	}
	return id, ok
}

// canSee writes 401/403 unless the caller may see dept's details.
func (a *API) canSee(w http.ResponseWriter, r *http.Request, dept string) bool {
	id, ok := a.identity(w, r)
	if !ok {
		return false
	}
	if !id.CanSeeDepartment(dept) {
		access.Forbidden(w, fmt.Sprintf("%s may see only department %s's portrait, deductions and cases", id.Name, id.Department))
		return false
	}
	return true
}

// period reads ?period=, defaulting to the current month.
func (a *API) period(w http.ResponseWriter, r *http.Request) (Period, bool) {
	s := r.URL.Query().Get("period")
	if s == "" {
		loc := time.Local
		if cal, _ := a.job.Calendar(); cal != nil {
			loc = cal.Location()
		}
		return PeriodOf(Month, a.job.now().In(loc)), true
	}
	p, err := ParsePeriod(s)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return p, false
	}
	return p, true
}

func paging(w http.ResponseWriter, r *http.Request) (page, size int, ok bool) {
	page, size = 1, 50
	for _, f := range []struct {
		name     string
		dst      *int
		min, max int
	}{{"page", &page, 1, 1 << 20}, {"page_size", &size, 1, 500}} {
		s := r.URL.Query().Get(f.name)
		if s == "" {
			continue
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < f.min || v > f.max {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s %q: want a whole number from %d to %d", f.name, s, f.min, f.max))
			return 0, 0, false
		}
		*f.dst = v
	}
	return page, size, true
}

// RequestError is a request the index cannot answer as asked: Code is
// the HTTP status (400 or 404), the message says what to change.
type RequestError struct {
	Code int
	msg  string
}

func (e *RequestError) Error() string { return e.msg }

func notFound(format string, args ...any) error {
	return &RequestError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &RequestError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// reply writes v, or the error as JSON with its status.
func (a *API) reply(w http.ResponseWriter, p Period, v any, err error) {
	if err != nil {
		a.fail(w, p, err)
		return
	}
	writeJSON(w, v)
}

func (a *API) fail(w http.ResponseWriter, p Period, err error) {
	var re *RequestError
	switch {
	case errors.As(err, &re):
		writeError(w, re.Code, re.msg)
	case errors.Is(err, ErrNotYet):
		writeError(w, http.StatusNotFound, fmt.Sprintf("period %s has not begun yet", p))
	case errors.Is(err, context.Canceled):
	case errors.Is(err, clickhouse.ErrAcquireConnTimeout):
		// Every ClickHouse connection is busy: a load peak, not a fault.
		w.Header().Set("Retry-After", "2")
		writeError(w, http.StatusServiceUnavailable, "the index is busy; retry in a few seconds")
	default:
		a.log.Error("index API", "period", p.String(), "err", err)
		writeError(w, http.StatusInternalServerError, "could not read the index; the error is in the effidx log")
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) { access.WriteError(w, code, msg) }

// Results is period p's stored run (computed on first request), from the
// cache.
func (a *API) Results(ctx context.Context, p Period) (Computation, error) {
	c, _, _, err := a.periodCards(ctx, p)
	return c, err
}

// Cards is period p's scored, ranked cards of every subject, compared
// with the previous period, from the cache. Treat them as read-only.
func (a *API) Cards(ctx context.Context, p Period) ([]*Card, error) {
	_, cards, _, err := a.periodCards(ctx, p)
	return cards, err
}

// TrendPoint is one period of a subject's index trend.
type TrendPoint struct {
	Period string    `json:"period"`
	Total  jsonFloat `json:"total"`
	Rank   int       `json:"rank"`
}

// Trend is the index of one subject over the n periods up to and
// including last (oldest first); periods not begun are left out.
func (a *API) Trend(ctx context.Context, subjectType, subject string, last Period, n int) ([]TrendPoint, error) {
	var out []TrendPoint
	p := last
	for range n - 1 {
		p = p.Previous()
	}
	for i := 0; i < n; i, p = i+1, p.Next() {
		cards, err := a.Cards(ctx, p)
		if errors.Is(err, ErrNotYet) {
			break
		}
		if err != nil {
			return nil, err
		}
		pt := TrendPoint{Period: p.String(), Total: jsonFloat(math.NaN())}
		if cd := Lookup(cards, subjectType, subject); cd != nil {
			pt.Total, pt.Rank = jsonFloat(cd.Total), cd.Rank
		}
		out = append(out, pt)
	}
	return out, nil
}

// HasData says whether period p has any department with a score: an
// empty period is one to say so about, not to chart.
func (a *API) HasData(ctx context.Context, p Period) (bool, error) {
	cards, err := a.Cards(ctx, p)
	if errors.Is(err, ErrNotYet) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, cd := range cards {
		if cd.SubjectType == SubjectDepartment && !math.IsNaN(cd.Total) {
			return true, nil
		}
	}
	return false, nil
}

// LastWithData is the latest stored period of p's kind, up to p, that
// has data; ok is false when there is none.
func (a *API) LastWithData(ctx context.Context, p Period) (last Period, ok bool, err error) {
	runs, err := a.job.store.Runs(ctx)
	if err != nil {
		return last, false, err
	}
	var cands []Period
	for _, r := range runs {
		if r.Period.Kind == p.Kind && !p.Before(r.Period) {
			cands = append(cands, r.Period)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[j].Before(cands[i]) })
	for _, c := range cands {
		has, err := a.HasData(ctx, c)
		if err != nil {
			return last, false, err
		}
		if has {
			return c, true, nil
		}
	}
	return last, false, nil
}

// MatterLines is one matter's three lines in a period.
type MatterLines struct {
	Matter     string    `json:"matter"`
	MatterName string    `json:"matter_name"`
	Cases      uint64    `json:"cases"`
	Legal      jsonFloat `json:"legal_days"`
	Promised   jsonFloat `json:"promised_days"`
	Actual     jsonFloat `json:"actual_days"`
}

// BusiestMatters is the three lines of the n matters with the most
// service cases completed in p, busiest first (one query, cached with
// the period).
func (a *API) BusiestMatters(ctx context.Context, p Period, n int) ([]MatterLines, error) {
	key := fmt.Sprintf("busiest %s %d", p, n)
	a.mu.Lock()
	if sc := a.cache[key]; sc != nil && time.Since(sc.at) < cacheTTL {
		a.mu.Unlock()
		return sc.matters, nil
	}
	a.mu.Unlock()
	cal, err := a.job.Calendar()
	if cal == nil {
		return nil, err
	}
	args, final, err := a.periodArgs(ctx, cal, p, clickhouse.Named("n", n))
	if err != nil {
		return nil, fmt.Errorf("busiest matters of %s: %w", p, err)
	}
	rows, err := a.job.wh.Conn().Query(ctx, busiestSQL(a.job.wh.Database(), final), args...)
	if err != nil {
		return nil, fmt.Errorf("busiest matters of %s: %w", p, err)
	}
	defer rows.Close()
	out := []MatterLines{}
	for rows.Next() {
		var m MatterLines
		var ls, ln, ps, pn, us float64
		if err := rows.Scan(&m.Matter, &m.MatterName, &m.Cases, &ls, &ln, &ps, &pn, &us); err != nil {
			return nil, fmt.Errorf("busiest matters of %s: %w", p, err)
		}
		m.Legal, m.Promised, m.Actual = jsonFloat(ratio(ls, ln)), jsonFloat(ratio(ps, pn)), jsonFloat(ratio(us, float64(m.Cases)))
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("busiest matters of %s: %w", p, err)
	}
	a.mu.Lock()
	a.cache[key] = &scored{matters: out, at: time.Now()}
	a.mu.Unlock()
	return out, nil
}

// periodArgs binds the parameters of a query over the stored case facts
// of period p (as the jobs last refreshed them), and more, and whether to
// read them FINAL (periodFactsSQL).
func (a *API) periodArgs(ctx context.Context, cal *rules.Calendar, p Period, more ...any) ([]any, bool, error) {
	read, err := NewComputer(a.job.wh, a.job.Catalog()).reading(ctx)
	if err != nil {
		return nil, false, err
	}
	loc := cal.Location()
	args := append(calendarArgs(cal, p.Start(loc), p.End(loc), a.job.now()), read.args...)
	return append(args, more...), read.final[srcCases], nil
}
