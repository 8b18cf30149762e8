package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// callSite is a place in the service's code that sends SQL: a call of a
// driver.Conn method that takes a context and a statement.
type callSite struct {
	File     string // relative to the module root
	Line     int    // of the call
	EndLine  int
	Function string // enclosing function, for exemptions and the report
}

func (c callSite) String() string {
	return c.File + ":" + strconv.Itoa(c.Line) + " (" + c.Function + ")"
}

// sqlMethods are the driver.Conn methods that send a statement.
var sqlMethods = map[string]bool{"Query": true, "QueryRow": true, "Select": true, "Exec": true, "PrepareBatch": true, "AsyncInsert": true}

// notService: directories whose SQL is not the service's. cmd holds the
// commands (benchmarks build their own tables; the service's SQL is in
// the packages they call), chtest the test harness, compat this check.
var notService = map[string]bool{"cmd": true, "compat": true, "scripts": true, "testdata": true, "node_modules": true, "warehouse/chtest": true}

// exempt: call sites a single-node replay cannot or need not exercise,
// by file and function, with why.
var exempt = map[string]string{
	"warehouse/warehouse.go Open":                    "cluster mode only (distributed_product_mode); chDB has no cluster",
	"warehouse/warehouse.go open":                    "SELECT version(), sent before the recorder is installed; engine-specific by nature",
	"warehouse/migrate.go (*Warehouse).ClusterHosts": "cluster mode only (system.clusters)",
	"warehouse/server.go waitServerReady":            "the embedded server's readiness poll (SELECT 1, SELECT version())",
}

// recorderFile is the recorder, whose calls forward the statements.
const recorderFile = "warehouse/record.go"

// sqlCallSites finds the call sites of the service's packages (every
// package of the module outside notService), from the source: a new
// query is found without being listed anywhere.
func sqlCallSites(root string) ([]callSite, error) {
	var out []callSite
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (notService[rel] || notService[name] || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") || rel == recorderFile {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			name := funcName(fn)
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || !sendsSQL(call) {
					return true
				}
				site := callSite{File: rel, Line: fset.Position(call.Pos()).Line, EndLine: fset.Position(call.End()).Line, Function: name}
				if _, ok := exempt[rel+" "+name]; !ok {
					out = append(out, site)
				}
				return true
			})
		}
		return nil
	})
	return out, err
}

// sendsSQL: x.Method(ctx, statement, ...) with a context first (which
// tells it from, say, r.URL.Query()).
func sendsSQL(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || !sqlMethods[sel.Sel.Name] || len(call.Args) < 2 {
		return false
	}
	switch a := call.Args[0].(type) {
	case *ast.Ident:
		return strings.Contains(strings.ToLower(a.Name), "ctx")
	case *ast.CallExpr:
		if s, ok := a.Fun.(*ast.SelectorExpr); ok {
			if x, ok := s.X.(*ast.Ident); ok && x.Name == "context" {
				return true
			}
		}
	}
	return false
}

func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	t := fn.Recv.List[0].Type
	star := ""
	if s, ok := t.(*ast.StarExpr); ok {
		star, t = "*", s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	if id, ok := t.(*ast.Ident); ok {
		if star != "" {
			return fmt.Sprintf("(*%s).%s", id.Name, fn.Name.Name)
		}
		return id.Name + "." + fn.Name.Name
	}
	return fn.Name.Name
}

// unexercised is the call sites no recorded statement came from. A
// recorded origin is the line of the call, which for a call spread over
// lines is any of them.
func unexercised(sites []callSite, exercised map[string]bool) []callSite {
	lines := map[string][]int{}
	for from := range exercised {
		i := strings.LastIndexByte(from, ':')
		if i < 0 {
			continue
		}
		n, err := strconv.Atoi(from[i+1:])
		if err == nil {
			lines[from[:i]] = append(lines[from[:i]], n)
		}
	}
	var out []callSite
	for _, s := range sites {
		hit := false
		for _, n := range lines[s.File] {
			hit = hit || n >= s.Line && n <= s.EndLine
		}
		if !hit {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
