package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"effidx/warehouse"
)

// statement is one recorded statement to replay.
type statement struct {
	warehouse.Recorded
	Index   int // in replay order, from 1
	Process int // which recording file (test process) it came from
}

// recording is what a test run recorded.
type recording struct {
	Statements []statement
	Timezone   string // of the server the tests ran on
	Server     string // its version
	Files      int
	Skipped    map[string]int // statements not replayed, by reason
}

// loadRecording reads every recording file of dir. Each file is one test
// process and its databases are its own, so files are replayed one after
// another, each in the order it was recorded. Only the open entries say
// which server the statements went to; databases of a warehouse in
// cluster mode are left out (chDB has no cluster).
func loadRecording(dir string) (*recording, error) {
	files, err := filepath.Glob(filepath.Join(dir, "sql-*.jsonl"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no recording (sql-*.jsonl) in %s: did the tests open a warehouse?", dir)
	}
	sort.Strings(files)
	rec := &recording{Files: len(files), Skipped: map[string]int{}}
	for i, file := range files {
		if err := rec.read(file, i); err != nil {
			return nil, err
		}
	}
	if rec.Timezone == "" {
		return nil, fmt.Errorf("the recording in %s names no server time zone", dir)
	}
	return rec, nil
}

func (rec *recording) read(file string, process int) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	cluster := map[string]bool{}
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err == io.EOF && len(line) == 0 {
			return nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("%s: %w", file, err)
		}
		var s statement
		if err := json.Unmarshal(line, &s.Recorded); err != nil {
			// A test binary killed mid-write leaves a torn last line.
			return fmt.Errorf("%s line %d: %w", file, n, err)
		}
		if s.Op == "open" {
			if rec.Timezone != "" && rec.Timezone != s.Timezone {
				return fmt.Errorf("%s line %d: a server in time zone %s, another in %s: one chDB session cannot replay both", file, n, rec.Timezone, s.Timezone)
			}
			rec.Timezone, rec.Server = s.Timezone, s.Server
			cluster[s.Database] = cluster[s.Database] || s.Cluster != ""
			continue
		}
		if cluster[s.Database] {
			rec.Skipped["of a warehouse in cluster mode (chDB has no cluster)"]++
			continue
		}
		s.Index, s.Process = len(rec.Statements)+1, process
		rec.Statements = append(rec.Statements, s)
	}
}

// kind of a statement for the report.
func (s *statement) kind() string {
	switch {
	case s.Op == "insert":
		return "insert"
	case isRead(s.SQL):
		return "query"
	}
	return "ddl"
}

// isRead: statements that change nothing, whose answer only depends on
// what was written before.
func isRead(sql string) bool {
	w := firstWord(sql)
	for _, r := range []string{"SELECT", "WITH", "SHOW", "DESC", "DESCRIBE", "EXISTS", "EXPLAIN"} {
		if strings.EqualFold(w, r) {
			return true
		}
	}
	return false
}

func firstWord(sql string) string {
	for {
		sql = strings.TrimLeft(sql, " \t\r\n(")
		switch {
		case strings.HasPrefix(sql, "--"):
			_, sql, _ = strings.Cut(sql, "\n")
			continue
		case strings.HasPrefix(sql, "/*"):
			_, sql, _ = strings.Cut(sql, "*/")
			continue
		}
		end := strings.IndexFunc(sql, func(r rune) bool { return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
		if end < 0 {
			return sql
		}
		return sql[:end]
	}
}

// result of one replayed statement.
type result struct {
	statement
	Old, Cur answer
	verdict
}

// summary of a replay.
type summary struct {
	Run, Repeats, Failed int
	ByKind               map[string]int
	InsertedRows         int
	Notes                map[string][]string // note: origins
	Took                 [2]time.Duration    // per engine
	TookByKind           map[string]*[2]time.Duration
	Slowest              []result        // the slowest statements (by the slower engine)
	Exercised            map[string]bool // file:line of every statement's origin
}

// replayer runs statements on the old engine (18.16) and the current one
// and reports each failure as it comes.
type replayer struct {
	old, cur engine
	epoch    string // the zero DateTime as the current engine prints it
	out      io.Writer
	verbose  bool
}

func newReplayer(old, cur engine, tz string, out io.Writer) (*replayer, error) {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, err
	}
	return &replayer{old: old, cur: cur, epoch: time.Unix(0, 0).In(loc).Format(time.DateTime), out: out}, nil
}

func (r *replayer) replay(stmts []statement) (summary, error) {
	sum := newSummary()
	// The current engine's ReplacingMergeTree collapses the duplicates of
	// one insert as it writes them (optimize_on_insert, since 20.x); 18.16
	// keeps them until a merge. Either is a state production passes
	// through, and queries must not depend on it; for equal answers both
	// engines keep what they were given.
	if a := r.cur.Run("SET optimize_on_insert = 0"); a.Err != "" {
		return sum, fmt.Errorf("%s: SET optimize_on_insert = 0: %s", r.cur.Name(), a.Err)
	}
	// A read repeated with nothing written in between to the tables it
	// names must answer the same again: run once (the index job and the
	// API read the same period many times).
	written := map[string]int{} // database or database.table: writes so far
	seen := map[string]bool{}
	fresh := map[string]bool{}
	for _, s := range stmts {
		sum.Exercised[s.From] = true
		if !fresh[s.Database] {
			// Start each database empty on both engines (a test that
			// failed to drop its database would leave rows on the server).
			fresh[s.Database] = true
			for _, q := range []string{"DROP DATABASE IF EXISTS " + s.Database, "CREATE DATABASE " + s.Database} {
				if err := r.setup(q); err != nil {
					return sum, err
				}
			}
		}
		tables := tablesOf(s.SQL, s.Database)
		if s.Op != "insert" && isRead(s.SQL) {
			key := fmt.Sprintf("%s\x00%d", s.SQL, written[s.Database])
			for _, t := range tables {
				key += fmt.Sprintf("\x00%d", written[t])
			}
			if seen[key] {
				sum.Repeats++
				continue
			}
			seen[key] = true
		} else if len(tables) == 0 {
			written[s.Database]++
		} else {
			for _, t := range tables {
				written[t]++
			}
		}
		// OPTIMIZE (and a mutation) is a merge: let it run on the
		// tables it names; OPTIMIZE ... FINAL leaves one part on both.
		merges := needsMerges(s.SQL)
		if merges {
			for _, t := range tables {
				r.bestEffort("SYSTEM START MERGES " + t)
			}
		}
		res := r.run(s)
		if merges {
			for _, t := range tables {
				r.bestEffort("SYSTEM STOP MERGES " + t)
			}
		}
		if m := createTable.FindStringSubmatch(s.SQL); m != nil && res.Old.Err == "" && res.Cur.Err == "" {
			// Both engines keep every insert as its own part: a
			// ReplacingMergeTree collapses duplicates when it merges, at
			// a time of its own, and a query without FINAL sees the
			// difference (a resent event counted twice, or once).
			if err := r.setup("SYSTEM STOP MERGES " + m[1]); err != nil {
				return sum, err
			}
		}
		sum.Run++
		sum.ByKind[s.kind()]++
		if s.Op == "insert" {
			sum.InsertedRows += s.Rows
		}
		sum.Took[0] += res.Old.Took
		sum.Took[1] += res.Cur.Took
		if sum.TookByKind[s.kind()] == nil {
			sum.TookByKind[s.kind()] = new([2]time.Duration)
		}
		sum.TookByKind[s.kind()][0] += res.Old.Took
		sum.TookByKind[s.kind()][1] += res.Cur.Took
		sum.keepSlowest(res)
		if res.Note != "" {
			sum.Notes[res.Note] = append(sum.Notes[res.Note], fmt.Sprintf("#%d %s", s.Index, s.From))
		}
		if !res.OK {
			sum.Failed++
			r.printFailure(res)
		} else if r.verbose {
			fmt.Fprintf(r.out, "ok   #%d %s %s (18.16 %s, chDB %s) %s\n", s.Index, s.kind(), s.From,
				res.Old.Took.Round(time.Millisecond), res.Cur.Took.Round(time.Millisecond), res.Note)
		}
	}
	return sum, nil
}

// tablesOf lists the tables of database db that sql names (db.table).
func tablesOf(sql, db string) []string {
	var out []string
	for i := 0; ; {
		j := strings.Index(sql[i:], db+".")
		if j < 0 {
			break
		}
		start := i + j
		end := start + len(db) + 1
		for end < len(sql) && isWordByte(sql[end]) {
			end++
		}
		if (start == 0 || !isWordByte(sql[start-1])) && end > start+len(db)+1 {
			if t := sql[start:end]; !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
		i = end
	}
	return out
}

// needsMerges: statements ClickHouse carries out by merging parts.
func needsMerges(sql string) bool {
	w := firstWord(sql)
	return strings.EqualFold(w, "OPTIMIZE") || strings.EqualFold(w, "ALTER")
}

var createTable = regexp.MustCompile(`(?im)^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z0-9_.]+)`)

func newSummary() summary {
	return summary{ByKind: map[string]int{}, Notes: map[string][]string{}, Exercised: map[string]bool{}, TookByKind: map[string]*[2]time.Duration{}}
}

func (s *summary) add(o summary) {
	s.Run, s.Repeats, s.Failed, s.InsertedRows = s.Run+o.Run, s.Repeats+o.Repeats, s.Failed+o.Failed, s.InsertedRows+o.InsertedRows
	for k, n := range o.ByKind {
		s.ByKind[k] += n
	}
	for k, v := range o.Notes {
		s.Notes[k] = append(s.Notes[k], v...)
	}
	for i := range s.Took {
		s.Took[i] += o.Took[i]
	}
	for k, t := range o.TookByKind {
		if s.TookByKind[k] == nil {
			s.TookByKind[k] = new([2]time.Duration)
		}
		s.TookByKind[k][0] += t[0]
		s.TookByKind[k][1] += t[1]
	}
	for _, r := range o.Slowest {
		s.keepSlowest(r)
	}
	for k := range o.Exercised {
		s.Exercised[k] = true
	}
}

// replayInParallel replays the test processes' statements in workers
// groups at once, each group on its own current engine (chDB runs one
// statement at a time) and all on the one server. A process's databases
// are its own, so groups do not meet; a process stays in one group, in
// its order.
func replayInParallel(stmts []statement, workers int, old engine, newCur func() (engine, error), tz string, out io.Writer, verbose bool) (summary, error) {
	byProcess := map[int][]statement{}
	for _, s := range stmts {
		byProcess[s.Process] = append(byProcess[s.Process], s)
	}
	procs := make([][]statement, 0, len(byProcess))
	for _, p := range byProcess {
		procs = append(procs, p)
	}
	// Largest first, each to the least loaded group.
	sort.Slice(procs, func(i, j int) bool {
		return len(procs[i]) > len(procs[j]) || len(procs[i]) == len(procs[j]) && procs[i][0].Index < procs[j][0].Index
	})
	workers = max(1, min(workers, len(procs)))
	groups := make([][]statement, workers)
	for _, p := range procs {
		least := 0
		for g := range groups {
			if len(groups[g]) < len(groups[least]) {
				least = g
			}
		}
		groups[least] = append(groups[least], p...)
	}
	lw := &lockedWriter{w: out}
	sums := make([]summary, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cur, err := newCur()
			if err != nil {
				errs[g] = err
				return
			}
			defer cur.Close()
			r, err := newReplayer(old, cur, tz, lw)
			if err != nil {
				errs[g] = err
				return
			}
			r.verbose = verbose
			sums[g], errs[g] = r.replay(groups[g])
		}()
	}
	wg.Wait()
	total := newSummary()
	for g := range sums {
		if errs[g] != nil {
			return total, errs[g]
		}
		total.add(sums[g])
	}
	return total, nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (s *summary) keepSlowest(res result) {
	slower := func(r result) time.Duration { return max(r.Old.Took, r.Cur.Took) }
	res.Old.Out, res.Cur.Out = "", "" // keep no answers
	res.SQL = clip(res.SQL, 200)
	s.Slowest = append(s.Slowest, res)
	sort.Slice(s.Slowest, func(i, j int) bool { return slower(s.Slowest[i]) > slower(s.Slowest[j]) })
	if len(s.Slowest) > 5 {
		s.Slowest = s.Slowest[:5]
	}
}

// bestEffort runs q on both engines whatever they answer (a table the
// statement names may not exist: the statement then fails, reported).
func (r *replayer) bestEffort(q string) {
	r.old.Run(q)
	r.cur.Run(q)
}

func (r *replayer) setup(q string) error {
	for _, e := range []engine{r.old, r.cur} {
		if a := e.Run(q); a.Err != "" {
			return fmt.Errorf("%s on %s: %s", q, e.Name(), a.Err)
		}
	}
	return nil
}

// run sends s to both engines at once (they are separate processes).
func (r *replayer) run(s statement) result {
	res := result{statement: s}
	if s.Unbound != "" {
		res.Problem = "not replayable as recorded: " + s.Unbound
		return res
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); res.Old = r.old.Run(s.SQL) }()
	res.Cur = r.cur.Run(s.SQL)
	wg.Wait()
	res.verdict = judge(s.SQL, s.Err, res.Old, res.Cur, r.epoch)
	return res
}

func (r *replayer) printFailure(res result) {
	var w strings.Builder
	fmt.Fprintf(&w, "\n--- FAIL #%d: %s from %s (database %s)\n", res.Index, res.kind(), orUnknown(res.From), res.Database)
	if res.Err != "" {
		fmt.Fprintf(&w, "when recorded it failed: %s\n", clip(res.Err, 500))
	}
	fmt.Fprintf(&w, "statement:\n%s\n", indent(shownSQL(res.statement)))
	for _, e := range []struct {
		name string
		a    answer
	}{{r.old.Name(), res.Old}, {r.cur.Name(), res.Cur}} {
		fmt.Fprintf(&w, "%s answered:\n%s\n", e.name, indent(shownAnswer(e.a)))
	}
	fmt.Fprintf(&w, "why it fails: %s\n", res.Problem)
	io.WriteString(r.out, w.String()) // one write: workers share out
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown place"
	}
	return s
}

// shownSQL is the statement as run; an insert with its first rows only.
func shownSQL(s statement) string {
	if s.Op != "insert" {
		return strings.TrimSpace(s.SQL)
	}
	head, rows, ok := strings.Cut(s.SQL, " VALUES\n")
	if !ok {
		return clip(s.SQL, 2000)
	}
	rs := strings.SplitN(rows, "\n", 4)
	if len(rs) == 4 {
		rs[3] = fmt.Sprintf("... (%d rows)", s.Rows)
	}
	return head + " VALUES\n" + strings.Join(rs, "\n")
}

const maxAnswerLines = 20

func shownAnswer(a answer) string {
	if a.Err != "" {
		return "error: " + clip(a.Err, 2000)
	}
	ls := lines(a.Out)
	if len(ls) == 0 {
		return "(no rows)"
	}
	extra := ""
	if len(ls) > maxAnswerLines {
		extra = fmt.Sprintf("\n... (%d rows in all)", len(ls))
		ls = ls[:maxAnswerLines]
	}
	for i, l := range ls {
		ls[i] = clip(l, 400)
	}
	return strings.Join(ls, "\n") + extra
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }
