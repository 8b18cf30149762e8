package indices

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"effidx/rules"
)

// badCatalogs lists every testdata/*.bad.yaml with exactly the problems it
// must produce, in order: a problem lost, added or moved to another line
// fails the test.
var badCatalogs = map[string][]string{
	"empty.bad.yaml":         {`empty.bad.yaml: empty file`},
	"syntax.bad.yaml":        {`syntax.bad.yaml:2: did not find expected '-' indicator`},
	"not_a_mapping.bad.yaml": {`not_a_mapping.bad.yaml:1: catalog: want a mapping, got a list`},
	"two_docs.bad.yaml": {
		`two_docs.bad.yaml:2: dimensions: the list is empty`,
		`two_docs.bad.yaml:3: a second YAML document: want exactly one`,
	},
	"shapes.bad.yaml": {
		`shapes.bad.yaml:1: version: want a non-empty text, got nothing`,
		`shapes.bad.yaml:3: dimension 1: want a mapping, got "just a string"`,
		`shapes.bad.yaml:9: C.groups: want a list, got a mapping`,
	},
	"unknown_keys.bad.yaml": {
		`unknown_keys.bad.yaml:2: catalog: unknown key "owner" (known: dimensions, version)`,
		`unknown_keys.bad.yaml:4: S: missing key "name_en"`,
		`unknown_keys.bad.yaml:6: S: unknown key "name" (known: groups, id, name_en, name_zh, weight)`,
		`unknown_keys.bad.yaml:13: S1: unknown key "colour" (known: id, indicators, name_en, name_zh, weight)`,
		`unknown_keys.bad.yaml:15: S1.1: missing key "floor"`,
		`unknown_keys.bad.yaml:20: S1.1: unknown key "flor" (known: direction, explain, floor, id, kind, manual, name_en, name_zh, query, target, unit, weight)`,
		`unknown_keys.bad.yaml:26: S1.1: unknown key "Explain" (known: direction, explain, floor, id, kind, manual, name_en, name_zh, query, target, unit, weight)`,
	},
	"ids.bad.yaml": {
		`ids.bad.yaml:14: indicator id "S2.1" is not under group S1 (want S1.1, S1.2, ...)`,
		`ids.bad.yaml:15: id "S1.1" given twice (first at line 13)`,
		`ids.bad.yaml:16: indicator id "S1-4": want the group's id, a dot and a number, e.g. S1.1`,
		`ids.bad.yaml:17: indicator 5 of S1: missing key "id"`,
		`ids.bad.yaml:18: dimension id "c": want capital letters, e.g. S`,
		`ids.bad.yaml:21: c: the weights of its groups add up to 50.5, want 50 (the weight of c)`,
		`ids.bad.yaml:28: C1.1: query a over service data is already S1.1's (line 13)`,
		`ids.bad.yaml:29: id "S" given twice (first at line 3)`,
		`ids.bad.yaml:29: group id "S": want the dimension's letter and a number, e.g. S1`,
		`ids.bad.yaml:33: S.indicators: the list is empty`,
	},
	"weights.bad.yaml": {
		`weights.bad.yaml:6: S: the weights of its groups add up to 39, want 40 (the weight of S)`,
		`weights.bad.yaml:11: S1: the weights of its indicators add up to 11, want 12 (the weight of S1)`,
		`weights.bad.yaml:32: C1.1.weight: want a number above 0, got 0`,
		`weights.bad.yaml:33: C1.2.weight: want a number above 0, got -30`,
		`weights.bad.yaml:37: E.weight: want a number, got "30"`,
	},
	"total.bad.yaml": {`total.bad.yaml:4: dimensions: the weights add up to 90, want 100`},
	"values.bad.yaml": {
		`values.bad.yaml:1: version: "2026.1 beta": want letters, digits, '.', '-' or '_' (e.g. "2026.1"); a content hash is added after '+'`,
		`values.bad.yaml:4: S.name_zh: want a non-empty text, got ""`,
		`values.bad.yaml:5: S.name_en: want a non-empty text, got a list`,
		`values.bad.yaml:13: S1.1.unit: "percent" is not one of ratio, working_days, hours, count, score`,
		`values.bad.yaml:13: S1.1.direction: "higher" is not one of up, down`,
		`values.bad.yaml:13: S1.1.kind: "hall" is not one of service, internal, scenario, ticket, task, step, event, manual`,
		`values.bad.yaml:14: S1.2: floor and target are both 0.9: the score needs them apart`,
		`values.bad.yaml:15: S1.3: direction up needs floor < target, got floor 1, target 0.9`,
		`values.bad.yaml:16: S1.4: direction down needs floor > target, got floor 1, target 5`,
		`values.bad.yaml:17: S1.5.floor: want a number, got "90%"`,
		`values.bad.yaml:17: S1.5.target: 1.5 is outside 0..1 (unit ratio)`,
		`values.bad.yaml:18: S1.6.target: -1 is below 0 (unit hours)`,
		`values.bad.yaml:19: S1.7.target: 120 is outside 0..100 (unit score)`,
		`values.bad.yaml:20: S1.8.floor: .nan is not a finite number`,
		`values.bad.yaml:20: S1.8.target: want a number, got "1"`,
		`values.bad.yaml:20: S1.8.weight: want a number, got "ten"`,
		`values.bad.yaml:31: S1.9.explain: want one line, got 2`,
		`values.bad.yaml:34: S1.10.manual: want true or false, got "yes"`,
	},
	"manual_query.bad.yaml": {
		`manual_query.bad.yaml:13: E4.1: a computed indicator needs a query (or manual: true if inspectors enter it)`,
		`manual_query.bad.yaml:14: E4.2: a manual indicator has no query (inspectors enter its values)`,
		`manual_query.bad.yaml:15: E4.3: kind manual needs manual: true`,
		`manual_query.bad.yaml:16: E4.4: manual: true needs kind manual, got kind ticket`,
		`manual_query.bad.yaml:17: E4.5.query: "On-Time": want a name of lower-case letters, digits and _, e.g. on_time_completion`,
		`manual_query.bad.yaml:19: E4.7: query resolved_rate over ticket data is already E4.6's (line 18)`,
	},
}

func TestCatalogFilesGoodParseBadFailWithLines(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatal("no testdata")
	}
	seenBad := 0
	for _, f := range files {
		base := filepath.Base(f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Parse(base, b)
		switch {
		case strings.HasSuffix(f, ".good.yaml"):
			if err != nil {
				t.Errorf("%s: %v", base, err)
			}
		case strings.HasSuffix(f, ".bad.yaml"):
			want, ok := badCatalogs[base]
			if !ok {
				t.Errorf("%s: no expected problems listed", base)
				continue
			}
			seenBad++
			var fe *rules.FileError
			if !errors.As(err, &fe) {
				t.Errorf("%s: error %v is not a *rules.FileError", base, err)
				continue
			}
			got := strings.Split(err.Error(), "\n")
			if len(got) != len(want) {
				t.Errorf("%s: %d problems, want %d:\n%s", base, len(got), len(want), err)
				continue
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("%s: problem %d\n got %s\nwant %s", base, i, got[i], want[i])
				}
			}
		default:
			t.Errorf("%s: name it *.good.yaml or *.bad.yaml", base)
		}
	}
	if seenBad != len(badCatalogs) {
		t.Errorf("%d bad files checked, %d listed", seenBad, len(badCatalogs))
	}
}

// specIndicator is one row of SPEC 5's table.
type specIndicator struct {
	id            string
	up            bool
	floor, target float64
	weight        float64
	manual        bool
}

// specTable is SPEC 5 typed in by hand: the oracle the embedded catalog is
// held to.
var specTable = []specIndicator{
	{"S1.1", true, 0.90, 1.00, 5, false},
	{"S1.2", true, 0.50, 0.90, 3, false},
	{"S1.3", true, 0.50, 0.90, 4, false},
	{"S2.1", true, 0.10, 0.50, 3, false},
	{"S2.2", true, 0.60, 0.95, 4, false},
	{"S2.3", true, 0.95, 1.00, 3, false},
	{"S3.1", true, 0.60, 1.00, 3, false},
	{"S3.2", true, 0.20, 0.60, 3, false},
	{"S3.3", true, 0.50, 0.90, 2, false},
	{"S4.1", true, 0.30, 0.80, 2, false},
	{"S4.2", false, 5, 1, 2, false},
	{"S5.1", true, 0.90, 1.00, 3, false},
	{"S5.2", true, 0.30, 0.80, 1, false},
	{"S5.3", true, 0.80, 1.00, 2, false},
	{"C1.1", true, 0.90, 1.00, 4, false},
	{"C1.2", true, 0.60, 0.95, 2, false},
	{"C1.3", false, 5, 1, 2, false},
	{"C2.1", true, 0.30, 0.80, 3, false},
	{"C2.2", true, 0.90, 1.00, 3, false},
	{"C2.3", false, 6, 2, 2, false},
	{"C3.1", true, 0.80, 1.00, 3, false},
	{"C3.2", true, 0.80, 1.00, 3, false},
	{"C4.1", true, 0.90, 1.00, 3, false},
	{"C4.2", true, 0.80, 1.00, 3, false},
	{"C4.3", false, 72, 4, 2, false},
	{"E1.1", true, 0.80, 1.00, 4, false},
	{"E1.2", true, 0.70, 1.00, 3, false},
	{"E1.3", false, 10, 0, 2, false},
	{"E2.1", true, 0.80, 1.00, 3, false},
	{"E2.2", true, 0.50, 1.00, 2, false},
	{"E3.1", true, 0.90, 1.00, 3, false},
	{"E3.2", true, 0.70, 0.95, 2, false},
	{"E3.3", true, 0.80, 0.98, 2, false},
	{"E4.1", true, 0.80, 1.00, 2, true},
	{"E4.2", true, 60, 100, 1, true},
	{"E4.3", true, 60, 100, 1, true},
	{"E4.4", true, 0.80, 1.00, 1, true},
	{"E5.1", true, 0.80, 0.99, 2, false},
	{"E5.2", true, 0.90, 1.00, 1, false},
	{"E5.3", true, 0.95, 1.00, 1, false},
}

var specGroups = map[string]float64{
	"S1": 12, "S2": 10, "S3": 8, "S4": 4, "S5": 6,
	"C1": 8, "C2": 8, "C3": 6, "C4": 8,
	"E1": 9, "E2": 5, "E3": 7, "E4": 5, "E5": 4,
}

var specDimensions = map[string]float64{"S": 40, "C": 30, "E": 30}

func TestEmbeddedCatalogIsSpec5(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Dimensions) != 3 || len(c.Groups()) != 14 || len(c.Indicators()) != 40 {
		t.Fatalf("%d dimensions, %d groups, %d indicators; want 3, 14, 40", len(c.Dimensions), len(c.Groups()), len(c.Indicators()))
	}
	for _, d := range c.Dimensions {
		if w, ok := specDimensions[d.ID]; !ok || d.Weight != w || d.NameZH == "" || d.NameEN == "" {
			t.Errorf("dimension %+v, SPEC weight %v", d, w)
		}
	}
	for _, g := range c.Groups() {
		if w, ok := specGroups[g.ID]; !ok || g.Weight != w || g.Dimension != g.ID[:1] {
			t.Errorf("group %s (dimension %s) weight %v, SPEC %v", g.ID, g.Dimension, g.Weight, w)
		}
	}
	manual := 0
	for i, want := range specTable {
		ind := c.Indicator(want.id)
		if ind == nil {
			t.Errorf("%s missing", want.id)
			continue
		}
		if c.Indicators()[i] != ind {
			t.Errorf("%s is not at position %d: the portrait lists them in SPEC order", want.id, i)
		}
		dir := Down
		if want.up {
			dir = Up
		}
		if ind.Direction != dir || ind.Floor != want.floor || ind.Target != want.target || ind.Weight != want.weight || ind.Manual != want.manual {
			t.Errorf("%s: %s %v -> %v weight %v manual %v; SPEC %s %v -> %v weight %v manual %v",
				want.id, ind.Direction, ind.Floor, ind.Target, ind.Weight, ind.Manual, dir, want.floor, want.target, want.weight, want.manual)
		}
		if ind.Group != want.id[:2] {
			t.Errorf("%s in group %s", want.id, ind.Group)
		}
		if ind.Manual {
			manual++
			if ind.Kind != KindManual || ind.Query != "" {
				t.Errorf("%s: manual with kind %s, query %q", ind.ID, ind.Kind, ind.Query)
			}
		} else if ind.Query == "" || ind.Kind == KindManual {
			t.Errorf("%s: computed with kind %s, query %q", ind.ID, ind.Kind, ind.Query)
		}
		if ind.NameZH == "" || ind.NameEN == "" || ind.Explain == "" || ind.Unit == "" {
			t.Errorf("%s: empty name, unit or explanation: %+v", ind.ID, ind)
		}
	}
	if computed := len(c.Indicators()) - manual; computed != 36 || manual != 4 {
		t.Errorf("%d computed and %d manual, want 36 and 4", computed, manual)
	}
	if c.Source != DefaultFile || c.Label != "2026.1" {
		t.Errorf("source %q, label %q", c.Source, c.Label)
	}
}

func TestVersionHashesValuesNotLayout(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^2026\.1\+[0-9a-f]{8}$`).MatchString(c.Version()) {
		t.Fatalf("version %q", c.Version())
	}
	parse := func(b []byte) *Catalog {
		t.Helper()
		c, err := Parse("edited.yaml", b)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if again := parse(append([]byte("# a new comment\n\n"), catalogYAML...)); again.Version() != c.Version() {
		t.Errorf("a comment changed the version: %s -> %s", c.Version(), again.Version())
	}
	// Moving one point from S1.1 to S1.3 keeps S1 at 12: a valid edit that
	// needs no rebuild, and a new version although the label stayed.
	edited := bytes.Replace(catalogYAML, []byte("            weight: 5\n            kind: service\n            query: on_time_completion"),
		[]byte("            weight: 4\n            kind: service\n            query: on_time_completion"), 1)
	edited = bytes.Replace(edited, []byte("            weight: 4\n            kind: service\n            query: actual_speedup"),
		[]byte("            weight: 5\n            kind: service\n            query: actual_speedup"), 1)
	if bytes.Equal(edited, catalogYAML) {
		t.Fatal("the edit did not apply")
	}
	e := parse(edited)
	if e.Version() == c.Version() || e.Label != c.Label || e.Indicator("S1.1").Weight != 4 || e.Indicator("S1.3").Weight != 5 {
		t.Errorf("edited: version %s (was %s), S1.1 weight %v", e.Version(), c.Version(), e.Indicator("S1.1").Weight)
	}
}

func TestLoad(t *testing.T) {
	d, err := Load("")
	if err != nil || d.Source != DefaultFile {
		t.Fatalf("Load(\"\"): %v, %v", d, err)
	}
	g, err := Load("testdata/minimal.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if g.Label != "2027-pilot" || len(g.Indicators()) != 4 || g.Indicator("X2.2").Weight != 0.5 || g.Indicator("X1.2").Direction != Down || g.Indicator("nope") != nil {
		t.Errorf("minimal: %+v", g.Indicators())
	}
	if _, err := Load("testdata/missing.yaml"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestScore(t *testing.T) {
	up := &Indicator{Direction: Up, Floor: 0.9, Target: 1}
	down := &Indicator{Direction: Down, Floor: 5, Target: 1}
	toZero := &Indicator{Direction: Down, Floor: 10, Target: 0}
	score := &Indicator{Direction: Up, Floor: 60, Target: 100}
	for _, tc := range []struct {
		name  string
		ind   *Indicator
		value float64
		want  float64
	}{
		{"up at floor", up, 0.9, 0},
		{"up below floor clamps to 0", up, 0.5, 0},
		{"up halfway", up, 0.95, 50},
		{"up at target", up, 1, 100},
		{"up above target clamps to 100", up, 1.2, 100},
		{"down at floor", down, 5, 0},
		{"down above floor clamps to 0", down, 9, 0},
		{"down a quarter", down, 4, 25},
		{"down at target", down, 1, 100},
		{"down below target clamps to 100", down, 0, 100},
		{"down to zero: 2.5 days late", toZero, 2.5, 75},
		{"inspector score 90", score, 90, 75},
		{"+Inf up", up, math.Inf(1), 100},
		{"+Inf down", down, math.Inf(1), 0},
	} {
		if got := tc.ind.Score(tc.value); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: Score(%v) = %v, want %v", tc.name, tc.value, got, tc.want)
		}
	}
	if got := up.Score(math.NaN()); !math.IsNaN(got) {
		t.Errorf("no data scored %v, want NaN (n/a, never 0)", got)
	}
}
