package warehouse

// Recording: with EFFIDX_RECORD_SQL set, every warehouse connection writes
// each statement it sends, with its parameters bound and the rows of its
// inserts, so that compat/ can replay a test run on ClickHouse 18.16 and on
// current ClickHouse (chDB) and compare the answers. Production never sets it.

import (
	"context"
	std_driver "database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// RecordEnv names the directory recordings are written to; empty: off.
// Each process writes one file there (sql-*.jsonl), one Recorded per line.
const RecordEnv = "EFFIDX_RECORD_SQL"

// Recorded is one line of a recording.
type Recorded struct {
	// Op is "open" (a warehouse connected: Server and Timezone are set),
	// "query" (Query, QueryRow, Select), "exec" (Exec, AsyncInsert) or
	// "insert" (a batch that was sent, with its rows in SQL).
	Op       string `json:"op"`
	Database string `json:"db"`
	// SQL is the statement as ClickHouse received it: the arguments bound
	// the way clickhouse-go binds them, an insert as INSERT ... VALUES
	// with its rows.
	SQL  string `json:"sql,omitempty"`
	Rows int    `json:"rows,omitempty"` // rows of an insert
	From string `json:"from,omitempty"` // file:line in the module that sent it
	// Err is the error the statement returned when it was recorded.
	Err string `json:"err,omitempty"`
	// Unbound says why SQL could not be rendered as sent (SQL is then the
	// text before binding, or the insert without its rows).
	Unbound  string `json:"unbound,omitempty"`
	Server   string `json:"server,omitempty"`  // open: version()
	Timezone string `json:"tz,omitempty"`      // open: the server's, which bound times depend on
	Cluster  string `json:"cluster,omitempty"` // open: the cluster of a warehouse in cluster mode
}

// recorders: one file per process and directory.
var recorders struct {
	sync.Mutex
	byDir map[string]*sqlRecorder
}

type sqlRecorder struct {
	mu  sync.Mutex
	f   *os.File
	enc *json.Encoder
}

func recorderFor(dir string) (*sqlRecorder, error) {
	recorders.Lock()
	defer recorders.Unlock()
	if r := recorders.byDir[dir]; r != nil {
		return r, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", RecordEnv, err)
	}
	f, err := os.CreateTemp(dir, "sql-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RecordEnv, err)
	}
	enc := json.NewEncoder(f)
	enc.SetEscapeHTML(false)
	r := &sqlRecorder{f: f, enc: enc}
	if recorders.byDir == nil {
		recorders.byDir = map[string]*sqlRecorder{}
	}
	recorders.byDir[dir] = r
	return r, nil
}

// write appends one line. Unbuffered: test binaries end in os.Exit.
func (r *sqlRecorder) write(rec Recorded) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.enc.Encode(rec); err != nil {
		return fmt.Errorf("record statement (%s): %w", RecordEnv, err)
	}
	return nil
}

// recordIfAsked wraps conn to record what it sends when RecordEnv is set.
func recordIfAsked(conn driver.Conn, cfg Config, version string) (driver.Conn, error) {
	dir := os.Getenv(RecordEnv)
	if dir == "" {
		return conn, nil
	}
	r, err := recorderFor(dir)
	if err != nil {
		return nil, err
	}
	sv, err := conn.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("record: server version: %w", err)
	}
	tz := sv.Timezone
	if tz == nil {
		tz = time.UTC
	}
	rc := &recordingConn{Conn: conn, db: cfg.Database, tz: tz, rec: r}
	if err := r.write(Recorded{Op: "open", Database: cfg.Database, Server: version, Timezone: tz.String(), Cluster: cfg.Cluster}); err != nil {
		return nil, err
	}
	return rc, nil
}

// recordingConn is a driver.Conn that records each statement after
// sending it (so that its error is known).
type recordingConn struct {
	driver.Conn
	db  string
	tz  *time.Location
	rec *sqlRecorder
}

func (c *recordingConn) statement(op, from, query string, args []any, err error) error {
	rec := Recorded{Op: op, Database: c.db, From: from, SQL: query, Err: errText(err)}
	if bound, berr := bindArgs(c.tz, query, args); berr != nil {
		rec.Unbound = berr.Error()
	} else {
		rec.SQL = bound
	}
	return c.rec.write(rec)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (c *recordingConn) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	from := caller()
	rows, err := c.Conn.Query(ctx, query, args...)
	if werr := c.statement("query", from, query, args, err); werr != nil {
		if rows != nil {
			rows.Close()
		}
		return nil, werr
	}
	return rows, err
}

func (c *recordingConn) QueryRow(ctx context.Context, query string, args ...any) driver.Row {
	from := caller()
	row := c.Conn.QueryRow(ctx, query, args...)
	if werr := c.statement("query", from, query, args, row.Err()); werr != nil {
		return errRow{werr}
	}
	return row
}

func (c *recordingConn) Select(ctx context.Context, dest any, query string, args ...any) error {
	from := caller()
	err := c.Conn.Select(ctx, dest, query, args...)
	if werr := c.statement("query", from, query, args, err); werr != nil {
		return werr
	}
	return err
}

func (c *recordingConn) Exec(ctx context.Context, query string, args ...any) error {
	from := caller()
	err := c.Conn.Exec(ctx, query, args...)
	if werr := c.statement("exec", from, query, args, err); werr != nil {
		return werr
	}
	return err
}

//nolint:staticcheck // recorded like Exec for as long as the driver has it
func (c *recordingConn) AsyncInsert(ctx context.Context, query string, wait bool, args ...any) error {
	from := caller()
	err := c.Conn.AsyncInsert(ctx, query, wait, args...)
	if werr := c.statement("exec", from, query, args, err); werr != nil {
		return werr
	}
	return err
}

func (c *recordingConn) PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error) {
	from := caller()
	b, err := c.Conn.PrepareBatch(ctx, query, opts...)
	if err != nil {
		if werr := c.rec.write(Recorded{Op: "insert", Database: c.db, From: from, SQL: query, Err: err.Error()}); werr != nil {
			return nil, werr
		}
		return nil, err
	}
	return &recordingBatch{Batch: b, conn: c, query: query, from: from}, nil
}

type errRow struct{ err error }

func (r errRow) Err() error           { return r.err }
func (r errRow) Scan(...any) error    { return r.err }
func (r errRow) ScanStruct(any) error { return r.err }

// recordingBatch keeps the rows it sends as VALUES text: read back from
// the driver's columns, so they are the values ClickHouse receives, after
// the driver's conversions.
type recordingBatch struct {
	driver.Batch
	conn    *recordingConn
	query   string
	from    string
	values  strings.Builder
	rows    int
	unbound string
}

func (b *recordingBatch) capture() {
	n := b.Batch.Rows()
	if n == 0 || b.unbound != "" {
		return
	}
	cols := b.Batch.Columns()
	for i := 0; i < n; i++ {
		if b.rows > 0 {
			b.values.WriteString(",\n")
		}
		b.values.WriteByte('(')
		for j, col := range cols {
			if j > 0 {
				b.values.WriteString(", ")
			}
			lit, err := valuesLiteral(string(col.Type()), col.Row(i, false), b.conn.tz)
			if err != nil {
				b.unbound = fmt.Sprintf("column %s: %v", col.Name(), err)
				return
			}
			b.values.WriteString(lit)
		}
		b.values.WriteByte(')')
		b.rows++
	}
}

func (b *recordingBatch) Flush() error {
	b.capture()
	return b.Batch.Flush()
}

func (b *recordingBatch) Send() error {
	b.capture()
	err := b.Batch.Send()
	if b.rows == 0 && b.unbound == "" {
		return err // nothing was inserted
	}
	rec := Recorded{Op: "insert", Database: b.conn.db, From: b.from, Rows: b.rows, Err: errText(err), Unbound: b.unbound,
		SQL: strings.TrimRight(b.query, " \t\n") + " VALUES\n" + b.values.String()}
	if b.unbound != "" {
		rec.SQL = b.query
	}
	if werr := b.conn.rec.write(rec); werr != nil {
		return werr
	}
	return err
}

var zoneInType = regexp.MustCompile(`^DateTime\('([^']+)'\)$`)

// valuesLiteral renders a column value (as the driver holds it) for
// INSERT ... VALUES: literals only, so that a large insert parses fast.
func valuesLiteral(typ string, v any, serverTZ *time.Location) (string, error) {
	switch v := v.(type) {
	case string:
		return quoteString(v), nil
	case time.Time:
		switch {
		case typ == "Date":
			return v.Format("'2006-01-02'"), nil
		case typ == "DateTime":
			return v.In(serverTZ).Format("'2006-01-02 15:04:05'"), nil
		}
		if m := zoneInType.FindStringSubmatch(typ); m != nil {
			loc, err := time.LoadLocation(m[1])
			if err != nil {
				return "", err
			}
			return v.In(loc).Format("'2006-01-02 15:04:05'"), nil
		}
		return "", fmt.Errorf("type %s: no rendering of its times", typ)
	case float32:
		return floatLiteral(float64(v), 32), nil
	case float64:
		return floatLiteral(v, 64), nil
	case bool:
		if v {
			return "1", nil
		}
		return "0", nil
	case int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint:
		return fmt.Sprint(v), nil
	}
	return "", fmt.Errorf("type %s: no rendering of Go %T", typ, v)
}

func floatLiteral(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

// caller is the first place outside this file and the driver that sent
// the statement, relative to the module root.
func caller() string {
	var pcs [24]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if f.File != thisFile && !strings.Contains(f.File, "/clickhouse-go/") {
			return strings.TrimPrefix(f.File, moduleRoot) + ":" + strconv.Itoa(f.Line)
		}
		if !more {
			return ""
		}
	}
}

var thisFile, moduleRoot = func() (string, string) {
	_, file, _, _ := runtime.Caller(0)
	// .../warehouse/record.go: the module root is two levels up (with
	// -trimpath the path starts with the module path, effidx/).
	dir := file[:strings.LastIndexByte(file, '/')]
	return file, dir[:strings.LastIndexByte(dir, '/')+1]
}()

// ---- binding ------------------------------------------------------------
//
// What follows renders arguments the way clickhouse-go v2.50 binds them
// client-side (bind.go there, unexported) for the value kinds effidx and
// its tests pass; record_test.go checks the renderings against the driver
// on a server. Kinds not ported are an error, which compat reports.

// paramsSyntax is clickhouse-go's test for {name:Type} query parameters:
// on servers that have them (not 18.16) it then sends the arguments
// apart instead of binding them, which a replay of the text cannot show.
var paramsSyntax = regexp.MustCompile("{.+:.+}")

var errMixedArgs = errors.New("named and positional arguments mixed")

func bindArgs(tz *time.Location, query string, args []any) (string, error) {
	if len(args) == 0 {
		return query, nil
	}
	if paramsSyntax.MatchString(query) {
		return "", errors.New("the query has {name:Type}-like text: on current servers clickhouse-go sends its arguments as server-side parameters instead of binding them")
	}
	named, positional := false, false
	for _, a := range args {
		switch a.(type) {
		case driver.NamedValue, driver.NamedDateValue:
			named = true
		default:
			positional = true
		}
	}
	switch {
	case named && positional:
		return "", errMixedArgs
	case named:
		return bindNamed(tz, query, args)
	}
	numeric, anonymous := placeholderKinds(query)
	switch {
	case numeric && anonymous:
		return "", errMixedArgs
	case numeric:
		return bindNumeric(tz, query, args)
	}
	return bindPositional(tz, query, args)
}

// quoteState tracks whether the scanner is inside a quoted identifier, a
// string literal or a comment, where placeholders are text.
type quoteState struct {
	backtick, single, double, lineComment bool
	blockComment                          int
}

func (s *quoteState) protected() bool {
	return s.backtick || s.single || s.double || s.lineComment || s.blockComment > 0
}

func (s *quoteState) identifierOrComment() bool {
	return s.backtick || s.double || s.lineComment || s.blockComment > 0
}

// update consumes the byte at pos and returns the last index consumed.
func (s *quoteState) update(q string, pos int) int {
	next := func(c byte) bool { return pos+1 < len(q) && q[pos+1] == c }
	closing := func(quote byte, in *bool) int {
		if q[pos] == quote && !escaped(q, pos) {
			if next(quote) {
				return pos + 1
			}
			*in = false
		}
		return pos
	}
	switch {
	case s.lineComment:
		if q[pos] == '\n' {
			s.lineComment = false
		}
	case s.blockComment > 0:
		switch {
		case q[pos] == '/' && next('*'):
			s.blockComment++
			return pos + 1
		case q[pos] == '*' && next('/'):
			s.blockComment--
			return pos + 1
		}
	case s.backtick:
		return closing('`', &s.backtick)
	case s.single:
		return closing('\'', &s.single)
	case s.double:
		return closing('"', &s.double)
	default:
		if escaped(q, pos) {
			return pos
		}
		switch {
		case q[pos] == '`':
			s.backtick = true
		case q[pos] == '\'':
			s.single = true
		case q[pos] == '"':
			s.double = true
		case q[pos] == '#':
			s.lineComment = true
		case q[pos] == '-' && next('-'):
			s.lineComment = true
			return pos + 1
		case q[pos] == '/' && next('*'):
			s.blockComment++
			return pos + 1
		}
	}
	return pos
}

func escaped(q string, pos int) bool {
	n := 0
	for i := pos - 1; i >= 0 && q[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isNameChar(c byte) bool {
	return c == '_' || isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func placeholderKinds(q string) (numeric, positional bool) {
	var st quoteState
	for i := 0; i < len(q); i++ {
		if !st.protected() {
			switch {
			case q[i] == '?' && (i == 0 || q[i-1] != '\\'):
				positional = true
			case q[i] == '$' && i+1 < len(q) && isDigit(q[i+1]):
				numeric = true
			}
		}
		i = st.update(q, i)
	}
	return numeric, positional
}

func bindPositional(tz *time.Location, q string, args []any) (string, error) {
	var (
		buf     []byte
		last    = -1
		next    = 0
		missing = 0
		st      quoteState
	)
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			if st.identifierOrComment() {
				continue
			}
			if i > 0 && q[i-1] == '\\' {
				// "\?" is a literal "?" (the backslash is dropped).
				buf = append(append(buf, q[last+1:i-1]...), '?')
				last = i
				continue
			}
			if st.single {
				continue
			}
			buf = append(buf, q[last+1:i]...)
			if next < len(args) {
				v, err := formatArg(tz, 0, args[next])
				if err != nil {
					return "", err
				}
				buf = append(buf, v...)
				next++
			} else {
				missing++
			}
			last = i
			continue
		}
		i = st.update(q, i)
	}
	if last < 0 {
		return q, nil
	}
	if missing > 0 {
		return "", fmt.Errorf("no argument for %d of the ? placeholders", missing)
	}
	return string(append(buf, q[last+1:]...)), nil
}

func bindNumeric(tz *time.Location, q string, args []any) (string, error) {
	params := map[string]string{}
	for i, a := range args {
		v, err := formatArg(tz, 0, a)
		if err != nil {
			return "", err
		}
		params["$"+strconv.Itoa(i+1)] = v
	}
	return replaceParams(q, params, func(i int) int {
		if q[i] != '$' || i+1 >= len(q) || !isDigit(q[i+1]) {
			return -1
		}
		j := i + 2
		for j < len(q) && isDigit(q[j]) {
			j++
		}
		return j
	})
}

func bindNamed(tz *time.Location, q string, args []any) (string, error) {
	params := map[string]string{}
	for _, a := range args {
		var (
			v   string
			err error
		)
		switch a := a.(type) {
		case driver.NamedValue:
			v, err = formatArg(tz, 0, a.Value)
			params["@"+a.Name] = v
		case driver.NamedDateValue:
			v, err = formatArg(tz, a.Scale, a.Value)
			params["@"+a.Name] = v
		}
		if err != nil {
			return "", err
		}
	}
	return replaceParams(q, params, func(i int) int {
		if q[i] != '@' || i+1 >= len(q) || !isNameChar(q[i+1]) {
			return -1
		}
		j := i + 1
		for j < len(q) && isNameChar(q[j]) {
			j++
		}
		return j
	})
}

// replaceParams replaces the placeholders end finds (it returns where a
// placeholder starting at i ends, or -1) outside quotes and comments.
func replaceParams(q string, params map[string]string, end func(i int) int) (string, error) {
	var (
		buf     []byte
		last    = -1
		missing []string
		st      quoteState
	)
	for i := 0; i < len(q); i++ {
		if !st.protected() {
			if j := end(i); j > 0 {
				name := q[i:j]
				buf = append(buf, q[last+1:i]...)
				if v, ok := params[name]; ok {
					buf = append(buf, v...)
				} else {
					missing = append(missing, name)
				}
				last, i = j-1, j-1
				continue
			}
		}
		i = st.update(q, i)
	}
	if last < 0 {
		return q, nil
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("no argument for %s", strings.Join(missing, ", "))
	}
	return string(append(buf, q[last+1:]...)), nil
}

var stringQuoter = strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`)

func quoteString(s string) string { return "'" + stringQuoter.Replace(s) + "'" }

func formatArg(tz *time.Location, scale uint8, v any) (string, error) {
	if fn, ok := v.(std_driver.Valuer); ok {
		var err error
		if v, err = fn.Value(); err != nil {
			return "", err
		}
	}
	return formatValue(tz, scale, v, false)
}

// formatValue follows the order of clickhouse-go's formatValueAt: a type
// matched earlier there wins here too (a fmt.Stringer integer is quoted).
func formatValue(tz *time.Location, scale uint8, v any, nested bool) (string, error) {
	switch v := v.(type) {
	case nil:
		return "NULL", nil
	case string:
		return quoteString(v), nil
	case []byte:
		if v == nil {
			return "NULL", nil
		}
		if !nested {
			return quoteString(string(v)), nil
		}
		items := make([]string, len(v))
		for i, b := range v {
			items[i] = strconv.Itoa(int(b))
		}
		return "[" + strings.Join(items, ", ") + "]", nil
	case time.Time:
		return formatTime(tz, scale, v)
	case *time.Time:
		if v == nil {
			return "NULL", nil
		}
		return formatTime(tz, scale, *v)
	case time.Duration, *time.Duration:
		return "", fmt.Errorf("no rendering of %T", v)
	case bool:
		if v {
			return "1", nil
		}
		return "0", nil
	case float32:
		return castFloat(float64(v), 32), nil
	case float64:
		return castFloat(v, 64), nil
	case clickhouse.GroupSet:
		items, err := formatEach(tz, scale, v.Value)
		return "(" + items + ")", err
	case []clickhouse.GroupSet:
		groups := make([]any, len(v))
		for i, g := range v {
			groups[i] = g
		}
		return formatEach(tz, scale, groups)
	case clickhouse.ArraySet:
		items, err := formatEach(tz, scale, v)
		return "[" + items + "]", err
	case fmt.Stringer:
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return "NULL", nil
		}
		return quoteString(v.String()), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return quoteString(rv.String()), nil
	case reflect.Slice, reflect.Array:
		items := make([]string, rv.Len())
		for i := range items {
			s, err := formatValue(tz, scale, rv.Index(i).Interface(), true)
			if err != nil {
				return "", err
			}
			items[i] = s
		}
		return "[" + strings.Join(items, ", ") + "]", nil
	case reflect.Float32:
		return castFloat(rv.Float(), 32), nil
	case reflect.Float64:
		return castFloat(rv.Float(), 64), nil
	case reflect.Pointer:
		if rv.IsNil() {
			return "NULL", nil
		}
		return formatValue(tz, scale, rv.Elem().Interface(), nested)
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprint(v), nil
	}
	return "", fmt.Errorf("no rendering of %T", v)
}

func formatEach(tz *time.Location, scale uint8, vs []any) (string, error) {
	items := make([]string, len(vs))
	for i, v := range vs {
		s, err := formatValue(tz, scale, v, true)
		if err != nil {
			return "", err
		}
		items[i] = s
	}
	return strings.Join(items, ", "), nil
}

func castFloat(f float64, bits int) string {
	typ := "Float64"
	if bits == 32 {
		typ = "Float32"
	}
	switch {
	case math.IsNaN(f):
		return "cast('nan', '" + typ + "')"
	case math.IsInf(f, 1):
		return "cast('inf', '" + typ + "')"
	case math.IsInf(f, -1):
		return "cast('-inf', '" + typ + "')"
	}
	return "cast(" + strconv.FormatFloat(f, 'g', -1, bits) + ", '" + typ + "')"
}

// formatTime: a time in time.Local is sent as Unix seconds, one in the
// server's zone as its wall clock, any other with its zone. Sub-second
// scales (DateTime64) are not ported: 18.16 has no DateTime64.
func formatTime(tz *time.Location, scale uint8, t time.Time) (string, error) {
	if scale != 0 {
		return "", fmt.Errorf("no rendering of a time with scale %d", scale)
	}
	switch name := t.Location().String(); name {
	case "Local", "":
		if t.Unix() == 0 {
			return "toDateTime(0)", nil
		}
		return fmt.Sprintf("toDateTime('%d')", t.Unix()), nil
	case tz.String():
		return t.Format("toDateTime('2006-01-02 15:04:05')"), nil
	default:
		if stringQuoter.Replace(name) != name {
			return "", fmt.Errorf("time zone %q", name)
		}
		return fmt.Sprintf("toDateTime('%s', '%s')", t.Format("2006-01-02 15:04:05"), name), nil
	}
}
