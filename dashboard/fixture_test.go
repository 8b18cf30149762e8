package dashboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"effidx/access"
	"effidx/indices"
	"effidx/lights"
	"effidx/rules"
	"effidx/simulate"
	"effidx/warehouse"
	"effidx/warehouse/chtest"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

// city is a dashboard over a real ClickHouse holding a 40-day simulated
// city (2026-09-01 to 2026-10-10), September computed, the lights judged:
// the pages as serve wires them, behind the access middleware.
type city struct {
	h      http.Handler
	srv    *Server
	api    *indices.API
	wh     *warehouse.Warehouse
	lights *lights.Job
	auth   *access.Authenticator
}

// Tokens of the configured users.
const (
	leaderToken    = "lead"
	deptToken      = "dept" // department D01
	inspectorToken = "insp"
)

func tokenHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func newCity(t testing.TB) *city {
	t.Helper()
	ctx := context.Background()
	cfg := warehouse.DefaultConfig()
	cfg.Addr, cfg.Database = chtest.Addr(t), chtest.Database(t)
	wh, err := warehouse.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wh.Close() })
	if _, err := wh.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	sc := simulate.DefaultConfig()
	sc.Start = time.Date(2026, 9, 1, 0, 0, 0, 0, sc.Location)
	sc.Days, sc.CasesPerDay, sc.MalformedShare = 40, 250, 0
	chtest.LoadSimulated(t, wh, sc)

	cal, err := rules.DefaultCalendar()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	calendars := func() (*rules.Calendar, error) { return cal, nil }
	cats, err := indices.NewCatalogSource("", log)
	if err != nil {
		t.Fatal(err)
	}
	job := indices.NewJob(wh, cats, calendars, indices.DefaultConfig(), prometheus.NewRegistry(), log)
	if _, _, err := job.ComputePeriod(ctx, mustPeriod(t, "2026-09")); err != nil {
		t.Fatal(err)
	}
	api := indices.NewAPI(job, indices.NewManual(wh, job.Catalog(), nil), log)
	lj := lights.NewJob(wh, &lights.RulesJudge{Calendar: calendars, Rules: rules.DefaultLightRules()}, lights.DefaultConfig(), prometheus.NewRegistry(), log)
	if err := lj.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	auth := access.New(access.Config{Users: []access.User{
		{Name: "王局长", Role: access.Leader, SHA256: tokenHash(leaderToken)},
		{Name: "李科长", Role: access.Department, Department: "D01", SHA256: tokenHash(deptToken)},
		{Name: "张督查", Role: access.Inspector, SHA256: tokenHash(inspectorToken)},
	}}, slog.New(slog.DiscardHandler))
	srv, err := New(DefaultConfig(), Options{API: api, Lights: lj, Auth: auth.Middleware, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(func(pattern string, h http.Handler) { mux.Handle(pattern, h) })
	return &city{h: mux, srv: srv, api: api, wh: wh, lights: lj, auth: auth}
}

func mustPeriod(t testing.TB, s string) indices.Period {
	t.Helper()
	p, err := indices.ParsePeriod(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testWriter logs through t, so a server error shows with the test.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// request is one request to the pages.
type request struct {
	method, path, token string
	form                url.Values
	cookies             []*http.Cookie
	header              map[string]string
}

func (c *city) do(t testing.TB, rq request) *httptest.ResponseRecorder {
	t.Helper()
	if rq.method == "" {
		rq.method = http.MethodGet
	}
	var body io.Reader
	if rq.form != nil {
		body = strings.NewReader(rq.form.Encode())
	}
	r := httptest.NewRequest(rq.method, rq.path, body)
	// Not loopback: with users configured there is no dev mode anyway.
	r.RemoteAddr = "192.0.2.7:50000"
	if rq.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if rq.token != "" {
		r.Header.Set("Authorization", "Bearer "+rq.token)
	}
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	for _, ck := range rq.cookies {
		r.AddCookie(ck)
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, r)
	return w
}

func (c *city) get(t testing.TB, path, token string) *httptest.ResponseRecorder {
	t.Helper()
	return c.do(t, request{path: path, token: token})
}
