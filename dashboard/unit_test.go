package dashboard

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"effidx/indices"
)

func TestConfigValidateNamesEveryProblem(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string
	}{
		{"defaults", DefaultConfig(), nil},
		{"a wall-screen portal may frame", Config{Refresh: 30 * time.Second, FrameAncestors: []string{"'self'", "https://screen.city.gov.cn", "https://*.gov.cn:8443"}}, nil},
		{"no framing", Config{Refresh: time.Minute, FrameAncestors: []string{"'none'"}}, nil},
		{"refresh too fast", Config{Refresh: time.Second, FrameAncestors: []string{"'self'"}}, []string{"refresh 1s"}},
		{"self without quotes and a directive smuggled in", Config{Refresh: time.Minute, FrameAncestors: []string{"self", "'self'; script-src *"}},
			[]string{`"self"`, `script-src`}},
		{"none with others", Config{Refresh: time.Minute, FrameAncestors: []string{"'none'", "'self'"}}, []string{"stand alone"}},
		{"empty", Config{}, []string{"refresh", "frame_ancestors is empty"}},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (err != nil) != (tt.wantErr != nil) {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		for _, w := range tt.wantErr {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", tt.name, err, w)
			}
		}
	}
}

func TestNumbersAreFormattedForPeople(t *testing.T) {
	nan := math.NaN()
	tests := []struct{ got, want string }{
		{pct(0.97), "97.0%"},
		{pct(1), "100.0%"},
		{pct(nan), "—"},
		{value(3.24, indices.WorkingDays), "3.2 个工作日"},
		{value(5.06, indices.Hours), "5.1 小时"},
		{value(85, indices.ScoreUnit), "85.0 分"},
		{value(0.955, indices.Ratio), "95.5%"},
		{value(nan, indices.Ratio), "—"},
		{count(1234567), "1,234,567"},
		{count(12), "12"},
		{count(-1234), "-1,234"},
		{score(87.349), "87.3"},
		{signed(1.25), "+1.2"},
		{signed(-0.04), "0.0"},
		{signed(-0.8), "-0.8"},
		{points(-0.0001), "0.00"},
		{periodName(indices.Period{Kind: indices.Quarter, Y: 2026, N: 4}), "2026年第4季度"},
		{periodName(indices.Period{Kind: indices.Day, Y: 2026, N: 10, D: 5}), "2026年10月5日"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestEnteredValuesAcceptPercentagesForRatiosOnly(t *testing.T) {
	tests := []struct {
		in   string
		unit indices.Unit
		want float64
		err  bool
	}{
		{"0.95", indices.Ratio, 0.95, false},
		{"95%", indices.Ratio, 0.95, false},
		{" 95 ％ ", indices.Ratio, 0.95, false},
		{"85", indices.ScoreUnit, 85, false},
		{"85%", indices.ScoreUnit, 0, true},
		{"九十", indices.Ratio, 0, true},
		{"NaN", indices.Ratio, 0, true},
	}
	for _, tt := range tests {
		v, err := parseValue(tt.in, tt.unit)
		if (err != nil) != tt.err || (!tt.err && math.Abs(v-tt.want) > 1e-12) {
			t.Errorf("parseValue(%q, %s) = %v, %v", tt.in, tt.unit, v, err)
		}
	}
}

func TestRankingsSortKeepsNoDataLast(t *testing.T) {
	nan := math.NaN()
	rows := []*rankRow{
		{Subject: "D03", Rank: 0, Total: nan, Change: nan},
		{Subject: "D01", Rank: 2, Total: 80, Change: 1},
		{Subject: "D02", Rank: 1, Total: 90, Change: nan},
	}
	order := func() string {
		var s []string
		for _, r := range rows {
			s = append(s, r.Subject)
		}
		return strings.Join(s, " ")
	}
	for _, tt := range []struct {
		key  string
		desc bool
		want string
	}{
		{"rank", false, "D02 D01 D03"},
		{"rank", true, "D01 D02 D03"},
		{"total", true, "D02 D01 D03"},
		{"total", false, "D01 D02 D03"},
		{"change", true, "D01 D02 D03"},
		{"subject", true, "D03 D02 D01"},
	} {
		sortRows(rows, tt.key, tt.desc)
		if got := order(); got != tt.want {
			t.Errorf("sort %s desc=%v: %s, want %s", tt.key, tt.desc, got, tt.want)
		}
	}
}

func TestAssetsWithoutTheGeneratedBundleAnswer503SayingWhatToRun(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /assets/{name}", assetSet{})
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/assets/echarts.min.js", nil))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "go generate ./...") {
		t.Fatalf("%d %s", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/assets/nope.js", nil))
	if w.Code != http.StatusNotFound {
		t.Fatalf("unknown asset: %d", w.Code)
	}
	// The committed files are always embedded, served with their type and
	// revalidated by ETag.
	a := loadAssets()
	mux = http.NewServeMux()
	mux.Handle("GET /assets/{name}", a)
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/assets/dashboard.js", nil))
	if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), "javascript") || w.Header().Get("ETag") == "" {
		t.Fatalf("dashboard.js: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	r := httptest.NewRequest(http.MethodGet, "/assets/dashboard.js", nil)
	r.Header.Set("If-None-Match", w.Header().Get("ETag"))
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if w.Code != http.StatusNotModified {
		t.Fatalf("revalidation: %d", w.Code)
	}
}

func TestGoEchartsIsPointedAtTheEmbeddedBundle(t *testing.T) {
	if got := echartsScripts(); len(got) != 1 || got[0] != "/assets/echarts.min.js" {
		t.Fatalf("scripts %v", got)
	}
}

func TestCacheServesStaleWhileOneBuildRefreshes(t *testing.T) {
	c := newCache[int](20 * time.Millisecond)
	var builds atomic.Int32
	block := make(chan struct{})
	f := func(context.Context) (int, error) {
		n := int(builds.Add(1))
		if n == 2 {
			<-block
		}
		return n, nil
	}
	ctx := context.Background()
	if v, _ := c.get(ctx, "k", f); v != 1 {
		t.Fatalf("first build %d", v)
	}
	time.Sleep(30 * time.Millisecond)
	// Expired: the old value at once, one background build.
	for range 5 {
		if v, _ := c.get(ctx, "k", f); v != 1 {
			t.Fatalf("stale value %d", v)
		}
	}
	close(block)
	deadline := time.Now().Add(2 * time.Second)
	for {
		if v, _ := c.get(ctx, "k", f); v == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refresh never landed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := builds.Load(); n != 2 {
		t.Fatalf("%d builds, want 2", n)
	}
	// An error is not kept.
	boom := errors.New("boom")
	if _, err := c.get(ctx, "e", func(context.Context) (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if v, err := c.get(ctx, "e", func(context.Context) (int, error) { return 7, nil }); err != nil || v != 7 {
		t.Fatalf("after an error: %d %v", v, err)
	}
}
