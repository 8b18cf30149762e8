package indices

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"

	"effidx/strictyaml"
)

// catalogYAML is the default catalog; --catalog FILE replaces it, so a
// changed weight or target needs no rebuild.
//
//go:embed catalog.yaml
var catalogYAML []byte

// DefaultFile is the name the embedded catalog is reported under.
const DefaultFile = "indices/catalog.yaml"

// Unit is what an indicator's value measures; it bounds floor and target.
type Unit string

const (
	Ratio       Unit = "ratio"        // 0..1
	WorkingDays Unit = "working_days" // >= 0
	Hours       Unit = "hours"        // natural hours, >= 0
	Count       Unit = "count"        // >= 0
	ScoreUnit   Unit = "score"        // 0..100, entered by inspectors
)

// Direction says whether a higher value is better.
type Direction string

const (
	Up   Direction = "up"   // higher is better: floor < target
	Down Direction = "down" // lower is better: floor > target
)

// Kind is the data an indicator is computed from: an event kind of SPEC 3,
// steps of cases, events of any kind, or manual entry.
type Kind string

const (
	KindService  Kind = "service"
	KindInternal Kind = "internal"
	KindScenario Kind = "scenario"
	KindTicket   Kind = "ticket"
	KindTask     Kind = "task"
	KindStep     Kind = "step"
	KindEvent    Kind = "event"
	KindManual   Kind = "manual"
)

var (
	units      = []string{string(Ratio), string(WorkingDays), string(Hours), string(Count), string(ScoreUnit)}
	directions = []string{string(Up), string(Down)}
	kinds      = []string{string(KindService), string(KindInternal), string(KindScenario), string(KindTicket),
		string(KindTask), string(KindStep), string(KindEvent), string(KindManual)}
)

// Catalog is the parsed, validated catalog. Treat it as read-only: Load,
// Parse and Default return a fresh one on every call.
type Catalog struct {
	Label      string // the version as written in the file, e.g. "2026.1"
	Source     string // the file it was read from
	Dimensions []*Dimension

	hash       string
	text       []byte // the file as read, stored with results (Store.RememberCatalog)
	groups     []*Group
	indicators []*Indicator
	byID       map[string]*Indicator
}

// Dimension is S, C or E: a weighted part of the index.
type Dimension struct {
	ID     string   `json:"id"`
	NameZH string   `json:"name_zh"`
	NameEN string   `json:"name_en"`
	Weight float64  `json:"weight"` // the dimensions' weights add up to 100
	Groups []*Group `json:"groups"`
}

// Group is a first-level indicator (S1 办理时效).
type Group struct {
	ID         string       `json:"id"`
	Dimension  string       `json:"dimension"`
	NameZH     string       `json:"name_zh"`
	NameEN     string       `json:"name_en"`
	Weight     float64      `json:"weight"` // the groups' weights add up to their dimension's
	Indicators []*Indicator `json:"indicators"`
}

// Indicator is a second-level indicator (S1.1 按时办结率), the level that
// is computed or entered and scored.
type Indicator struct {
	ID        string    `json:"id"`
	Group     string    `json:"group"`
	NameZH    string    `json:"name_zh"`
	NameEN    string    `json:"name_en"`
	Unit      Unit      `json:"unit"`
	Direction Direction `json:"direction"`
	Floor     float64   `json:"floor"`  // scores 0
	Target    float64   `json:"target"` // scores 100
	Weight    float64   `json:"weight"` // the indicators' weights add up to their group's
	Kind      Kind      `json:"kind"`
	Manual    bool      `json:"manual"` // entered by inspectors (E4.x), not computed
	Query     string    `json:"query"`  // names the computation; empty for manual ones
	Explain   string    `json:"explain"`
}

// Version is the version as written plus a short hash of the content, e.g.
// "2026.1+3f2a9c01": computed results record it, and an edited file whose
// version was not bumped still gets a different one. Comments and layout
// do not count, only the values.
func (c *Catalog) Version() string { return c.Label + "+" + c.hash }

// Text is the catalog file as it was read.
func (c *Catalog) Text() []byte { return c.text }

// Groups lists the first-level indicators in file order.
func (c *Catalog) Groups() []*Group { return c.groups }

// Indicators lists the second-level indicators in file order.
func (c *Catalog) Indicators() []*Indicator { return c.indicators }

// Indicator finds a second-level indicator by id (nil if there is none).
func (c *Catalog) Indicator(id string) *Indicator { return c.byID[id] }

// Score is the indicator's score for value (SPEC 5): 0 at the floor, 100 at
// the target, linear between and clamped outside; for direction down the
// floor is above the target, so the same line runs the other way. A NaN
// value (no data) gives NaN: n/a is never scored 0.
func (ind *Indicator) Score(value float64) float64 {
	s := (value - ind.Floor) / (ind.Target - ind.Floor) * 100
	return math.Min(100, math.Max(0, s))
}

// Default parses the embedded catalog. It is checked by the tests, so an
// error here means a broken build.
func Default() (*Catalog, error) { return Parse(DefaultFile, catalogYAML) }

// Load reads and validates a catalog file; "" is the embedded default.
func Load(file string) (*Catalog, error) {
	if file == "" {
		return Default()
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse(file, b)
}

// Parse validates a catalog strictly and reports every problem at once with
// its line (*rules.FileError): unknown or missing keys, bad values,
// duplicate or misplaced ids, floors and targets that do not fit the
// direction or unit, weights that do not add up, and computed indicators
// without a query or manual ones with one.
func Parse(name string, data []byte) (*Catalog, error) {
	p := &parser{Checker: strictyaml.Checker{File: name}, ids: map[string]int{}, queries: map[string]use{}}
	root := p.ParseDoc(data)
	if root == nil {
		return nil, p.Err()
	}
	cat := &Catalog{Source: name, text: append([]byte(nil), data...)}
	p.Mapping(root, "catalog", map[string]strictyaml.Field{
		"version": {Required: true, Check: func(v *yaml.Node) {
			var s string
			if p.Text(v, "version", &s) {
				if !versionRE.MatchString(s) {
					p.Addf(v, "version: %q: want letters, digits, '.', '-' or '_' (e.g. \"2026.1\"); a content hash is added after '+'", s)
				}
				cat.Label = s
			}
		}},
		"dimensions": {Required: true, Check: func(v *yaml.Node) { cat.Dimensions = p.dimensions(v) }},
	})
	if err := p.Err(); err != nil {
		return nil, err
	}
	cat.byID = map[string]*Indicator{}
	for _, d := range cat.Dimensions {
		for _, g := range d.Groups {
			cat.groups = append(cat.groups, g)
			for _, ind := range g.Indicators {
				cat.indicators = append(cat.indicators, ind)
				cat.byID[ind.ID] = ind
			}
		}
	}
	// The hash is of the values (canonical JSON), not of the bytes: a new
	// comment is not a new catalog.
	b, err := json.Marshal(cat.Dimensions)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	cat.hash = hex.EncodeToString(sum[:])[:8]
	return cat, nil
}

var (
	versionRE   = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._-]*$`)
	dimensionRE = regexp.MustCompile(`^[A-Z]+$`)
	groupRE     = regexp.MustCompile(`^([A-Z]+)[1-9][0-9]*$`)
	indicatorRE = regexp.MustCompile(`^([A-Z]+[1-9][0-9]*)\.[1-9][0-9]*$`)
	queryRE     = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// parser is the checker plus what must be unique across the whole file.
type parser struct {
	strictyaml.Checker
	ids     map[string]int // id -> line, across all three levels
	queries map[string]use // query/kind -> the indicator using it
}

// use is where a query was first used.
type use struct {
	what string
	line int
}

// weightSum is 100 for the dimensions: the index is 0..100.
const weightSum = 100

// near compares weight sums; weights may be fractions (0.5), whose sums are
// not exact in binary.
func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// label names an element in messages: its id when it has a usable one,
// else its position.
func label(n *yaml.Node, fallback string) string {
	if v := strictyaml.Peek(n, "id"); v != nil && v.Kind == yaml.ScalarNode && v.Tag != "!!null" && v.Value != "" {
		return v.Value
	}
	return fallback
}

// id checks an element's id: its shape, that it sits under parent (when
// the parent's id is known) and that no other element has it. It reports
// whether the id is usable as a parent for the element's children.
func (p *parser) id(v *yaml.Node, level string, re *regexp.Regexp, example, parent string, dst *string) bool {
	var s string
	if !p.Text(v, level+" id", &s) {
		return false
	}
	if first, dup := p.ids[s]; dup {
		p.Addf(v, "id %q given twice (first at line %d)", s, first)
	} else {
		p.ids[s] = v.Line
	}
	m := re.FindStringSubmatch(s)
	if m == nil {
		p.Addf(v, "%s id %q: want %s", level, s, example)
		return false
	}
	if parent != "" && len(m) > 1 && m[1] != parent {
		p.Addf(v, "%s id %q is not under %s (want %s)", level, s, parentName(level, parent), childExample(level, parent))
	}
	*dst = s
	return true
}

func parentName(level, parent string) string {
	if level == "group" {
		return "dimension " + parent
	}
	return "group " + parent
}

func childExample(level, parent string) string {
	if level == "group" {
		return parent + "1, " + parent + "2, ..."
	}
	return parent + ".1, " + parent + ".2, ..."
}

// weight reads a weight above 0.
func (p *parser) weight(v *yaml.Node, what string, dst *float64) bool {
	if !p.Number(v, what+".weight", dst) {
		return false
	}
	if *dst <= 0 {
		p.Addf(v, "%s.weight: want a number above 0, got %s", what, v.Value)
		return false
	}
	return true
}

// sumCheck reports children's weights that do not add up to the parent's,
// at the parent's weight. It is skipped when any weight involved is
// unusable: that problem is already reported and a sum would only echo it.
func (p *parser) sumCheck(what, children string, at *yaml.Node, want float64, wantOK bool, got float64, gotOK bool) {
	if wantOK && gotOK && !near(got, want) {
		p.Addf(at, "%s: the weights of its %s add up to %s, want %s (the weight of %s)", what, children, num(got), num(want), what)
	}
}

func (p *parser) dimensions(n *yaml.Node) []*Dimension {
	items := p.List(n, "dimensions")
	var out []*Dimension
	sum, sumOK := 0.0, len(items) > 0
	for i, item := range items {
		d, ok := p.dimension(item, i)
		if d == nil {
			sumOK = false
			continue
		}
		out = append(out, d)
		sum += d.Weight
		sumOK = sumOK && ok
	}
	if sumOK && !near(sum, weightSum) {
		p.Addf(n, "dimensions: the weights add up to %s, want %d", num(sum), weightSum)
	}
	return out
}

// dimension parses one dimension; ok says its weight is usable.
func (p *parser) dimension(n *yaml.Node, i int) (d *Dimension, ok bool) {
	what := label(n, fmt.Sprintf("dimension %d", i+1))
	d = &Dimension{}
	var idOK, wOK bool
	var wNode, groups *yaml.Node
	if !p.Mapping(n, what, map[string]strictyaml.Field{
		"id":      {Required: true, Check: func(v *yaml.Node) { idOK = p.id(v, "dimension", dimensionRE, "capital letters, e.g. S", "", &d.ID) }},
		"name_zh": {Required: true, Check: func(v *yaml.Node) { p.Text(v, what+".name_zh", &d.NameZH) }},
		"name_en": {Required: true, Check: func(v *yaml.Node) { p.Text(v, what+".name_en", &d.NameEN) }},
		"weight":  {Required: true, Check: func(v *yaml.Node) { wNode, wOK = v, p.weight(v, what, &d.Weight) }},
		"groups":  {Required: true, Check: func(v *yaml.Node) { groups = v }},
	}) {
		return nil, false
	}
	// Children after the mapping: their ids are checked against this id,
	// which may come after them in the file.
	if groups != nil {
		parent := ""
		if idOK {
			parent = d.ID
		}
		items := p.List(groups, what+".groups")
		sum, sumOK := 0.0, len(items) > 0
		for j, item := range items {
			g, ok := p.group(item, j, what, parent)
			if g == nil {
				sumOK = false
				continue
			}
			d.Groups = append(d.Groups, g)
			sum += g.Weight
			sumOK = sumOK && ok
		}
		p.sumCheck(what, "groups", wNode, d.Weight, wOK, sum, sumOK)
	}
	return d, wOK
}

func (p *parser) group(n *yaml.Node, j int, dimWhat, dim string) (g *Group, ok bool) {
	what := label(n, fmt.Sprintf("group %d of %s", j+1, dimWhat))
	g = &Group{Dimension: dim}
	var idOK, wOK bool
	var wNode, inds *yaml.Node
	if !p.Mapping(n, what, map[string]strictyaml.Field{
		"id": {Required: true, Check: func(v *yaml.Node) {
			idOK = p.id(v, "group", groupRE, "the dimension's letter and a number, e.g. S1", dim, &g.ID)
		}},
		"name_zh":    {Required: true, Check: func(v *yaml.Node) { p.Text(v, what+".name_zh", &g.NameZH) }},
		"name_en":    {Required: true, Check: func(v *yaml.Node) { p.Text(v, what+".name_en", &g.NameEN) }},
		"weight":     {Required: true, Check: func(v *yaml.Node) { wNode, wOK = v, p.weight(v, what, &g.Weight) }},
		"indicators": {Required: true, Check: func(v *yaml.Node) { inds = v }},
	}) {
		return nil, false
	}
	if inds != nil {
		parent := ""
		if idOK {
			parent = g.ID
		}
		items := p.List(inds, what+".indicators")
		sum, sumOK := 0.0, len(items) > 0
		for k, item := range items {
			ind, ok := p.indicator(item, k, what, parent)
			if ind == nil {
				sumOK = false
				continue
			}
			g.Indicators = append(g.Indicators, ind)
			sum += ind.Weight
			sumOK = sumOK && ok
		}
		p.sumCheck(what, "indicators", wNode, g.Weight, wOK, sum, sumOK)
	}
	return g, wOK
}

// unitRange bounds floor and target by unit.
func unitRange(u Unit) (lo, hi float64) {
	switch u {
	case Ratio:
		return 0, 1
	case ScoreUnit:
		return 0, 100
	}
	return 0, math.Inf(1)
}

func (p *parser) indicator(n *yaml.Node, k int, groupWhat, group string) (ind *Indicator, ok bool) {
	what := label(n, fmt.Sprintf("indicator %d of %s", k+1, groupWhat))
	ind = &Indicator{Group: group}
	var unitOK, dirOK, floorOK, targetOK, wOK, kindOK bool
	var floorN, targetN, kindN, manualN, queryN *yaml.Node
	var unit, dir, kind string
	if !p.Mapping(n, what, map[string]strictyaml.Field{
		"id": {Required: true, Check: func(v *yaml.Node) {
			p.id(v, "indicator", indicatorRE, "the group's id, a dot and a number, e.g. S1.1", group, &ind.ID)
		}},
		"name_zh":   {Required: true, Check: func(v *yaml.Node) { p.Text(v, what+".name_zh", &ind.NameZH) }},
		"name_en":   {Required: true, Check: func(v *yaml.Node) { p.Text(v, what+".name_en", &ind.NameEN) }},
		"unit":      {Required: true, Check: func(v *yaml.Node) { unitOK = p.OneOf(v, what+".unit", units, &unit) }},
		"direction": {Required: true, Check: func(v *yaml.Node) { dirOK = p.OneOf(v, what+".direction", directions, &dir) }},
		"floor":     {Required: true, Check: func(v *yaml.Node) { floorN, floorOK = v, p.Number(v, what+".floor", &ind.Floor) }},
		"target":    {Required: true, Check: func(v *yaml.Node) { targetN, targetOK = v, p.Number(v, what+".target", &ind.Target) }},
		"weight":    {Required: true, Check: func(v *yaml.Node) { wOK = p.weight(v, what, &ind.Weight) }},
		"kind":      {Required: true, Check: func(v *yaml.Node) { kindN, kindOK = v, p.OneOf(v, what+".kind", kinds, &kind) }},
		"manual": {Check: func(v *yaml.Node) {
			manualN = v
			p.Boolean(v, what+".manual", &ind.Manual)
		}},
		"query": {Check: func(v *yaml.Node) {
			queryN = v
			if p.Text(v, what+".query", &ind.Query) && !queryRE.MatchString(ind.Query) {
				p.Addf(v, "%s.query: %q: want a name of lower-case letters, digits and _, e.g. on_time_completion", what, ind.Query)
			}
		}},
		"explain": {Required: true, Check: func(v *yaml.Node) { p.Text(v, what+".explain", &ind.Explain) }},
	}) {
		return nil, false
	}
	ind.Unit, ind.Direction, ind.Kind = Unit(unit), Direction(dir), Kind(kind)

	if floorOK && targetOK {
		switch {
		case ind.Floor == ind.Target:
			p.Addf(targetN, "%s: floor and target are both %s: the score needs them apart", what, num(ind.Floor))
		case dirOK && ind.Direction == Up && ind.Floor > ind.Target:
			p.Addf(targetN, "%s: direction up needs floor < target, got floor %s, target %s", what, num(ind.Floor), num(ind.Target))
		case dirOK && ind.Direction == Down && ind.Floor < ind.Target:
			p.Addf(targetN, "%s: direction down needs floor > target, got floor %s, target %s", what, num(ind.Floor), num(ind.Target))
		}
	}
	if unitOK {
		lo, hi := unitRange(ind.Unit)
		for _, b := range []struct {
			name string
			n    *yaml.Node
			ok   bool
			v    float64
		}{{"floor", floorN, floorOK, ind.Floor}, {"target", targetN, targetOK, ind.Target}} {
			if b.ok && (b.v < lo || b.v > hi) {
				if math.IsInf(hi, 1) {
					p.Addf(b.n, "%s.%s: %s is below 0 (unit %s)", what, b.name, num(b.v), unit)
				} else {
					p.Addf(b.n, "%s.%s: %s is outside %s..%s (unit %s)", what, b.name, num(b.v), num(lo), num(hi), unit)
				}
			}
		}
	}

	switch {
	case ind.Manual && queryN != nil:
		p.Addf(queryN, "%s: a manual indicator has no query (inspectors enter its values)", what)
	case !ind.Manual && queryN == nil:
		p.Addf(n, "%s: a computed indicator needs a query (or manual: true if inspectors enter it)", what)
	}
	if kindOK {
		switch {
		case ind.Kind == KindManual && !ind.Manual:
			p.Addf(kindN, "%s: kind manual needs manual: true", what)
		case ind.Kind != KindManual && ind.Manual:
			p.Addf(manualN, "%s: manual: true needs kind manual, got kind %s", what, kind)
		}
	}
	// One query over one kind of data is one computation: a second
	// indicator with both the same would always equal the first.
	if kindOK && !ind.Manual && ind.Query != "" && queryN != nil {
		key := ind.Query + "/" + kind
		if prev, dup := p.queries[key]; dup {
			p.Addf(queryN, "%s: query %s over %s data is already %s's (line %d)", what, ind.Query, kind, prev.what, prev.line)
		} else {
			p.queries[key] = use{what, queryN.Line}
		}
	}
	return ind, wOK
}

// num formats a number as written in the file would be: 12, 0.9, 1e-05.
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
