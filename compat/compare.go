package main

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// answer is what one engine said to one statement.
type answer struct {
	Out  string // TabSeparated
	Err  string // non-empty: the engine refused or failed
	Took time.Duration
}

// verdict is the comparison of both engines' answers to one statement.
type verdict struct {
	OK      bool
	Note    string // how it agreed, when that needs saying
	Problem string // why it failed
}

// Notes of agreements that are not plain equality: the report counts them.
const (
	noteZeroDate   = "same after normalising how the zero Date/DateTime prints"
	noteBothRefuse = "both refuse it, as when it was recorded"
	noteNotCompare = "answers not compared: the statement reads engine-specific values"
	noteUnordered  = "same after comparing the elements of groupArray results in any order"
)

// engineSpecific: statements whose answers are the engine's own (its
// version, its system tables, its data parts, its clock): their answers
// may differ.
var engineSpecific = regexp.MustCompile(`(?i)\bversion\s*\(\s*\)|\bsystem\.|\b_part\b|\bnow\s*\(|\btoday\s*\(|\byesterday\s*\(|\brand\w*\s*\(|\buptime\s*\(|\bhostName\s*\(`)

// judge compares the answers of the old engine (18.16) and the current
// one to statement sql; recordedErr is the error the statement had when
// it was recorded. epoch is how the current engine prints the zero
// DateTime in the session's zone (1970-01-01 08:00:00 in Asia/Shanghai).
func judge(sql, recordedErr string, old, cur answer, epoch string) verdict {
	switch {
	case old.Err != "" && cur.Err != "" && recordedErr != "":
		return verdict{OK: true, Note: noteBothRefuse}
	case old.Err != "" && cur.Err != "":
		return verdict{Problem: "both engines refuse it"}
	case old.Err != "":
		return verdict{Problem: "ClickHouse 18.16 refuses it"}
	case cur.Err != "":
		return verdict{Problem: "current ClickHouse refuses it"}
	}
	ordered := ordersRows(sql)
	same, why := sameRows(old.Out, cur.Out, rowRules{ordered: ordered})
	switch {
	case same:
		return verdict{OK: true}
	case engineSpecific.MatchString(sql):
		return verdict{OK: true, Note: noteNotCompare}
	}
	// groupArray's order is unspecified (it follows parts and threads),
	// on any version: the code sorts what it reads (lights.pair). Where the
	// query has one, arrays and lists compare as multisets.
	unordered := unorderedAggregate.MatchString(sql)
	if unordered {
		if same, _ := sameRows(old.Out, cur.Out, rowRules{ordered: ordered, multisets: true}); same {
			return verdict{OK: true, Note: noteUnordered}
		}
	}
	// 18.16 prints the zero Date and DateTime as zeros, current releases as
	// the epoch: the same value, which clickhouse-go reads as the same
	// time.Time. Display only, unless the query itself makes text of it.
	normalised, n := normaliseZeroDates(old.Out, epoch)
	if n == 0 {
		return verdict{Problem: why}
	}
	if same, why = sameRows(normalised, cur.Out, rowRules{ordered: ordered, multisets: unordered}); !same {
		return verdict{Problem: why}
	}
	if textOfDates.MatchString(sql) {
		return verdict{Problem: "the zero Date/DateTime prints differently and the query turns dates into text (toString or formatDateTime): Go would read different strings"}
	}
	return verdict{OK: true, Note: noteZeroDate}
}

var unorderedAggregate = regexp.MustCompile(`(?i)\bgroup(Uniq)?Array`)

// rowRules say how two answers compare.
type rowRules struct {
	ordered   bool // the query orders its rows
	multisets bool // arrays and comma-separated lists in any order
}

var textOfDates = regexp.MustCompile(`(?i)\b(toString|formatDateTime)\s*\(`)

// normaliseZeroDates rewrites 18.16's zero Date and DateTime the way
// current releases print them, and says how many it rewrote.
func normaliseZeroDates(out, epoch string) (string, int) {
	n := strings.Count(out, "0000-00-00")
	if n == 0 {
		return out, 0
	}
	day, _, _ := strings.Cut(epoch, " ")
	out = strings.ReplaceAll(out, "0000-00-00 00:00:00", epoch)
	return strings.ReplaceAll(out, "0000-00-00", day), n
}

// ordersRows reports whether the statement's outermost query has an
// ORDER BY: then the rows' order is part of the answer.
func ordersRows(sql string) bool {
	depth := 0
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(sql, i)
		case c == '-' && strings.HasPrefix(sql[i:], "--"), c == '#':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			if end := strings.Index(sql[i+2:], "*/"); end >= 0 {
				i += end + 3
			} else {
				i = len(sql)
			}
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0 && (c == 'O' || c == 'o') && wordAt(sql, i, "ORDER"):
			rest := strings.TrimLeft(sql[i+5:], " \t\r\n")
			if len(rest) >= 2 && strings.EqualFold(rest[:2], "BY") && (len(rest) == 2 || !isWordByte(rest[2])) {
				return true
			}
		}
	}
	return false
}

func skipQuoted(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			return j
		}
	}
	return len(s)
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func wordAt(s string, i int, w string) bool {
	return len(s) >= i+len(w) && strings.EqualFold(s[i:i+len(w)], w) &&
		(i == 0 || !isWordByte(s[i-1])) && (len(s) == i+len(w) || !isWordByte(s[i+len(w)]))
}

// sameRows compares two TabSeparated answers: floats within a relative
// 1e-9 (sums may add in another order), rows in any order unless ordered.
func sameRows(a, b string, rules rowRules) (bool, string) {
	ra, rb := lines(a), lines(b)
	if !rules.ordered {
		sortRows(ra)
		sortRows(rb)
	}
	if len(ra) != len(rb) {
		return false, fmt.Sprintf("%d rows on 18.16, %d on the current engine", len(ra), len(rb))
	}
	for i := range ra {
		if !sameLine(ra[i], rb[i], rules.multisets) {
			if rules.ordered {
				if same, _ := sameRows(a, b, rowRules{multisets: rules.multisets}); same {
					return false, "the same rows in another order, and the query orders them"
				}
			}
			return false, fmt.Sprintf("row %d differs:\n    18.16:   %s\n    current: %s", i+1, clip(ra[i], 300), clip(rb[i], 300))
		}
	}
	return true, ""
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// sortRows orders rows by a key with floats rounded, so that rows that
// differ only in a float's last digits pair up.
func sortRows(rows []string) {
	keys := make(map[string]string, len(rows))
	for _, r := range rows {
		fs := strings.Split(r, "\t")
		for i, f := range fs {
			if v, ok := floatField(f); ok {
				fs[i] = strconv.FormatFloat(v, 'g', 8, 64)
			}
		}
		keys[r] = strings.Join(fs, "\t")
	}
	slices.SortStableFunc(rows, func(x, y string) int { return strings.Compare(keys[x], keys[y]) })
}

func sameLine(a, b string, multisets bool) bool {
	if a == b {
		return true
	}
	fa, fb := strings.Split(a, "\t"), strings.Split(b, "\t")
	if len(fa) != len(fb) {
		return false
	}
	for i := range fa {
		if !sameField(fa[i], fb[i]) && !(multisets && sameMultiset(fa[i], fb[i])) {
			return false
		}
	}
	return true
}

// sameMultiset: the same elements of an array or comma-separated list.
func sameMultiset(a, b string) bool {
	elems := func(s string) []string {
		if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
			s = s[1 : len(s)-1]
		}
		es := strings.Split(s, ",")
		sortRows(es)
		return es
	}
	ea, eb := elems(a), elems(b)
	return len(ea) == len(eb) && slices.EqualFunc(ea, eb, sameField)
}

func sameField(a, b string) bool {
	if a == b {
		return true
	}
	if x, ok := floatField(a); ok {
		if y, ok := floatField(b); ok {
			return closeFloats(x, y)
		}
	}
	// Arrays and tuples of numbers, element by element.
	for _, br := range []string{"[]", "()"} {
		if len(a) >= 2 && len(b) >= 2 && a[0] == br[0] && b[0] == br[0] && a[len(a)-1] == br[1] && b[len(b)-1] == br[1] {
			ea, eb := strings.Split(a[1:len(a)-1], ","), strings.Split(b[1:len(b)-1], ",")
			return len(ea) == len(eb) && slices.EqualFunc(ea, eb, sameField)
		}
	}
	return false
}

// floatField parses a field that prints a float (a fraction, an exponent,
// nan or inf). Integers are compared as text: exactly.
func floatField(s string) (float64, bool) {
	if !strings.ContainsAny(s, ".eEnNiI") {
		return 0, false
	}
	if t := strings.TrimPrefix(s, "-"); t == "nan" { // 18.16 prints some NaNs as -nan
		return math.NaN(), true
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

func closeFloats(x, y float64) bool {
	switch {
	case math.IsNaN(x) || math.IsNaN(y):
		return math.IsNaN(x) && math.IsNaN(y)
	case math.IsInf(x, 0) || math.IsInf(y, 0):
		return x == y
	}
	d := math.Abs(x - y)
	return d <= 1e-12 || d <= 1e-9*math.Max(math.Abs(x), math.Abs(y))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
