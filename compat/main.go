// Command compat checks that every SQL statement effidx sends gets the same
// answer from ClickHouse 18.16 (Debian's clickhouse-server, what the tests
// and CI run) and from current ClickHouse (26.7, in-process through npm's
// chdb; what production runs). SPEC 9.
//
// It runs the tests of every package that tests against ClickHouse
// (chtest) with warehouse.RecordEnv set, so that each statement is
// recorded as sent, parameters bound and inserts with their rows; then it
// replays the recording on that 18.16 server and in a chDB session,
// statement by statement, and compares the answers. It fails when a
// statement errors on either engine, when answers differ (floats within a
// relative 1e-9; rows in any order unless the query orders them), or when
// a place in the service's code that sends SQL sent none during the tests.
//
//	go run ./compat                    # make compat
//	go run ./compat -recording DIR     # replay a recording kept with -keep
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"effidx/warehouse"
)

// notRecorded: packages testing against ClickHouse whose tests are not
// replayed, and why. Every other such package is, so a new one is too.
var notRecorded = map[string]string{
	"effidx/cmd/effidx":       "end-to-end tests of the binary (child processes, clusters, kill -9); its SQL is the packages' SQL",
	"effidx/warehouse":        "server lifecycle and cluster tests; its statements are recorded through every other package's tests",
	"effidx/warehouse/chtest": "the test harness",
}

// testAddrEnv is chtest.AddrEnv (a test package, not imported here): the
// recorded tests share the check's server.
const testAddrEnv = "EFFIDX_TEST_CLICKHOUSE_ADDR"

type options struct {
	skip      string
	workers   int
	recording string
	keep      bool
	verbose   bool
}

func main() {
	var o options
	flag.StringVar(&o.recording, "recording", "", "replay this recording directory instead of running the tests")
	flag.BoolVar(&o.keep, "keep", false, "keep the recording (its directory is printed)")
	flag.BoolVar(&o.verbose, "v", false, "print every statement replayed, not only failures")
	flag.IntVar(&o.workers, "j", 2, "test processes replayed at once, each in its own chDB")
	flag.StringVar(&o.skip, "skip", "", "go test -skip for the recorded tests (what they do not send is then unchecked)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "compat:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	start := time.Now()
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	compatDir := filepath.Join(root, "compat")
	// First: without chDB nothing can be compared, and the tests' run
	// would be wasted.
	modules, err := ensureChDB(ctx, compatDir, out)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "effidx-compat-")
	if err != nil {
		return err
	}
	defer func() {
		if o.keep {
			fmt.Fprintf(out, "compat: kept %s\n", tmp)
			return
		}
		os.RemoveAll(tmp)
	}()
	srv, err := warehouse.StartServer(ctx, warehouse.ServerConfig{
		Dir:    filepath.Join(tmp, "clickhouse"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if errors.Is(err, warehouse.ErrBinaryNotFound) {
		return errors.New("clickhouse-server (18.16) not found: make deps installs it")
	}
	if err != nil {
		return fmt.Errorf("start clickhouse-server: %w", err)
	}
	defer srv.Stop()

	// The places that send SQL, read when the tests are compiled (others
	// may be editing the tree meanwhile; recorded lines must match).
	sites, err := sqlCallSites(root)
	if err != nil {
		return fmt.Errorf("find the code that sends SQL: %w", err)
	}
	dir := o.recording
	if dir == "" {
		dir = filepath.Join(tmp, "recording")
		pkgs, err := recordedPackages(ctx, root)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "compat: recording every statement of go test %s (against ClickHouse %s)\n", strings.Join(pkgs, " "), srv.Version())
		if err := recordTests(ctx, root, pkgs, o.skip, dir, srv.Addr(), out); err != nil {
			return err
		}
	}
	rec, err := loadRecording(dir)
	if err != nil {
		return err
	}
	old, err := newServerEngine(srv.HTTPAddr())
	if err != nil {
		return err
	}
	defer old.Close()
	var curName struct {
		sync.Mutex
		s string
	}
	newCur := func() (engine, error) {
		e, err := startChDB(compatDir, modules, rec.Timezone)
		if err == nil {
			curName.Lock()
			curName.s = e.Name()
			curName.Unlock()
		}
		return e, err
	}
	fmt.Fprintf(out, "compat: replaying %d recorded statements (%d test processes, %d at once) on %s and in chDB\n",
		len(rec.Statements), rec.Files, o.workers, old.Name())
	for why, n := range rec.Skipped {
		fmt.Fprintf(out, "compat: %d statements not replayed: %s\n", n, why)
	}
	sum, err := replayInParallel(rec.Statements, o.workers, old, newCur, rec.Timezone, out, o.verbose)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "compat: current engine: %s\n", curName.s)
	missed := unexercised(sites, sum.Exercised)
	report(out, sum, len(sites), missed, time.Since(start))
	switch {
	case sum.Failed > 0 && len(missed) > 0:
		return fmt.Errorf("%d statements failed, and %d places that send SQL were not exercised", sum.Failed, len(missed))
	case sum.Failed > 0:
		return fmt.Errorf("%d statements failed", sum.Failed)
	case len(missed) > 0:
		return fmt.Errorf("%d places that send SQL were not exercised by any test", len(missed))
	}
	return nil
}

func report(w io.Writer, sum summary, sites int, missed []callSite, took time.Duration) {
	fmt.Fprintf(w, "\ncompat: %d statements replayed: %d DDL and other writes, %d inserts (%d rows), %d queries; %d repeated reads skipped (nothing written in between)\n",
		sum.Run, sum.ByKind["ddl"], sum.ByKind["insert"], sum.InsertedRows, sum.ByKind["query"], sum.Repeats)
	fmt.Fprintf(w, "compat: time in 18.16 %s, in chDB %s; whole check %s\n",
		sum.Took[0].Round(time.Millisecond), sum.Took[1].Round(time.Millisecond), took.Round(time.Second))
	for _, k := range []string{"ddl", "insert", "query"} {
		if t := sum.TookByKind[k]; t != nil {
			fmt.Fprintf(w, "compat:   %s: 18.16 %s, chDB %s\n", k, t[0].Round(time.Millisecond), t[1].Round(time.Millisecond))
		}
	}
	for _, r := range sum.Slowest {
		fmt.Fprintf(w, "compat:   slow: #%d %s from %s: 18.16 %s, chDB %s\n", r.Index, r.kind(), r.From, r.Old.Took.Round(time.Millisecond), r.Cur.Took.Round(time.Millisecond))
	}
	notes := make([]string, 0, len(sum.Notes))
	for n := range sum.Notes {
		notes = append(notes, n)
	}
	sort.Strings(notes)
	for _, n := range notes {
		fmt.Fprintf(w, "compat: %d agree, %s: %s\n", len(sum.Notes[n]), n, clip(strings.Join(sum.Notes[n], ", "), 600))
	}
	fmt.Fprintf(w, "compat: %d of %d places in the service's code that send SQL were exercised\n", sites-len(missed), sites)
	for _, m := range missed {
		fmt.Fprintf(w, "--- NOT EXERCISED %s: no test of a recorded package sent SQL from here; test it (in its package, against chtest)\n", m)
	}
	if sum.Failed == 0 && len(missed) == 0 {
		fmt.Fprintf(w, "compat: ok, both engines agree on every statement\n")
	} else {
		fmt.Fprintf(w, "compat: FAIL, %d statements failed\n", sum.Failed)
	}
}

// recordedPackages lists the packages whose tests use a real ClickHouse
// (they import chtest), less notRecorded.
func recordedPackages(ctx context.Context, root string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-f", `{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}`, "./...")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	var pkgs []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if _, skip := notRecorded[f[0]]; skip {
			continue
		}
		for _, imp := range f[1:] {
			if imp == "effidx/warehouse/chtest" {
				pkgs = append(pkgs, f[0])
				break
			}
		}
	}
	if len(pkgs) == 0 {
		return nil, errors.New("no package tests against ClickHouse (imports effidx/warehouse/chtest)")
	}
	return pkgs, nil
}

// recordTests runs the packages' tests against the server at addr with
// the recorder on. They must pass: a failed run's recording is partial.
func recordTests(ctx context.Context, root string, pkgs []string, skip, dir, addr string, out io.Writer) error {
	args := []string{"test", "-count=1", "-timeout", "15m"}
	if skip != "" {
		args = append(args, "-skip", skip)
	}
	args = append(args, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), warehouse.RecordEnv+"="+dir, testAddrEnv+"="+addr)
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the tests to record failed (%v): fix them first, a partial recording checks nothing", err)
	}
	fmt.Fprintf(out, "compat: tests recorded in %s\n", time.Since(start).Round(time.Second))
	return nil
}

func moduleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run compat inside the effidx module")
	}
	return filepath.Dir(mod), nil
}
