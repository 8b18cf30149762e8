package collector

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"effidx/collector/spool"
	"effidx/event"
)

// Collector is the ingest endpoint: POST /api/v1/events.
type Collector struct {
	cfg     Config
	spool   *spool.Spool
	metrics *Metrics
	log     *slog.Logger
	tokens  []tokenEntry
	dedup   *dedup
	bufs    sync.Pool
	reqSeq  atomic.Uint64
	reqBase string
	now     func() time.Time
}

type tokenEntry struct {
	source string
	hash   [32]byte
	all    bool
	depts  map[string]bool
}

// New builds the collector. The spool must be open; cfg must be valid.
func New(cfg Config, sp *spool.Spool, m *Metrics, log *slog.Logger) *Collector {
	if log == nil {
		log = slog.Default()
	}
	c := &Collector{
		cfg: cfg, spool: sp, metrics: m, log: log,
		dedup:   newDedup(cfg.DedupWindow),
		reqBase: strconv.FormatInt(time.Now().UnixNano(), 36),
		now:     time.Now,
	}
	for _, t := range cfg.Tokens {
		e := tokenEntry{source: t.Source, depts: map[string]bool{}}
		b, _ := hex.DecodeString(t.SHA256)
		copy(e.hash[:], b)
		for _, d := range t.Departments {
			if d == "*" {
				e.all = true
			}
			e.depts[d] = true
		}
		c.tokens = append(c.tokens, e)
	}
	if len(c.tokens) == 0 {
		log.Warn("no ingest tokens configured: accepting events from loopback clients only (set EFFIDX_INGEST_TOKENS or collector.tokens)")
	}
	return c
}

// Response is the body of a 202 answer.
type Response struct {
	Accepted   int            `json:"accepted"`
	Duplicates int            `json:"duplicates"`
	Rejected   []RejectedItem `json:"rejected"`
}

// RejectedItem tells the sender which event was refused and why.
type RejectedItem struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (c *Collector) fail(w http.ResponseWriter, code int, outcome, msg string) {
	c.metrics.Requests.WithLabelValues(outcome).Inc()
	writeJSON(w, code, errorBody{Error: msg})
}

// identify returns the token entry of the request, or nil with a reason.
// A nil entry and empty reason means loopback dev mode.
func (c *Collector) identify(r *http.Request) (*tokenEntry, string) {
	if len(c.tokens) == 0 {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return nil, "no ingest tokens are configured, so only loopback clients may send events"
		}
		return nil, ""
	}
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || secret == "" {
		return nil, "missing Authorization: Bearer <ingest token>"
	}
	sum := sha256.Sum256([]byte(secret))
	var found *tokenEntry
	// Compare with every token so that timing does not tell which matched.
	for i := range c.tokens {
		if subtle.ConstantTimeCompare(sum[:], c.tokens[i].hash[:]) == 1 {
			found = &c.tokens[i]
		}
	}
	if found == nil {
		return nil, "invalid ingest token"
	}
	return found, ""
}

func (c *Collector) requestID() string {
	return c.reqBase + "-" + strconv.FormatUint(c.reqSeq.Add(1), 36)
}

// ServeHTTP handles POST /api/v1/events.
func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		c.fail(w, http.StatusMethodNotAllowed, "bad_method", "use POST")
		return
	}
	tok, why := c.identify(r)
	if why != "" {
		c.fail(w, http.StatusUnauthorized, "unauthorized", why)
		return
	}
	source := "loopback"
	if tok != nil {
		source = tok.source
	}
	bufp, _ := c.bufs.Get().(*bytes.Buffer)
	if bufp == nil {
		bufp = new(bytes.Buffer)
	}
	defer func() {
		if bufp.Cap() <= 4<<20 {
			bufp.Reset()
			c.bufs.Put(bufp)
		}
	}()
	if r.ContentLength > c.cfg.MaxBodyBytes {
		c.fail(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body of %d bytes is over the limit of %d bytes: split it into smaller requests", r.ContentLength, c.cfg.MaxBodyBytes))
		return
	}
	if r.ContentLength > 0 {
		bufp.Grow(int(r.ContentLength))
	}
	if _, err := bufp.ReadFrom(http.MaxBytesReader(w, r.Body, c.cfg.MaxBodyBytes)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			c.fail(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body is over the limit of %d bytes: split it into smaller requests", c.cfg.MaxBodyBytes))
			return
		}
		c.fail(w, http.StatusBadRequest, "bad_body", "reading the body: "+err.Error())
		return
	}
	resp, f := c.accept(r.Context(), tok, source, bufp.Bytes())
	if f != nil {
		if f.retry {
			w.Header().Set("Retry-After", strconv.Itoa(int(c.cfg.RetryAfter.Seconds()+0.5)))
		}
		c.fail(w, f.code, f.outcome, f.msg)
		return
	}
	c.metrics.Requests.WithLabelValues("accepted").Inc()
	writeJSON(w, http.StatusAccepted, resp)
}

// failure is why a request was refused as a whole.
type failure struct {
	code         int
	outcome, msg string
	retry        bool // answer with Retry-After
}

func (f *failure) Error() string { return fmt.Sprintf("%d %s: %s", f.code, f.outcome, f.msg) }

// Ingest takes events from inside the process (the reminder job's
// reminded and responded events) the way POST /api/v1/events takes them:
// validated, de-duplicated, and durable in the spool when it returns nil,
// so they reach ClickHouse through the writer like any other event. It is
// not scoped to departments: the process trusts itself.
func (c *Collector) Ingest(ctx context.Context, source string, events []event.Event) (Response, error) {
	var body []byte
	for i := range events {
		body = event.AppendJSON(body, &events[i])
		body = append(body, '\n')
	}
	resp, f := c.accept(ctx, nil, source, body)
	if f != nil {
		c.metrics.Requests.WithLabelValues(f.outcome).Inc()
		return resp, f
	}
	c.metrics.Requests.WithLabelValues("accepted").Inc()
	return resp, nil
}

// accept decodes, scopes, de-duplicates and spools one request's body.
func (c *Collector) accept(ctx context.Context, tok *tokenEntry, source string, body []byte) (Response, *failure) {
	now := c.now()
	dec, err := event.Decode(body, event.Options{
		MaxLineBytes: c.cfg.MaxLineBytes, MaxEvents: c.cfg.MaxEvents, Now: now, MaxFuture: c.cfg.MaxFuture,
	})
	switch {
	case errors.Is(err, event.ErrTooManyEvents):
		return Response{}, &failure{code: http.StatusRequestEntityTooLarge, outcome: "too_many_events", msg: err.Error() + ": send at most that many events per request"}
	case err != nil:
		return Response{}, &failure{code: http.StatusBadRequest, outcome: "not_json", msg: err.Error() + " (send NDJSON, one event per line, or a JSON array of events)"}
	}
	rec := record{receivedAt: now, source: source, requestID: c.requestID(), rejected: dec.Rejected}
	rec.events = dec.Events[:0]
	var resp Response
	var ids []uint64
	inRequest := make(map[uint64]struct{}, len(dec.Events))
	c.dedup.mu.Lock()
	for i := range dec.Events {
		e := &dec.Events[i]
		if tok != nil && !tok.all && !tok.depts[e.Department] {
			rec.rejected = append(rec.rejected, event.Rejection{
				Index: dec.Indexes[i], Department: e.Department, Raw: event.AppendJSON(nil, e),
				Error: fmt.Sprintf("source %q may not report for department %q", source, e.Department),
			})
			continue
		}
		h := c.dedup.hash(e.ID)
		if _, dup := inRequest[h]; dup || c.dedup.containsLocked(h) {
			resp.Duplicates++
			continue
		}
		inRequest[h] = struct{}{}
		ids = append(ids, h)
		rec.events = append(rec.events, *e)
	}
	c.dedup.mu.Unlock()
	if len(rec.rejected) > len(dec.Rejected) {
		slices.SortStableFunc(rec.rejected, func(a, b event.Rejection) int { return a.Index - b.Index })
	}
	if len(rec.events) > 0 || len(rec.rejected) > 0 {
		payload := rec.marshal(make([]byte, 0, 64+len(rec.events)*160))
		if err := c.spool.Append(ctx, payload); err != nil {
			if errors.Is(err, spool.ErrFull) || errors.Is(err, spool.ErrClosed) {
				return Response{}, &failure{code: http.StatusServiceUnavailable, outcome: "spool_full", retry: true,
					msg: "the collector's spool is full (ClickHouse is behind or down): nothing of this request was stored, retry later"}
			}
			c.log.Error("spool append failed", "err", err)
			return Response{}, &failure{code: http.StatusInternalServerError, outcome: "spool_error",
				msg: "the collector could not store the events: nothing of this request was stored, retry later"}
		}
	}
	c.dedup.add(ids)
	resp.Accepted = len(rec.events)
	resp.Rejected = make([]RejectedItem, len(rec.rejected))
	for i, rj := range rec.rejected {
		resp.Rejected[i] = RejectedItem{Index: rj.Index, Error: rj.Error}
		c.metrics.Rejected.WithLabelValues(reason(rj.Error)).Inc()
	}
	c.metrics.Received.Add(float64(len(dec.Events) + len(dec.Rejected)))
	c.metrics.Accepted.Add(float64(resp.Accepted))
	c.metrics.Duplicates.Add(float64(resp.Duplicates))
	return resp, nil
}

// dedup remembers recently accepted event ids in two generations of hashes,
// so that memory stays bounded; ClickHouse collapses what it forgets.
type dedup struct {
	mu        sync.Mutex
	cur, prev map[uint64]struct{}
	max       int
	seed      maphash.Seed
}

func newDedup(max int) *dedup {
	return &dedup{cur: make(map[uint64]struct{}), prev: map[uint64]struct{}{}, max: max, seed: maphash.MakeSeed()}
}

func (d *dedup) hash(id string) uint64 { return maphash.String(d.seed, id) }

func (d *dedup) containsLocked(h uint64) bool {
	if _, ok := d.cur[h]; ok {
		return true
	}
	_, ok := d.prev[h]
	return ok
}

func (d *dedup) add(hs []uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, h := range hs {
		if len(d.cur) >= d.max {
			d.prev, d.cur = d.cur, make(map[uint64]struct{}, d.max/4)
		}
		d.cur[h] = struct{}{}
	}
}
