package indices

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"effidx/access"
	"effidx/warehouse/chtest"
)

// manualCST is the zone of the test clock.
var manualCST = time.FixedZone("CST", 8*3600)

// manualClock starts at 2026-11-03 10:00:00 and moves step per call; a zero
// step is a clock stuck on one instant.
func manualClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 11, 3, 10, 0, 0, 0, manualCST)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := t
		t = t.Add(step)
		return now
	}
}

func openManual(t *testing.T, now func() time.Time) *Manual {
	t.Helper()
	wh := chtest.Warehouse(t)
	cat, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return NewManual(wh, cat, now)
}

func manualTokenHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// manualServer is the manual API as the lead wires it: the access
// middleware in front of a Go 1.22 ServeMux.
func manualServer(t *testing.T, m *Manual) http.Handler {
	t.Helper()
	cfg := access.Config{Users: []access.User{
		{Name: "张督查", Role: access.Inspector, SHA256: manualTokenHash("insp")},
		{Name: "刘督查", Role: access.Inspector, SHA256: manualTokenHash("insp2")},
		{Name: "王局长", Role: access.Leader, SHA256: manualTokenHash("lead")},
		{Name: "李科长", Role: access.Department, Department: "D01", SHA256: manualTokenHash("dept")},
	}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("PUT /api/v1/manual/{department}/{indicator}", m.PutHandler())
	mux.Handle("GET /api/v1/manual/{department}/{indicator}", m.HistoryHandler())
	return access.New(cfg, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))).Middleware(mux)
}

// manualDo sends one request; token "" sends none.
func manualDo(t *testing.T, h http.Handler, method, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = "192.0.2.7:50000"
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// wireEntry is Entry as a client reads it.
type wireEntry struct {
	Period     string    `json:"period"`
	Department string    `json:"department"`
	Indicator  string    `json:"indicator"`
	Value      float64   `json:"value"`
	Previous   *float64  `json:"previous_value"`
	Inspector  string    `json:"inspector"`
	Note       string    `json:"note"`
	EnteredAt  time.Time `json:"entered_at"`
	Seq        uint64    `json:"seq"`
}

type wireHistory struct {
	Period        string      `json:"period"`
	Department    string      `json:"department"`
	Indicator     string      `json:"indicator"`
	IndicatorName string      `json:"indicator_name"`
	Unit          string      `json:"unit"`
	Entries       []wireEntry `json:"entries"`
}

func decodeManual[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("answer %d %q is not the expected JSON: %v", w.Code, w.Body.String(), err)
	}
	return v
}

func mustPeriod(t *testing.T, s string) Period {
	t.Helper()
	p, err := ParsePeriod(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const manualGoodBody = `{"value": 0.93, "note": "抽查20件，合格19件"}`

func TestManualPutIsForInspectorsOnly(t *testing.T) {
	m := openManual(t, manualClock(time.Minute))
	srv := manualServer(t, m)
	const path = "/api/v1/manual/D01/E4.1?period=2026-10"
	tests := []struct {
		name    string
		h       http.Handler
		token   string
		code    int
		errHas  string
		written bool
	}{
		{"an inspector's entry is stored", srv, "insp", 200, "", true},
		{"a leader may not write", srv, "lead", 403, "only inspectors may enter manual scores", false},
		{"a department user may not write, not even its own department", srv, "dept", 403, "only inspectors", false},
		{"an anonymous request is told to send a bearer token", srv, "", 401, "Bearer <token>", false},
		{"without the access middleware nobody is signed in", m.PutHandler(), "insp", 401, "not signed in", false},
	}
	stored := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := manualDo(t, tt.h, http.MethodPut, path, tt.token, manualGoodBody)
			if w.Code != tt.code {
				t.Fatalf("got %d %s, want %d", w.Code, w.Body.String(), tt.code)
			}
			if tt.errHas != "" {
				if e := decodeManual[access.ErrorBody](t, w); !strings.Contains(e.Error, tt.errHas) {
					t.Fatalf("error %q does not contain %q", e.Error, tt.errHas)
				}
			}
			if tt.written {
				stored++
				e := decodeManual[wireEntry](t, w)
				if e.Inspector != "张督查" || e.Value != 0.93 || e.Period != "2026-10" || e.Department != "D01" || e.Indicator != "E4.1" {
					t.Fatalf("stored entry %+v", e)
				}
			}
			hist, err := m.History(context.Background(), "D01", "E4.1", mustPeriod(t, "2026-10"))
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != stored {
				t.Fatalf("history holds %d entries after this request, want %d", len(hist), stored)
			}
		})
	}
}

func TestManualPutRejectsBadInputSayingWhatIsWrong(t *testing.T) {
	m := openManual(t, manualClock(time.Minute))
	srv := manualServer(t, m)
	long := strings.Repeat("查", MaxManualNoteLen+1)
	tests := []struct {
		name   string
		path   string
		body   string
		code   int
		errHas string // substring of the error; "" for a 200
	}{
		{"a ratio in range is stored", "/api/v1/manual/D01/E4.1?period=2026-10", manualGoodBody, 200, ""},
		{"a score in range is stored", "/api/v1/manual/D01/E4.2?period=2026-10", `{"value": 85, "note": "现场核验"}`, 200, ""},
		{"a note of exactly the maximum length is stored", "/api/v1/manual/D01/E4.4?period=2026-10", `{"value": 1, "note": "` + long[len("查"):] + `"}`, 200, ""},
		{"a month 13 is a bad period", "/api/v1/manual/D01/E4.1?period=2026-13", manualGoodBody, 400, "month 13 is not 01..12"},
		{"an unreadable period names the accepted forms", "/api/v1/manual/D01/E4.1?period=Oct", manualGoodBody, 400, "want a day 2026-10-05, a month 2026-10"},
		{"a missing period says how to add it", "/api/v1/manual/D01/E4.1", manualGoodBody, 400, "add ?period=2026-10"},
		{"a ratio above 1 is refused", "/api/v1/manual/D01/E4.1?period=2026-10", `{"value": 93, "note": "x"}`, 400, "value 93 is outside 0..1"},
		{"a negative ratio is refused", "/api/v1/manual/D01/E4.4?period=2026-10", `{"value": -0.1, "note": "x"}`, 400, "value -0.1 is outside 0..1"},
		{"a score above 100 is refused", "/api/v1/manual/D01/E4.3?period=2026-10", `{"value": 101, "note": "x"}`, 400, "value 101 is outside 0..100"},
		{"a missing value is refused", "/api/v1/manual/D01/E4.1?period=2026-10", `{"note": "x"}`, 400, "value is required"},
		{"a missing note is refused", "/api/v1/manual/D01/E4.1?period=2026-10", `{"value": 0.9}`, 400, "note is required"},
		{"a blank note is refused", "/api/v1/manual/D01/E4.1?period=2026-10", `{"value": 0.9, "note": "  "}`, 400, "note is required"},
		{"a note over 2000 characters is refused", "/api/v1/manual/D01/E4.1?period=2026-10", `{"value": 0.9, "note": "` + long + `"}`, 400, "note is 2001 characters long; at most 2000"},
		{"a blank department code is refused", "/api/v1/manual/%20/E4.1?period=2026-10", manualGoodBody, 400, "department code is empty"},
		{"a department code over 64 characters is refused", "/api/v1/manual/" + strings.Repeat("D", 65) + "/E4.1?period=2026-10", manualGoodBody, 400, "department code is 65 characters long"},
		{"an unknown indicator is not found, naming the manual ones", "/api/v1/manual/D01/E9.9?period=2026-10", manualGoodBody, 404, `"E9.9" does not exist; the manual indicators are E4.1 (随机抽查合格率, ratio 0..1), E4.2`},
		{"a computed indicator is not found, naming the manual ones", "/api/v1/manual/D01/S1.1?period=2026-10", manualGoodBody, 404, "S1.1 (按时办结率) is computed from events, not entered by inspectors; the manual indicators are E4.1"},
		{"the inspector is not a body field", "/api/v1/manual/D01/E4.1?period=2026-10", `{"value": 0.9, "note": "x", "inspector": "someone else"}`, 400, `unknown field "inspector"`},
		{"a body that is not JSON shows what to send", "/api/v1/manual/D01/E4.1?period=2026-10", `value=0.9`, 400, `send {"value": 0.93`},
		{"a value that is not a number is refused", "/api/v1/manual/D01/E4.1?period=2026-10", `{"value": "0.9", "note": "x"}`, 400, "body is not a manual entry"},
		{"two JSON values are refused", "/api/v1/manual/D01/E4.1?period=2026-10", manualGoodBody + manualGoodBody, 400, "more than one JSON value"},
	}
	stored := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := manualDo(t, srv, http.MethodPut, tt.path, "insp", tt.body)
			if w.Code != tt.code {
				t.Fatalf("got %d %s, want %d", w.Code, w.Body.String(), tt.code)
			}
			if tt.code == 200 {
				stored++
				return
			}
			if e := decodeManual[access.ErrorBody](t, w); !strings.Contains(e.Error, tt.errHas) {
				t.Fatalf("error %q\ndoes not contain %q", e.Error, tt.errHas)
			}
		})
	}
	// Nothing refused was stored.
	latest, err := m.Latest(context.Background(), mustPeriod(t, "2026-10"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(latest["D01"]); n != stored || len(latest) != 1 {
		t.Fatalf("Latest = %v: want only the %d accepted entries of D01", latest, stored)
	}
}

func TestManualPutValidatesWithoutHTTP(t *testing.T) {
	m := openManual(t, manualClock(time.Minute))
	p := mustPeriod(t, "2026-10")
	ctx := context.Background()
	tests := []struct {
		name       string
		dep, ind   string
		p          Period
		insp, note string
		value      float64
		is         error
	}{
		{"an empty department", "", "E4.1", p, "张督查", "x", 0.9, ErrInvalidEntry},
		{"a department with a control character", "D\n01", "E4.1", p, "张督查", "x", 0.9, ErrInvalidEntry},
		{"the zero period", "D01", "E4.1", Period{}, "张督查", "x", 0.9, ErrInvalidEntry},
		{"no inspector", "D01", "E4.1", p, " ", "x", 0.9, ErrInvalidEntry},
		{"a computed indicator", "D01", "C1.1", p, "张督查", "x", 0.9, ErrNotManual},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			_, err := m.Put(ctx, tt.dep, tt.ind, tt.p, tt.value, tt.insp, tt.note)
			if !errors.Is(err, tt.is) {
				t.Fatalf("Put = %v, want %v", err, tt.is)
			}
		})
	}
}

func TestManualAuditTrailKeepsEveryVersion(t *testing.T) {
	m := openManual(t, manualClock(90*time.Second))
	srv := manualServer(t, m)
	const path = "/api/v1/manual/D01/E4.1?period=2026-10"
	puts := []struct {
		token, inspector string
		value            float64
		note             string
	}{
		{"insp", "张督查", 0.85, "抽查20件，合格17件"},
		{"insp2", "刘督查", 0.9, "复查：补正后合格18件"},
		{"insp", "张督查", 0.95, "复核 'O''Brien' ? 合格19件"}, // quotes and ? stay data
	}
	for i, p := range puts {
		body, _ := json.Marshal(map[string]any{"value": p.value, "note": p.note})
		w := manualDo(t, srv, http.MethodPut, path, p.token, string(body))
		if w.Code != 200 {
			t.Fatalf("put %d: %d %s", i+1, w.Code, w.Body.String())
		}
		e := decodeManual[wireEntry](t, w)
		switch {
		case i == 0 && e.Previous != nil:
			t.Fatalf("put 1 answered previous value %v, want null", *e.Previous)
		case i > 0 && (e.Previous == nil || *e.Previous != puts[i-1].value):
			t.Fatalf("put %d answered previous value %v, want %v", i+1, e.Previous, puts[i-1].value)
		}
	}

	w := manualDo(t, srv, http.MethodGet, path, "lead", "")
	if w.Code != 200 {
		t.Fatalf("leader's GET: %d %s", w.Code, w.Body.String())
	}
	h := decodeManual[wireHistory](t, w)
	if h.Period != "2026-10" || h.Department != "D01" || h.Indicator != "E4.1" || h.IndicatorName != "随机抽查合格率" || h.Unit != "ratio" {
		t.Fatalf("history header %+v", h)
	}
	if len(h.Entries) != len(puts) {
		t.Fatalf("history has %d entries, want %d: %s", len(h.Entries), len(puts), w.Body.String())
	}
	start := time.Date(2026, 11, 3, 10, 0, 0, 0, manualCST)
	for i, e := range h.Entries {
		want := puts[i]
		// The clock is read once per put: entry i was entered 90s × i in.
		at := start.Add(time.Duration(i) * 90 * time.Second)
		if e.Value != want.value || e.Inspector != want.inspector || e.Note != want.note || !e.EnteredAt.Equal(at) {
			t.Errorf("entry %d = %+v, want value %v by %s at %s, note %q", i+1, e, want.value, want.inspector, at, want.note)
		}
		switch {
		case i == 0 && e.Previous != nil:
			t.Errorf("entry 1 has previous value %v, want none", *e.Previous)
		case i > 0 && (e.Previous == nil || *e.Previous != puts[i-1].value):
			t.Errorf("entry %d has previous value %v, want %v", i+1, e.Previous, puts[i-1].value)
		}
		if i > 0 && e.Seq <= h.Entries[i-1].Seq {
			t.Errorf("entry %d has seq %d, not above the one before (%d)", i+1, e.Seq, h.Entries[i-1].Seq)
		}
	}

	reads := []struct {
		name, path, token string
		code              int
	}{
		{"an inspector reads the trail", path, "insp", 200},
		{"a department reads its own trail", path, "dept", 200},
		{"a department may not read another department's trail", "/api/v1/manual/D02/E4.1?period=2026-10", "dept", 403},
		{"an anonymous request is refused", path, "", 401},
		{"a computed indicator has no trail", "/api/v1/manual/D01/S1.1?period=2026-10", "lead", 404},
		{"the trail needs a period", "/api/v1/manual/D01/E4.1", "lead", 400},
	}
	for _, tt := range reads {
		t.Run(tt.name, func(t *testing.T) {
			w := manualDo(t, srv, http.MethodGet, tt.path, tt.token, "")
			if w.Code != tt.code {
				t.Fatalf("got %d %s, want %d", w.Code, w.Body.String(), tt.code)
			}
			if tt.code == 200 {
				if got := decodeManual[wireHistory](t, w); len(got.Entries) != len(puts) {
					t.Fatalf("%d entries, want %d", len(got.Entries), len(puts))
				}
			}
		})
	}
}

func TestManualLatestPicksTheLatestAndKeepsPeriodsApart(t *testing.T) {
	// A clock stuck on one instant: the order must come from seq, not from
	// entered_at (whole seconds) or the clock.
	m := openManual(t, manualClock(0))
	ctx := context.Background()
	oct, nov, q4 := mustPeriod(t, "2026-10"), mustPeriod(t, "2026-11"), mustPeriod(t, "2026-Q4")
	puts := []struct {
		dep, ind string
		p        Period
		v        float64
	}{
		{"D01", "E4.1", oct, 0.80},
		{"D01", "E4.1", nov, 0.70},
		{"D01", "E4.1", oct, 0.90},
		{"D02", "E4.2", oct, 88},
		{"D'02?", "E4.3", oct, 75}, // a quote and a ? in a code stay data
		{"D01", "E4.1", oct, 0.85},
	}
	for _, p := range puts {
		if _, err := m.Put(ctx, p.dep, p.ind, p.p, p.v, "张督查", "抽查"); err != nil {
			t.Fatalf("Put %+v: %v", p, err)
		}
	}
	tests := []struct {
		name string
		p    Period
		want map[string]map[string]float64
	}{
		{"October holds the last October entry of each department and indicator", oct,
			map[string]map[string]float64{"D01": {"E4.1": 0.85}, "D02": {"E4.2": 88}, "D'02?": {"E4.3": 75}}},
		{"November holds only its own entry", nov, map[string]map[string]float64{"D01": {"E4.1": 0.70}}},
		{"a quarter is a period of its own, empty here", q4, map[string]map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Latest(ctx, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(tt.want)
			if string(gb) != string(wb) {
				t.Fatalf("Latest(%s) = %s, want %s", tt.p, gb, wb)
			}
		})
	}
	hist, err := m.History(ctx, "D01", "E4.1", nov)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Value != 0.70 || hist[0].Previous != nil {
		t.Fatalf("November history = %+v, want the one entry 0.70 with no previous value", hist)
	}
	hist, err = m.History(ctx, "D01", "E4.1", oct)
	if err != nil {
		t.Fatal(err)
	}
	var vals []float64
	for _, e := range hist {
		vals = append(vals, e.Value)
	}
	if len(hist) != 3 || vals[0] != 0.80 || vals[1] != 0.90 || vals[2] != 0.85 || *hist[2].Previous != 0.90 {
		t.Fatalf("October history values = %v, want [0.8 0.9 0.85] with the last replacing 0.9", vals)
	}
}
