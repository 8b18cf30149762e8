package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"effidx/access"
	"effidx/indices"
)

//go:embed templates/*.html
var templatesFS embed.FS

// Options are what the pages read from and who guards them.
type Options struct {
	API *indices.API
	// Lights is the lights job; nil shows no lights.
	Lights LightSource
	// Auth identifies the caller and puts the identity into the request
	// ((*access.Authenticator).Middleware); it answers 401 itself.
	Auth func(http.Handler) http.Handler
	Log  *slog.Logger
	// Reminders shows what was sent about each item; nil: nothing.
	Reminders ReminderSource
}

// Server serves the pages.
type Server struct {
	cfg       Config
	api       *indices.API
	manual    *indices.Manual
	lights    LightSource
	reminders ReminderSource
	auth      func(http.Handler) http.Handler
	log       *slog.Logger
	assets    assetSet
	pages     map[string]*template.Template
	csp       string
	scripts   []string // of a page with charts

	cockpitCache *cache[*cockpit]
	viewCache    *cache[cockpitView]
	pageCache    *cache[[]byte]
	lightsCache  *cache[*lightView]
	linesCache   *cache[linesPoint]
	casesCache   *cache[[]indices.MatterCase]
	lastCache    *cache[lastPeriod]
}

// pageTTL bounds how long a page's derived data lags the API's cache
// (which itself follows each job run).
const pageTTL = 15 * time.Second

// New builds the pages; cfg must be valid. A binary built without
// `go generate` logs a warning: its charts cannot load.
func New(cfg Config, o Options) (*Server, error) {
	if o.API == nil {
		return nil, errors.New("dashboard: no index API")
	}
	if o.Auth == nil {
		return nil, errors.New("dashboard: no authenticator: the pages must know who asks")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &Server{
		cfg: cfg, api: o.API, manual: o.API.Manual(), lights: o.Lights, reminders: o.Reminders, auth: o.Auth, log: o.Log,
		assets:       loadAssets(),
		cockpitCache: newCache[*cockpit](pageTTL),
		viewCache:    newCache[cockpitView](lightsTTL),
		pageCache:    newCache[[]byte](lightsTTL),
		scripts:      append(echartsScripts(), "/assets/dashboard.js"),
		lightsCache:  newCache[*lightView](lightsTTL),
		linesCache:   newCache[linesPoint](time.Minute),
		casesCache:   newCache[[]indices.MatterCase](time.Minute),
		lastCache:    newCache[lastPeriod](time.Minute),
	}
	if !s.assets.hasECharts() {
		s.log.Warn("dashboard: echarts.min.js is not built in, the pages' charts will not load: run `go generate ./...` and build again")
	}
	// Scripts only from this server: chart options come as JSON, never as
	// inline script. ECharts' tooltips set style attributes, hence
	// style-src-attr; a style attribute cannot run code.
	s.csp = "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; " +
		"connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors " + cfg.frameAncestors()
	var err error
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	return s, nil
}

// Register hands every route to handle (a ServeMux pattern and its
// handler). The pages are already behind Auth and every answer, a 401
// included, carries the security headers; /assets/ needs no identity.
func (s *Server) Register(handle func(pattern string, h http.Handler)) {
	page := func(pattern string, f http.HandlerFunc) {
		handle(pattern, s.secure(s.auth(f)))
	}
	page("GET /{$}", s.cockpitPage)
	page("GET /data/cockpit", s.cockpitData)
	page("GET /rankings", s.rankingsPage)
	page("GET /departments/{id}", s.portraitPage)
	page("GET /data/departments/{id}", s.portraitData)
	page("GET /departments/{id}/deductions/{indicator}", s.deductionsPage)
	page("GET /lights", s.lightsPage)
	page("GET /matters/{id}", s.matterPage)
	page("GET /data/matters/{id}", s.matterData)
	page("GET /manual", s.manualPage)
	page("POST /manual", s.manualPost)
	handle("GET /assets/{name}", s.secure(s.assets))
}

// secure sets the security headers of every answer.
func (s *Server) secure(h http.Handler) http.Handler {
	xfo := ""
	switch s.cfg.frameAncestors() {
	case "'self'":
		xfo = "SAMEORIGIN"
	case "'none'":
		xfo = "DENY"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", s.csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		// Case ids and department codes are in URLs: no Referer leaves.
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		if xfo != "" {
			hd.Set("X-Frame-Options", xfo)
		}
		h.ServeHTTP(w, r)
	})
}

// identity is the caller (Auth put it there).
func identity(r *http.Request) access.Identity {
	id, _ := access.FromContext(r.Context())
	return id
}

// ---- periods ----

// reqPeriod reads ?period=; without it, the current month. explicit says
// whether it was given (the cockpit then follows the clock).
func (s *Server) reqPeriod(r *http.Request) (p indices.Period, explicit bool, err error) {
	q := r.URL.Query().Get("period")
	if q == "" {
		return indices.PeriodOf(indices.Month, s.api.Now()), false, nil
	}
	p, err = indices.ParsePeriod(q)
	return p, true, err
}

// link is a navigation link.
type link struct {
	Label  string
	Href   string
	Active bool
}

// href is path with the query params (empty values left out).
func href(path string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// periodNav is the period switch: day / month / quarter / year around p,
// and the previous and next period.
type periodNav struct {
	Kinds      []link
	Prev, Next *link
}

func (s *Server) periodNav(path string, p indices.Period, extra ...string) periodNav {
	now := s.api.Now()
	loc := now.Location()
	// The reference instant: the end of p, but not past now.
	ref := p.End(loc).Add(-time.Second)
	if ref.After(now) {
		ref = now
	}
	var nav periodNav
	for _, k := range []struct {
		kind  indices.PeriodKind
		label string
	}{{indices.Day, "日"}, {indices.Month, "月"}, {indices.Quarter, "季"}, {indices.Year, "年"}} {
		q := indices.PeriodOf(k.kind, ref)
		nav.Kinds = append(nav.Kinds, link{Label: k.label, Href: href(path, append([]string{"period", q.String()}, extra...)...), Active: p.Kind == k.kind})
	}
	prev := p.Previous()
	nav.Prev = &link{Label: "‹ " + periodName(prev), Href: href(path, append([]string{"period", prev.String()}, extra...)...)}
	if next := p.Next(); !next.Start(loc).After(now) {
		nav.Next = &link{Label: periodName(next) + " ›", Href: href(path, append([]string{"period", next.String()}, extra...)...)}
	}
	return nav
}

// periodNow is the current month.
func (s *Server) periodNow() indices.Period { return indices.PeriodOf(indices.Month, s.api.Now()) }

// ---- empty states ----

// emptyState is what a page shows instead of charts for a period without
// data: say so, and link the last period that has data.
type emptyState struct {
	Msg  string
	Last *link
}

type lastPeriod struct {
	p  indices.Period
	ok bool
}

// empty explains why p shows nothing (err is the API's ErrNotYet, or
// nil for a period without data) and finds the last period with data.
func (s *Server) empty(ctx context.Context, path string, p indices.Period, err error, extra ...string) *emptyState {
	e := &emptyState{Msg: fmt.Sprintf("%s暂无数据：本期还没有计算出指数。", periodName(p))}
	if errors.Is(err, indices.ErrNotYet) {
		e.Msg = fmt.Sprintf("%s尚未开始，还没有数据。", periodName(p))
	}
	last, lerr := s.lastCache.get(ctx, p.String(), func(ctx context.Context) (lastPeriod, error) {
		lp, ok, err := s.api.LastWithData(ctx, p)
		return lastPeriod{lp, ok}, err
	})
	if lerr != nil {
		s.log.Warn("dashboard: last period with data", "period", p.String(), "err", lerr)
	}
	if lerr == nil && last.ok && last.p != p {
		e.Last = &link{Label: "查看最近有数据的" + periodName(last.p), Href: href(path, append([]string{"period", last.p.String()}, extra...)...)}
	} else if lerr == nil && !last.ok {
		e.Msg += "之前的同类期间也没有数据：事件接入并完成计算后这里会显示。"
	}
	return e
}

// isEmptyErr says whether err from the API means "no data for this
// period" (the page shows its empty state) rather than a failure.
func isEmptyErr(err error) bool {
	var re *indices.RequestError
	return errors.Is(err, indices.ErrNotYet) || (errors.As(err, &re) && re.Code == http.StatusNotFound)
}

// ---- rendering ----

// pageData is what every page template gets.
type pageData struct {
	Title   string
	Page    string // main's data-page
	Dark    bool
	Who     access.Identity
	Nav     []link
	Period  indices.Period
	PNav    periodNav
	DataSrc string // JSON the page's charts come from
	Refresh int    // seconds between the cockpit's fetches
	Scripts []string
	Empty   *emptyState
	Body    any
}

var funcs = template.FuncMap{
	"pct":        pct,
	"score":      score,
	"points":     points,
	"signed":     signed,
	"count":      count,
	"countInt":   func(n int) string { return count(float64(n)) },
	"days":       days,
	"periodName": periodName,
	"lightName":  lightName,
	"kindName":   kindName,
	"band": func(v float64) string {
		n, _ := band(v)
		return n
	},
	"href": href,
	"abs":  func(i int) int { return max(i, -i) },
}

var pageNames = []string{"cockpit", "rankings", "portrait", "deductions", "lights", "matter", "manual", "error"}

func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templatesFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard templates: %w", err)
	}
	out := map[string]*template.Template{}
	for _, n := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(templatesFS, "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard template %s: %w", n, err)
		}
		out[n] = t
	}
	return out, nil
}

// nav is the top navigation for who.
func nav(who access.Identity, page string, p indices.Period, explicit bool) []link {
	ps := ""
	if explicit {
		ps = p.String()
	}
	out := []link{
		{Label: "驾驶舱", Href: href("/", "period", ps), Active: page == "cockpit"},
		{Label: "排名", Href: href("/rankings", "period", ps), Active: page == "rankings"},
	}
	if who.Role == access.Department {
		out = append(out, link{Label: "本部门自画像", Href: href("/departments/"+url.PathEscape(who.Department), "period", ps), Active: page == "portrait" || page == "deductions"})
	}
	out = append(out, link{Label: "亮灯", Href: "/lights", Active: page == "lights"})
	out = append(out, link{Label: "人工评分", Href: href("/manual", "period", ps), Active: page == "manual"})
	return out
}

// render writes a page with code.
func (s *Server) render(w http.ResponseWriter, code int, name string, d *pageData) {
	b, err := s.renderBytes(name, d)
	if err != nil {
		s.log.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "the page could not be rendered; the error is in the effidx log", http.StatusInternalServerError)
		return
	}
	writePage(w, code, b)
}

func (s *Server) renderBytes(name string, d *pageData) ([]byte, error) {
	if d.Scripts == nil {
		d.Scripts = s.scripts
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writePage(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// Pages hold data for the signed-in user only.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// fail renders an error page: msg says what happened and what to do.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	who := identity(r)
	s.render(w, code, "error", &pageData{Title: http.StatusText(code), Page: "error", Who: who,
		Nav: nav(who, "", indices.Period{}, false), Scripts: []string{}, Body: msg})
}

// forbidden answers a department user asking for another department.
func (s *Server) forbidden(w http.ResponseWriter, r *http.Request) {
	who := identity(r)
	s.fail(w, r, http.StatusForbidden, fmt.Sprintf("无权查看：%s 只能查看本部门（%s）的自画像、扣分明细、亮灯和办件。", who.Name, who.Department))
}

// failErr answers an error of the API that is not an empty period.
func (s *Server) failErr(w http.ResponseWriter, r *http.Request, what string, err error) {
	var re *indices.RequestError
	switch {
	case errors.As(err, &re):
		s.fail(w, r, re.Code, re.Error())
	case errors.Is(err, context.Canceled):
	default:
		s.log.Error("dashboard: "+what, "path", r.URL.Path, "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "数据暂时读不出来（"+what+"），请稍后刷新；若持续出现，请联系运维查看 effidx 日志。")
	}
}

// dataPayload is the JSON a page's script fills its charts from.
type dataPayload struct {
	Period string `json:"period"`
	// Charts are ECharts options by the data-chart name; null: nothing to
	// show, the page shows Empty[name] instead.
	Charts map[string]option `json:"charts"`
	Empty  map[string]string `json:"empty,omitempty"`
	// Links are, per chart, the page each data item opens on click.
	Links map[string][]string `json:"links,omitempty"`
	// Text are the texts of the data-text elements (the cockpit's figures).
	Text   map[string]string `json:"text,omitempty"`
	Notice *emptyState       `json:"notice"`
	At     time.Time         `json:"at"`
}

func writeData(w http.ResponseWriter, shared *dataPayload) {
	d := *shared // cached and shared between requests
	d.At = time.Now()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(&d)
}

// dataFail answers a data request's error as JSON.
func (s *Server) dataFail(w http.ResponseWriter, r *http.Request, what string, err error) {
	var re *indices.RequestError
	switch {
	case errors.As(err, &re):
		access.WriteError(w, re.Code, re.Error())
	case errors.Is(err, context.Canceled):
	default:
		s.log.Error("dashboard: "+what, "path", r.URL.Path, "err", err)
		access.WriteError(w, http.StatusServiceUnavailable, "the index could not be read ("+what+"); retry in a minute, and tell the operator if it persists")
	}
}

// chartSlot is a chart's place in a page: its name, and the empty state
// to show while it has nothing (rendered server-side too, so a page
// never shows a blank chart).
type chartSlot struct {
	Name  string
	Empty string // "" when the chart has data
}

func slot(d *dataPayload, name string) chartSlot {
	if d.Charts[name] == nil {
		return chartSlot{Name: name, Empty: d.Empty[name]}
	}
	return chartSlot{Name: name}
}

// escapeID keeps a path segment a path segment.
func escapeID(s string) string { return url.PathEscape(s) }
