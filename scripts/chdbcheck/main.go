// Command chdbcheck prints the SQL effidx sends to ClickHouse, rendered
// with parameter values the way clickhouse-go binds them, so that run.js can
// run every statement on chDB (current ClickHouse) and on a 18.16 server.
// Tests only ever see 18.16; production runs current ClickHouse.
//
// Sources of SQL:
//   - the schema: warehouse.SchemaSQL;
//   - the index computation: indices.ComputeSQL (the default catalog) and
//     indices.AllFormulasSQL (every formula a catalog may use);
//   - the lights queries: the *SQL constants of package lights, read with
//     go/parser so that the lights package needs no export for this check;
//   - every other Query/QueryRow/Exec/Select call in the module's non-test
//     Go files, found with go/parser and evaluated from string literals,
//     constants, fmt.Sprintf and one-line helpers. A call it cannot render
//     becomes a statement with an error, so new SQL is never silently
//     left out of the check.
//
// Usage: go run ./scripts/chdbcheck [-db effidx] [-format json|sql] > stmts.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"effidx/indices"
	"effidx/rules"
	"effidx/warehouse"
)

// Stmt is one statement to run.
type Stmt struct {
	Name  string `json:"name"`
	Phase string `json:"phase"` // schema, query or last (destructive: run after the queries)
	From  string `json:"from"`  // where effidx sends it
	SQL   string `json:"sql,omitempty"`
	Error string `json:"error,omitempty"` // set when the statement could not be rendered
	// Expect says why the engines' rows may differ (such as version()).
	Expect string `json:"expect,omitempty"`
}

// Output is what run.js reads.
type Output struct {
	Database   string            `json:"database"`
	Timezone   string            `json:"timezone"`
	Params     map[string]string `json:"params"`  // bound values, for the report
	Catalog    string            `json:"catalog"` // version of the default catalog, for run.js's catalogs row
	Statements []Stmt            `json:"statements"`
	Skipped    []string          `json:"skipped"` // call sites left out on purpose, and why
}

// covered: files whose SQL calls take a query built elsewhere; such a call
// that cannot be evaluated is covered by the statements rendered from the
// source named here.
var covered = map[string]string{
	"warehouse/migrate.go": "schema statements, rendered by warehouse.SchemaSQL",
	"indices/compute.go":   "computation queries, rendered by indices.ComputeSQL",
	"indices/api.go":       "deduction item and three-lines queries, rendered by indices.ItemsSQL and indices.LinesSQL",
	"lights/facts.go":      "lights queries, rendered from the lights constants",
}

// benchFile: the benchmarks (effidx bench ...) build their SQL at run time
// from generators, on a database of their own; they are not the service.
var benchFile = regexp.MustCompile(`^cmd/effidx/bench[^/]*\.go$`)

// skipDirs hold no SQL effidx sends in production.
var skipDirs = map[string]bool{"_scratch": true, "node_modules": true, "testdata": true, "scripts": true, "warehouse/chtest": true}

func main() {
	db := flag.String("db", "effidx", "database name to render the SQL with")
	tz := flag.String("tz", "Asia/Shanghai", "schema time zone")
	period := flag.String("period", "2025-10", "period the computation queries are bound for")
	nowFlag := flag.String("now", "2025-11-15T10:00:00+08:00", "the computation's and the lights' now (RFC 3339)")
	root := flag.String("root", "", "module root (default: found from the working directory)")
	format := flag.String("format", "json", "json (for run.js) or sql (to read)")
	flag.Parse()
	if err := run(*db, *tz, *period, *nowFlag, *root, *format); err != nil {
		fmt.Fprintln(os.Stderr, "chdbcheck:", err)
		os.Exit(1)
	}
}

func run(db, tz, periodText, nowText, root, format string) error {
	if root == "" {
		var err error
		if root, err = moduleRoot(); err != nil {
			return err
		}
	}
	now, err := time.Parse(time.RFC3339, nowText)
	if err != nil {
		return err
	}
	// A time.Now() in effidx is in time.Local, which is what decides how
	// clickhouse-go writes it into the query.
	now = time.Unix(now.Unix(), 0)
	cal, err := rules.DefaultCalendar()
	if err != nil {
		return err
	}
	p, err := indices.ParsePeriod(periodText)
	if err != nil {
		return err
	}
	loc := cal.Location()
	from, to := p.Start(loc), p.End(loc)
	// The arguments Compute binds (indices/compute.go).
	named := indices.CalendarParams(cal, from, to, now)
	// Positional arguments of the other queries, by their Go expression.
	since := now.Add(-time.Hour)
	positional := map[string]any{
		"since":         since,
		"cal.Version()": cal.Version(),
		"p.String()":    p.String(),
		"department":    "d01",
		"indicator":     "E4.1",
		"now.Unix()":    now.Unix(),
	}

	out := Output{Database: db, Timezone: tz, Params: map[string]string{}}
	for k, v := range named {
		if a, ok := v.([]int32); ok {
			out.Params["@"+k] = fmt.Sprintf("[%d values: %d ... %d]", len(a), a[0], a[len(a)-1])
			continue
		}
		out.Params["@"+k] = mustFormat(v)
	}
	out.Params["since (lights, ?)"] = mustFormat(since)

	add := func(s Stmt) { out.Statements = append(out.Statements, s) }

	// Schema.
	tableRE := regexp.MustCompile(`CREATE (TABLE|DATABASE) IF NOT EXISTS (\S+)`)
	for _, q := range warehouse.SchemaSQL(warehouse.Render{Database: db, Timezone: tz}) {
		name := "schema"
		if m := tableRE.FindStringSubmatch(q); m != nil {
			name = "schema: " + strings.ToLower(m[1]) + " " + strings.TrimPrefix(m[2], db+".")
		}
		add(Stmt{Name: name, Phase: "schema", From: "warehouse.SchemaSQL", SQL: q})
	}

	// Index computation.
	cat, err := indices.Default()
	if err != nil {
		return err
	}
	positional["version"] = cat.Version() // Store.Catalog, RememberCatalog
	out.Catalog = cat.Version()
	qs, err := indices.ComputeSQL(cat, db)
	if err != nil {
		return err
	}
	for _, q := range qs {
		add(bound("compute (default catalog): "+q.Source, "indices.ComputeSQL", q.SQL, named, nil))
	}
	for _, q := range indices.AllFormulasSQL(db) {
		add(bound("compute (every formula): "+q.Source, "indices.AllFormulasSQL", q.SQL, named, nil))
	}
	// The API's drill-downs bind the computation's parameters and more.
	more := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range named {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	items, err := indices.ItemsSQL(cat, db)
	if err != nil {
		return err
	}
	for _, q := range items {
		add(bound("items: "+q.Source, "indices.ItemsSQL", q.SQL, more(map[string]any{"dept": "d01", "limit": 20, "offset": 0}), nil))
	}
	add(bound("lines", "indices.LinesSQL", indices.LinesSQL(db), more(map[string]any{"matter": "m01"}), nil))

	// Lights.
	ls, err := lightsStatements(filepath.Join(root, "lights"), db, since)
	if err != nil {
		return err
	}
	for _, s := range ls {
		add(s)
	}

	// Everything else.
	calls, skipped, err := scanCalls(root, db, positional)
	if err != nil {
		return err
	}
	for _, s := range calls {
		add(s)
	}
	out.Skipped = append(skipped, "warehouse/chtest: test harness only (creates and drops each test's database)")

	switch format {
	case "json":
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", " ")
		return enc.Encode(out)
	case "sql":
		for _, s := range out.Statements {
			fmt.Printf("-- %s (%s, %s)\n", s.Name, s.From, s.Phase)
			if s.Error != "" {
				fmt.Printf("-- NOT RENDERED: %s\n\n", s.Error)
				continue
			}
			fmt.Printf("%s;\n\n", s.SQL)
		}
		for _, s := range out.Skipped {
			fmt.Printf("-- skipped: %s\n", s)
		}
		return nil
	}
	return fmt.Errorf("unknown format %q", format)
}

// bound is a query statement with its arguments bound.
func bound(name, from, q string, named map[string]any, positional []any) Stmt {
	s := Stmt{Name: name, Phase: "query", From: from}
	var err error
	if named != nil {
		s.SQL, err = bindNamed(q, named)
	} else {
		s.SQL, err = bindPositional(q, positional)
	}
	if err != nil {
		s.SQL, s.Error = "", err.Error()
	}
	return s
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module effidx\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the effidx module; pass -root")
		}
		dir = parent
	}
}

// lightsStatements renders the lights queries: every constant named *SQL
// in the lights package that is a SELECT, with the database for its first
// format verb and, when it has a second one (a filter), once without a
// filter and once with each filter literal of the package (a string that
// starts with "\n  AND"). The filters are rendered generically so that a
// new one is checked without changes here: a %s before "." is the
// database, another %s no further filter, %d the numbers 4 then 1 (shards
// and shard), and a ? the case ids for arrayJoin(?), else since.
func lightsStatements(dir, db string, since time.Time) ([]Stmt, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	pkg := &pkgInfo{consts: map[string]ast.Expr{}, funcs: map[string][]*ast.FuncDecl{}}
	filters := map[string]bool{}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			return nil, err
		}
		pkg.add(f)
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if v, err := strconv.Unquote(lit.Value); err == nil && strings.HasPrefix(v, "\n  AND") {
					filters[v] = true
				}
			}
			return true
		})
	}
	var names []string
	for name := range pkg.consts {
		if strings.HasSuffix(name, "SQL") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var fl []string
	for f := range filters {
		fl = append(fl, f)
	}
	sort.Strings(fl)
	var out []Stmt
	for _, name := range names {
		q, err := (&evaluator{pkg: pkg}).eval(ast.NewIdent(name))
		if err != nil {
			out = append(out, Stmt{Name: "lights: " + name, Phase: "query", From: "lights", Error: err.Error()})
			continue
		}
		if !strings.HasPrefix(strings.TrimSpace(q), "SELECT") {
			continue
		}
		if !strings.Contains(q, "%[2]s") {
			out = append(out, bound("lights: "+name, "lights constant "+name, fmt.Sprintf(q, db), nil, nil))
			continue
		}
		out = append(out, bound("lights: "+name+" (no filter)", "lights constant "+name, fmt.Sprintf(q, db, ""), nil, nil))
		for _, f := range fl {
			text, args := renderFilter(f, db, since)
			what := strings.Join(strings.Fields(f), " ")
			out = append(out, bound("lights: "+name+" + "+what, "lights constant "+name, fmt.Sprintf(q, db, text), nil, args))
		}
	}
	return out, nil
}

var verbRE = regexp.MustCompile(`%%|%s\.|%s|%d`)

func renderFilter(f, db string, since time.Time) (string, []any) {
	nums := []int{4, 1}
	text := verbRE.ReplaceAllStringFunc(f, func(v string) string {
		switch v {
		case "%%":
			return "%"
		case "%s.":
			return db + "."
		case "%d":
			n := 0
			if len(nums) > 0 {
				n, nums = nums[0], nums[1:]
			}
			return strconv.Itoa(n)
		}
		return ""
	})
	var args []any
	for i := 0; i < len(text); i++ {
		switch {
		case text[i] != '?':
		case strings.HasSuffix(text[:i], "arrayJoin("):
			args = append(args, []string{"c1", "c3", "c4", "t2"})
		default:
			args = append(args, since)
		}
	}
	return text, args
}

// pkgInfo is what the evaluator may resolve names against: a package's
// constants and functions.
type pkgInfo struct {
	consts map[string]ast.Expr
	funcs  map[string][]*ast.FuncDecl
}

func (p *pkgInfo) add(f *ast.File) {
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.GenDecl:
			if d.Tok != token.CONST {
				continue
			}
			for _, sp := range d.Specs {
				vs := sp.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						p.consts[n.Name] = vs.Values[i]
					}
				}
			}
		case *ast.FuncDecl:
			p.funcs[d.Name.Name] = append(p.funcs[d.Name.Name], d)
		}
	}
}

// evaluator computes the string value of a Go expression that builds SQL.
type evaluator struct {
	pkg  *pkgInfo
	db   string
	fn   *ast.FuncDecl // enclosing function, for local variables
	seen int
}

func exprText(e ast.Expr) string {
	var b strings.Builder
	_ = printer.Fprint(&b, token.NewFileSet(), e)
	return b.String()
}

// isDatabase: the expressions effidx uses for the configured database.
func isDatabase(text string) bool {
	return text == "db" || strings.HasSuffix(text, ".Database()") || strings.HasSuffix(text, "cfg.Database")
}

func (ev *evaluator) eval(e ast.Expr) (string, error) {
	if ev.seen++; ev.seen > 1000 {
		return "", fmt.Errorf("expression too deep")
	}
	text := exprText(e)
	if ev.db != "" && isDatabase(text) {
		return ev.db, nil
	}
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			return strconv.Unquote(e.Value)
		}
	case *ast.ParenExpr:
		return ev.eval(e.X)
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			a, err := ev.eval(e.X)
			if err != nil {
				return "", err
			}
			b, err := ev.eval(e.Y)
			return a + b, err
		}
	case *ast.Ident:
		if c, ok := ev.pkg.consts[e.Name]; ok {
			return ev.eval(c)
		}
		if rhs := ev.local(e.Name); rhs != nil {
			return ev.eval(rhs)
		}
	case *ast.CallExpr:
		if text := exprText(e.Fun); text == "fmt.Sprintf" && len(e.Args) > 0 && !e.Ellipsis.IsValid() {
			f, err := ev.eval(e.Args[0])
			if err != nil {
				return "", err
			}
			args := make([]any, len(e.Args)-1)
			for i, a := range e.Args[1:] {
				if args[i], err = ev.eval(a); err != nil {
					return "", err
				}
			}
			return fmt.Sprintf(f, args...), nil
		}
		// A helper without arguments whose body is one return (such as
		// Manual.table).
		if sel, ok := e.Fun.(*ast.SelectorExpr); ok && len(e.Args) == 0 {
			if fs := ev.pkg.funcs[sel.Sel.Name]; len(fs) == 1 && fs[0].Body != nil && len(fs[0].Body.List) == 1 {
				if r, ok := fs[0].Body.List[0].(*ast.ReturnStmt); ok && len(r.Results) == 1 {
					sub := &evaluator{pkg: ev.pkg, db: ev.db, fn: fs[0], seen: ev.seen}
					return sub.eval(r.Results[0])
				}
			}
		}
	}
	return "", fmt.Errorf("cannot evaluate %s", text)
}

// local is the one value assigned to a local variable name, or nil.
func (ev *evaluator) local(name string) ast.Expr {
	if ev.fn == nil || ev.fn.Body == nil {
		return nil
	}
	var found []ast.Expr
	ranged := false
	ast.Inspect(ev.fn.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			if len(n.Lhs) != len(n.Rhs) {
				for _, l := range n.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name == name {
						ranged = true // from a multi-value call: unknown
					}
				}
				return true
			}
			for i, l := range n.Lhs {
				if id, ok := l.(*ast.Ident); ok && id.Name == name {
					found = append(found, n.Rhs[i])
				}
			}
		case *ast.RangeStmt:
			for _, x := range []ast.Expr{n.Key, n.Value} {
				if id, ok := x.(*ast.Ident); ok && id.Name == name {
					ranged = true
				}
			}
		}
		return true
	})
	if ranged || len(found) != 1 {
		return nil
	}
	return found[0]
}

var sqlMethods = map[string]bool{"Query": true, "QueryRow": true, "Exec": true, "Select": true}

// scanCalls finds the SQL calls of the module's non-test Go files.
func scanCalls(root, db string, positional map[string]any) ([]Stmt, []string, error) {
	type file struct {
		rel string
		f   *ast.File
	}
	pkgs := map[string]*pkgInfo{}
	var files []file
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || skipDirs[rel] || skipDirs[d.Name()]) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		dir := filepath.Dir(rel)
		if pkgs[dir] == nil {
			pkgs[dir] = &pkgInfo{consts: map[string]ast.Expr{}, funcs: map[string][]*ast.FuncDecl{}}
		}
		pkgs[dir].add(f)
		files = append(files, file{rel, f})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var stmts []Stmt
	var skipped []string
	for _, fl := range files {
		pkg := pkgs[filepath.Dir(fl.rel)]
		for _, d := range fl.f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) < 2 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				site := fmt.Sprintf("%s:%d", fl.rel, fset.Position(call.Pos()).Line)
				if sel.Sel.Name == "PrepareBatch" {
					skipped = append(skipped, site+": PrepareBatch (an INSERT column list; run.js inserts with column lists)")
					return true
				}
				if !sqlMethods[sel.Sel.Name] {
					return true
				}
				if benchFile.MatchString(fl.rel) {
					skipped = append(skipped, site+": benchmark, not the service (its SQL is generated at run time)")
					return true
				}
				name := fmt.Sprintf("%s (%s)", fn.Name.Name, site)
				s := Stmt{Name: name, Phase: "query", From: site}
				ev := &evaluator{pkg: pkg, db: db, fn: fn}
				q, err := ev.eval(call.Args[1])
				if why, ok := covered[fl.rel]; ok && err != nil {
					skipped = append(skipped, site+": "+why)
					return true
				}
				if err != nil {
					s.Error = fmt.Sprintf("%v: teach scripts/chdbcheck to render it", err)
					stmts = append(stmts, s)
					return true
				}
				var args []any
				for _, a := range call.Args[2:] {
					v, ok := positional[exprText(a)]
					if !ok {
						s.Error = fmt.Sprintf("no sample value for argument %s: add one to chdbcheck's positional map", exprText(a))
						break
					}
					args = append(args, v)
				}
				if s.Error == "" {
					if s.SQL, err = bindPositional(q, args); err != nil {
						s.Error = err.Error()
					}
				}
				if strings.Contains(q, "version()") {
					s.Expect = "the server version"
				}
				up := strings.ToUpper(strings.TrimSpace(q))
				if strings.HasPrefix(up, "DROP") || strings.HasPrefix(up, "TRUNCATE") {
					s.Phase = "last"
				}
				stmts = append(stmts, s)
				return true
			})
		}
	}
	sort.SliceStable(stmts, func(i, j int) bool { return stmts[i].Phase == "query" && stmts[j].Phase != "query" })
	return stmts, skipped, nil
}
