package collector

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"effidx/collector/spool"
	"effidx/event"
)

var testNow = time.Date(2026, 10, 5, 12, 0, 0, 0, time.FixedZone("CST", 8*3600))

func line(id, dept string) string {
	return fmt.Sprintf(`{"event_id":%q,"kind":"service","case_id":"c-%s","type":"accepted","at":"2026-10-05T09:30:00+08:00","department":%q}`, id, id, dept)
}

func hash(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

type harness struct {
	c       *Collector
	sp      *spool.Spool
	metrics *Metrics
}

func newHarness(t *testing.T, mut func(*Config)) *harness {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Spool.Dir = t.TempDir()
	if mut != nil {
		mut(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(cfg.Spool, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	m := NewMetrics(prometheus.NewRegistry())
	c := New(cfg, sp, m, slog.New(slog.DiscardHandler))
	c.now = func() time.Time { return testNow }
	return &harness{c: c, sp: sp, metrics: m}
}

type result struct {
	code int
	resp Response
	err  string
	hdr  http.Header
}

func (h *harness) post(body, token, remote string) result {
	req := httptest.NewRequest(http.MethodPost, "/api/v1/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if remote == "" {
		remote = "127.0.0.1:4000"
	}
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	h.c.ServeHTTP(rec, req)
	r := result{code: rec.Code, hdr: rec.Header()}
	if rec.Code == http.StatusAccepted {
		_ = json.Unmarshal(rec.Body.Bytes(), &r.resp)
	} else {
		var e errorBody
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		r.err = e.Error
	}
	return r
}

// spooled reads everything in the spool back as a batch.
func (h *harness) spooled(t *testing.T) *event.Batch {
	t.Helper()
	b := &event.Batch{}
	var buf []byte
	pos := h.sp.Confirmed()
	for {
		rec, next, err := h.sp.Read(pos, &buf)
		if errors.Is(err, spool.ErrNoData) {
			return b
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := unmarshalInto(rec.Payload, b); err != nil {
			t.Fatal(err)
		}
		pos = next
	}
}

func TestIngestAnswers(t *testing.T) {
	tokens := func(c *Config) {
		c.Tokens = []Token{
			{Source: "hall", SHA256: hash("s3cret-hall"), Departments: []string{"D01", "D02"}},
			{Source: "hotline", SHA256: hash("s3cret-12345"), Departments: []string{"*"}},
		}
	}
	small := func(c *Config) {
		c.MaxBodyBytes, c.MaxLineBytes, c.MaxEvents = 2000, 300, 3
	}
	tests := []struct {
		name       string
		mut        func(*Config)
		body       string
		token      string
		remote     string
		wantCode   int
		wantAcc    int
		wantDup    int
		wantRej    []int
		wantErr    string // substring of the error body or of the first rejection
		wantSpooed int    // events in the spool afterwards
	}{
		{name: "good and bad events of one request: the good ones are accepted", body: line("a", "D01") + "\n{bad\n" + line("b", "D01"),
			wantCode: 202, wantAcc: 2, wantRej: []int{1}, wantErr: "invalid JSON", wantSpooed: 2},
		{name: "a duplicate inside one request counts once", body: line("a", "D01") + "\n" + line("a", "D01"),
			wantCode: 202, wantAcc: 1, wantDup: 1, wantSpooed: 1},
		{name: "no tokens configured and a remote client: 401", body: line("a", "D01"), remote: "192.0.2.7:5555",
			wantCode: 401, wantErr: "only loopback clients"},
		{name: "no tokens configured and a loopback client: accepted", body: line("a", "D01"), remote: "127.0.0.1:5555",
			wantCode: 202, wantAcc: 1, wantSpooed: 1},
		{name: "tokens configured and none sent: 401", mut: tokens, body: line("a", "D01"),
			wantCode: 401, wantErr: "missing Authorization"},
		{name: "a wrong token: 401", mut: tokens, token: "guess", body: line("a", "D01"),
			wantCode: 401, wantErr: "invalid ingest token"},
		{name: "a token may not report for another department", mut: tokens, token: "s3cret-hall",
			body:     line("a", "D01") + "\n" + line("b", "D09") + "\n" + line("c", "D02"),
			wantCode: 202, wantAcc: 2, wantRej: []int{1}, wantErr: `source "hall" may not report for department "D09"`, wantSpooed: 2},
		{name: "a token for every department", mut: tokens, token: "s3cret-12345", body: line("a", "D77"),
			wantCode: 202, wantAcc: 1, wantSpooed: 1},
		{name: "a body over the size limit: 413 and nothing stored", mut: small, body: strings.Repeat(line("a", "D01")+"\n", 20),
			wantCode: 413, wantErr: "over the limit of 2000 bytes"},
		{name: "more events than allowed: 413 and nothing stored", mut: small, body: strings.Repeat(line("a", "D01")+"\n", 4),
			wantCode: 413, wantErr: "more than 3"},
		{name: "an oversized line is rejected on its own", mut: small, body: line("a", "D01") + "\n" + strings.Replace(line("b", "D01"), "}", `,"responsible":"`+strings.Repeat("x", 300)+`"}`, 1),
			wantCode: 202, wantAcc: 1, wantRej: []int{1}, wantErr: "over the limit of 300", wantSpooed: 1},
		{name: "a body that is not JSON at all: 400", body: "this is not json",
			wantCode: 400, wantErr: "neither NDJSON nor a JSON array"},
		{name: "an empty body: 400", body: "",
			wantCode: 400, wantErr: "body is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.mut)
			remote := tt.remote
			if remote == "" {
				remote = "127.0.0.1:4000"
			}
			r := h.post(tt.body, tt.token, remote)
			if r.code != tt.wantCode {
				t.Fatalf("code = %d (%s), want %d", r.code, r.err, tt.wantCode)
			}
			if r.code == 202 {
				var idx []int
				for _, rj := range r.resp.Rejected {
					idx = append(idx, rj.Index)
				}
				if r.resp.Accepted != tt.wantAcc || r.resp.Duplicates != tt.wantDup || fmt.Sprint(idx) != fmt.Sprint(tt.wantRej) {
					t.Fatalf("answer = %+v, want accepted %d duplicates %d rejected %v", r.resp, tt.wantAcc, tt.wantDup, tt.wantRej)
				}
				if tt.wantErr != "" && !strings.Contains(r.resp.Rejected[0].Error, tt.wantErr) {
					t.Fatalf("rejection = %q, want %q", r.resp.Rejected[0].Error, tt.wantErr)
				}
			} else if !strings.Contains(r.err, tt.wantErr) {
				t.Fatalf("error = %q, want it to contain %q", r.err, tt.wantErr)
			}
			b := h.spooled(t)
			if len(b.Events) != tt.wantSpooed || len(b.Rejected) != len(tt.wantRej) {
				t.Fatalf("spool holds %d events and %d rejections, want %d and %d", len(b.Events), len(b.Rejected), tt.wantSpooed, len(tt.wantRej))
			}
		})
	}
}

func TestResendIsCountedAsDuplicateNotSpooledAgain(t *testing.T) {
	h := newHarness(t, nil)
	body := line("a", "D01") + "\n" + line("b", "D01")
	first := h.post(body, "", "127.0.0.1:1")
	second := h.post(body+"\n"+line("c", "D01"), "", "127.0.0.1:1")
	if first.resp.Accepted != 2 || second.resp.Accepted != 1 || second.resp.Duplicates != 2 {
		t.Fatalf("first %+v, second %+v: want 2 accepted, then 1 accepted and 2 duplicates", first.resp, second.resp)
	}
	if n := len(h.spooled(t).Events); n != 3 {
		t.Fatalf("spool holds %d events, want 3", n)
	}
	if d := testutil.ToFloat64(h.metrics.Duplicates); d != 2 {
		t.Fatalf("duplicates metric = %v, want 2", d)
	}
}

func TestRejectionsAreSpooledWithRawTextAndSource(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Tokens = []Token{{Source: "hall", SHA256: hash("t"), Departments: []string{"D01"}}}
	})
	h.post(line("a", "D02")+"\n"+`{"event_id":"x","department":"D01"}`, "t", "")
	b := h.spooled(t)
	if len(b.Rejected) != 2 {
		t.Fatalf("%d rejections spooled, want 2", len(b.Rejected))
	}
	for i, r := range b.Rejected {
		if r.Index != i || r.Source != "hall" || r.RequestID == "" || len(r.Raw) == 0 || !r.ReceivedAt.Equal(testNow) {
			t.Fatalf("rejection %d = %+v", i, r)
		}
	}
	if b.Rejected[0].Department != "D02" || b.Rejected[1].Department != "D01" {
		t.Fatalf("departments %q %q, want D02 D01", b.Rejected[0].Department, b.Rejected[1].Department)
	}
	if v := testutil.ToFloat64(h.metrics.Rejected.WithLabelValues("out_of_scope")); v != 1 {
		t.Fatalf("out_of_scope rejections = %v, want 1", v)
	}
}

func TestFullSpoolAnswers503WithRetryAfterAndStoresNothing(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Spool.MaxBytes, c.Spool.SegmentBytes = 4096, 1024
	})
	var codes []int
	accepted := 0
	for i := range 40 {
		r := h.post(line(fmt.Sprintf("e%d", i), "D01"), "", "")
		codes = append(codes, r.code)
		if r.code == 202 {
			accepted++
		}
		if r.code == 503 {
			if r.hdr.Get("Retry-After") != "5" || !strings.Contains(r.err, "retry later") {
				t.Fatalf("503 without Retry-After 5 or advice: %v %q", r.hdr, r.err)
			}
		}
	}
	if codes[0] != 202 || codes[len(codes)-1] != 503 {
		t.Fatalf("codes %v: want 202 first and 503 once full", codes)
	}
	if n := len(h.spooled(t).Events); n != accepted {
		t.Fatalf("spool holds %d events, %d were acknowledged", n, accepted)
	}
	// A refused event is not remembered as seen: its resend is accepted
	// once there is room.
	var buf []byte
	pos := h.sp.Confirmed()
	for {
		_, next, err := h.sp.Read(pos, &buf)
		if err != nil {
			break
		}
		pos = next
	}
	if err := h.sp.Confirm(pos); err != nil {
		t.Fatal(err)
	}
	r := h.post(line("e39", "D01"), "", "")
	if r.code != 202 || r.resp.Accepted != 1 {
		t.Fatalf("resend after room: %d %+v, want 202 accepted 1", r.code, r.resp)
	}
}

func TestWrongMethodIs405(t *testing.T) {
	h := newHarness(t, nil)
	req := httptest.NewRequest(http.MethodGet, "/api/v1/events", nil)
	rec := httptest.NewRecorder()
	h.c.ServeHTTP(rec, req)
	if rec.Code != 405 {
		t.Fatalf("GET = %d, want 405", rec.Code)
	}
}

func TestParseTokens(t *testing.T) {
	toks, err := ParseTokens("hall:" + hash("a") + ":D01,D02; hotline:" + hash("b") + ":*")
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 2 || toks[0].Source != "hall" || fmt.Sprint(toks[0].Departments) != "[D01 D02]" || toks[1].Departments[0] != "*" {
		t.Fatalf("ParseTokens = %+v", toks)
	}
	if _, err := ParseTokens("hall-without-hash"); err == nil {
		t.Fatal("a malformed entry was accepted")
	}
	cfg := DefaultConfig()
	cfg.Spool.Dir = "x"
	cfg.Tokens = []Token{{Source: "hall", SHA256: "plaintext-secret", Departments: []string{"D01"}}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "not the secret itself") {
		t.Fatalf("a plaintext token passed validation: %v", err)
	}
}
