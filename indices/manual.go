package indices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2"

	"effidx/access"
	"effidx/warehouse"
)

// Limits of a manual entry.
const (
	MaxManualNoteLen       = 2000 // characters of the evidence note
	MaxManualDepartmentLen = 64   // as event department codes (SPEC 3)
	maxManualBodyBytes     = 64 << 10
)

// Errors of Put, for errors.Is; the error's message says what was wrong.
var (
	// ErrInvalidEntry: the period, department, value, note or inspector is
	// not acceptable (HTTP 400).
	ErrInvalidEntry = errors.New("invalid manual entry")
	// ErrNotManual: the indicator does not exist or is computed, not
	// entered (HTTP 404).
	ErrNotManual = errors.New("not a manual indicator")
)

// manualError is a user-facing problem of one kind (ErrInvalidEntry or
// ErrNotManual).
type manualError struct {
	kind error
	msg  string
}

func (e *manualError) Error() string        { return e.msg }
func (e *manualError) Is(target error) bool { return target == e.kind }

func invalidEntry(format string, args ...any) error {
	return &manualError{kind: ErrInvalidEntry, msg: fmt.Sprintf(format, args...)}
}

// Entry is one version of a manual value: who entered what, when, and
// what it replaced.
type Entry struct {
	Period     Period    `json:"period"`
	Department string    `json:"department"`
	Indicator  string    `json:"indicator"`
	Value      float64   `json:"value"`
	Previous   *float64  `json:"previous_value"` // the value this entry replaced; null for the first
	Inspector  string    `json:"inspector"`
	Note       string    `json:"note"` // the evidence: what was checked
	EnteredAt  time.Time `json:"entered_at"`
	Seq        uint64    `json:"seq"` // orders the versions; the largest is the current value
}

// Manual keeps the inspector-entered indicators (E4.x) in ClickHouse's
// manual_values: every version is a row of its own (the audit trail) and
// the one with the largest seq counts.
type Manual struct {
	wh  *warehouse.Warehouse
	cat *Catalog
	now func() time.Time
	// mu orders Put's read of the previous value with its insert, so that
	// two entries at once from this process get distinct, increasing seqs.
	mu    sync.Mutex
	onPut []func(Period) // told after an entry was stored (the API's cache)
}

// NewManual stores manual values of cat's manual indicators in wh; now is
// the clock (time.Now when nil).
func NewManual(wh *warehouse.Warehouse, cat *Catalog, now func() time.Time) *Manual {
	if now == nil {
		now = time.Now
	}
	return &Manual{wh: wh, cat: cat, now: now}
}

// manualList names the catalog's manual indicators, for messages.
func (m *Manual) manualList() string {
	var s []string
	for _, ind := range m.cat.Indicators() {
		if ind.Manual {
			s = append(s, fmt.Sprintf("%s (%s, %s)", ind.ID, ind.NameZH, unitHint(ind.Unit)))
		}
	}
	if len(s) == 0 {
		return "none in this catalog"
	}
	return strings.Join(s, ", ")
}

func unitHint(u Unit) string {
	lo, hi := unitRange(u)
	if math.IsInf(hi, 1) {
		return fmt.Sprintf("%s >= %s", u, num(lo))
	}
	return fmt.Sprintf("%s %s..%s", u, num(lo), num(hi))
}

// indicator finds a manual indicator by id.
func (m *Manual) indicator(id string) (*Indicator, error) {
	ind := m.cat.Indicator(id)
	switch {
	case ind == nil:
		return nil, &manualError{ErrNotManual, fmt.Sprintf("indicator %q does not exist; the manual indicators are %s", id, m.manualList())}
	case !ind.Manual:
		return nil, &manualError{ErrNotManual, fmt.Sprintf("indicator %s (%s) is computed from events, not entered by inspectors; the manual indicators are %s", id, ind.NameZH, m.manualList())}
	}
	return ind, nil
}

func checkManualDepartment(dep string) error {
	switch {
	case strings.TrimSpace(dep) == "":
		return invalidEntry("department code is empty: put the department's code in the path, e.g. /api/v1/manual/D01/E4.1")
	case utf8.RuneCountInString(dep) > MaxManualDepartmentLen:
		return invalidEntry("department code is %d characters long; codes have at most %d", utf8.RuneCountInString(dep), MaxManualDepartmentLen)
	case strings.ContainsFunc(dep, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return invalidEntry("department code %q contains control characters", dep)
	}
	return nil
}

func checkManualPeriod(p Period) error {
	if p.Kind < Day || p.Kind > Year {
		return invalidEntry("period is missing: give one, e.g. 2026-10 (month), 2026-Q4, 2026 or 2026-10-05")
	}
	return nil
}

// check validates an entry; it returns the indicator.
func (m *Manual) check(department, indicator string, p Period, value float64, inspector, note string) (*Indicator, error) {
	if err := checkManualDepartment(department); err != nil {
		return nil, err
	}
	ind, err := m.indicator(indicator)
	if err != nil {
		return nil, err
	}
	if err := checkManualPeriod(p); err != nil {
		return nil, err
	}
	lo, hi := unitRange(ind.Unit)
	switch {
	case math.IsNaN(value) || math.IsInf(value, 0):
		return nil, invalidEntry("value must be a number")
	case value < lo || value > hi:
		ex := "e.g. 0.95 for 95%"
		if ind.Unit == ScoreUnit {
			ex = "points, e.g. 85"
		}
		return nil, invalidEntry("value %s is outside %s..%s: %s (%s) is unit %s (%s)", num(value), num(lo), num(hi), ind.ID, ind.NameZH, ind.Unit, ex)
	}
	if strings.TrimSpace(inspector) == "" {
		return nil, invalidEntry("inspector is empty: entries record who made them")
	}
	switch n := utf8.RuneCountInString(note); {
	case strings.TrimSpace(note) == "":
		return nil, invalidEntry("note is required: say what was checked, e.g. 抽查20件，合格19件")
	case n > MaxManualNoteLen:
		return nil, invalidEntry("note is %d characters long; at most %d (keep the evidence itself elsewhere and refer to it)", n, MaxManualNoteLen)
	}
	return ind, nil
}

func (m *Manual) table() string { return m.wh.Database() + ".manual_values" }

// latestEntry reads the current value of one department, indicator and
// period; ok is false when there is none.
func (m *Manual) latestEntry(ctx context.Context, department, indicator string, p Period) (value float64, seq uint64, ok bool, err error) {
	rows, err := m.wh.Conn().Query(ctx,
		"SELECT value, seq FROM "+m.table()+" WHERE period = ? AND department = ? AND indicator = ? ORDER BY seq DESC LIMIT 1",
		p.String(), department, indicator)
	if err != nil {
		return 0, 0, false, err
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&value, &seq); err != nil {
			return 0, 0, false, err
		}
		ok = true
	}
	return value, seq, ok, rows.Err()
}

// Put stores a new version of a manual value and returns it with the value
// it replaced. Errors about the input match ErrInvalidEntry or
// ErrNotManual; others are storage failures.
func (m *Manual) Put(ctx context.Context, department, indicator string, p Period, value float64, inspector, note string) (Entry, error) {
	if _, err := m.check(department, indicator, p, value, inspector, note); err != nil {
		return Entry{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, prevSeq, hasPrev, err := m.latestEntry(ctx, department, indicator, p)
	if err != nil {
		return Entry{}, fmt.Errorf("read current manual value %s/%s/%s: %w", department, indicator, p, err)
	}
	now := m.now()
	// seq is the entry time in nanoseconds, but always above the previous
	// one: a clock that steps back must not reorder the versions.
	seq := uint64(max(now.UnixNano(), 0))
	if hasPrev && seq <= prevSeq {
		seq = prevSeq + 1
	}
	e := Entry{Period: p, Department: department, Indicator: indicator, Value: value, Inspector: inspector,
		Note: note, EnteredAt: now.Truncate(time.Second), Seq: seq}
	if hasPrev {
		e.Previous = &prev
	}
	// On a cluster manual_values is a Distributed table: a synchronous
	// insert makes the entry readable before the inspector is told it is
	// stored.
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
	batch, err := m.wh.Conn().PrepareBatch(ctx,
		"INSERT INTO "+m.table()+" (period, department, indicator, value, inspector, note, entered_at, seq)")
	if err != nil {
		return Entry{}, fmt.Errorf("store manual value %s/%s/%s: %w", department, indicator, p, err)
	}
	defer batch.Abort() //nolint:errcheck // after Send, Abort is a no-op
	if err := batch.Append(p.String(), department, indicator, value, inspector, note, e.EnteredAt, seq); err != nil {
		return Entry{}, fmt.Errorf("store manual value %s/%s/%s: %w", department, indicator, p, err)
	}
	if err := batch.Send(); err != nil {
		return Entry{}, fmt.Errorf("store manual value %s/%s/%s: %w", department, indicator, p, err)
	}
	for _, f := range m.onPut {
		f(p)
	}
	return e, nil
}

// History is every version of one department's manual value in period p,
// oldest first, each with the value it replaced.
func (m *Manual) History(ctx context.Context, department, indicator string, p Period) ([]Entry, error) {
	rows, err := m.wh.Conn().Query(ctx,
		"SELECT value, inspector, note, entered_at, seq FROM "+m.table()+" WHERE period = ? AND department = ? AND indicator = ? ORDER BY seq",
		p.String(), department, indicator)
	if err != nil {
		return nil, fmt.Errorf("read manual history %s/%s/%s: %w", department, indicator, p, err)
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		e := Entry{Period: p, Department: department, Indicator: indicator}
		if err := rows.Scan(&e.Value, &e.Inspector, &e.Note, &e.EnteredAt, &e.Seq); err != nil {
			return nil, fmt.Errorf("read manual history %s/%s/%s: %w", department, indicator, p, err)
		}
		if n := len(out); n > 0 {
			v := out[n-1].Value
			e.Previous = &v
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read manual history %s/%s/%s: %w", department, indicator, p, err)
	}
	return out, nil
}

// Latest is the current manual values of period p, department → indicator
// → value, for scoring. Values of indicators the catalog no longer has as
// manual are left out: they would score an indicator that is computed now.
func (m *Manual) Latest(ctx context.Context, p Period) (map[string]map[string]float64, error) {
	rows, err := m.wh.Conn().Query(ctx,
		"SELECT department, indicator, argMax(value, seq) FROM "+m.table()+" WHERE period = ? GROUP BY department, indicator",
		p.String())
	if err != nil {
		return nil, fmt.Errorf("read manual values of %s: %w", p, err)
	}
	defer rows.Close()
	out := map[string]map[string]float64{}
	for rows.Next() {
		var dep, id string
		var v float64
		if err := rows.Scan(&dep, &id, &v); err != nil {
			return nil, fmt.Errorf("read manual values of %s: %w", p, err)
		}
		if ind := m.cat.Indicator(id); ind == nil || !ind.Manual {
			continue
		}
		if out[dep] == nil {
			out[dep] = map[string]float64{}
		}
		out[dep][id] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read manual values of %s: %w", p, err)
	}
	return out, nil
}

// ManualPutBody is the body of PUT /api/v1/manual/{department}/{indicator}.
// The inspector is who is signed in, never a body field.
type ManualPutBody struct {
	Value *float64 `json:"value"`
	Note  string   `json:"note"`
}

// ManualHistory is the answer of GET /api/v1/manual/{department}/{indicator}.
type ManualHistory struct {
	Period        Period  `json:"period"`
	Department    string  `json:"department"`
	Indicator     string  `json:"indicator"`
	IndicatorName string  `json:"indicator_name"`
	Unit          Unit    `json:"unit"`
	Entries       []Entry `json:"entries"` // oldest first
}

func writeManualJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// manualStatus answers an error of Put or check: 400, 404 or 500.
func manualStatus(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotManual):
		access.WriteError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrInvalidEntry):
		access.WriteError(w, http.StatusBadRequest, err.Error())
	default:
		slog.Error("manual values", "err", err)
		access.WriteError(w, http.StatusInternalServerError, "the manual value could not be stored or read; try again, and tell the operator if it persists")
	}
}

// request reads what both handlers share: the identity, the department
// and indicator of the path, and ?period=. It answers the request itself
// (and returns ok false) when any of them is missing or bad.
func (m *Manual) request(w http.ResponseWriter, r *http.Request) (id access.Identity, dep string, ind *Indicator, p Period, ok bool) {
	id, signedIn := access.FromContext(r.Context())
	if !signedIn {
		access.Unauthorized(w, "not signed in: send Authorization: Bearer <token> (ask the operator for a token)")
		return
	}
	dep = r.PathValue("department")
	if err := checkManualDepartment(dep); err != nil {
		manualStatus(w, err)
		return
	}
	ind, err := m.indicator(r.PathValue("indicator"))
	if err != nil {
		manualStatus(w, err)
		return
	}
	ps := r.URL.Query().Get("period")
	if ps == "" {
		access.WriteError(w, http.StatusBadRequest, "period is missing: add ?period=2026-10 (a month; also 2026-Q4, 2026 or 2026-10-05)")
		return
	}
	if p, err = ParsePeriod(ps); err != nil {
		access.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	return id, dep, ind, p, true
}

// PutHandler answers PUT /api/v1/manual/{department}/{indicator}?period=
// with body {"value": 0.93, "note": "抽查20件，合格19件"}: inspectors only
// (401 without identity, 403 for other roles). It answers 200 with the
// stored Entry, which holds the value it replaced. Register it under a
// pattern with the {department} and {indicator} wildcards.
func (m *Manual) PutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			w.Header().Set("Allow", http.MethodPut)
			access.WriteError(w, http.StatusMethodNotAllowed, "use PUT to enter a value, GET to read its history")
			return
		}
		// The role is checked before anything else: whoever may not write
		// learns nothing from validation messages.
		id, signedIn := access.FromContext(r.Context())
		if signedIn && !id.CanWriteManual() {
			access.Forbidden(w, fmt.Sprintf("only inspectors may enter manual scores; you are signed in as %s", id))
			return
		}
		id, dep, ind, p, ok := m.request(w, r)
		if !ok {
			return
		}
		var body ManualPutBody
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxManualBodyBytes))
		dec.DisallowUnknownFields()
		const want = `send {"value": 0.93, "note": "抽查20件，合格19件"}`
		if err := dec.Decode(&body); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				access.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is over %d bytes; %s", maxManualBodyBytes, want))
				return
			}
			access.WriteError(w, http.StatusBadRequest, fmt.Sprintf("body is not a manual entry (%v); %s (the inspector is who is signed in)", err, want))
			return
		}
		if _, err := dec.Token(); err != io.EOF {
			access.WriteError(w, http.StatusBadRequest, "body has more than one JSON value; "+want)
			return
		}
		if body.Value == nil {
			access.WriteError(w, http.StatusBadRequest, "value is required; "+want)
			return
		}
		e, err := m.Put(r.Context(), dep, ind.ID, p, *body.Value, id.Name, body.Note)
		if err != nil {
			manualStatus(w, err)
			return
		}
		writeManualJSON(w, e)
	})
}

// HistoryHandler answers GET /api/v1/manual/{department}/{indicator}?period=
// with the audit trail (ManualHistory): every version, oldest first. A
// department user sees only its own department (403 otherwise).
func (m *Manual) HistoryHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			access.WriteError(w, http.StatusMethodNotAllowed, "use GET to read the history, PUT to enter a value")
			return
		}
		id, dep, ind, p, ok := m.request(w, r)
		if !ok {
			return
		}
		if !id.CanSeeDepartment(dep) {
			access.Forbidden(w, fmt.Sprintf("you are signed in as %s and may see only your own department's entries", id))
			return
		}
		entries, err := m.History(r.Context(), dep, ind.ID, p)
		if err != nil {
			manualStatus(w, err)
			return
		}
		writeManualJSON(w, ManualHistory{Period: p, Department: dep, Indicator: ind.ID, IndicatorName: ind.NameZH, Unit: ind.Unit, Entries: entries})
	})
}
