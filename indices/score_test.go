package indices

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
)

// tinyCatalog is small enough to score by hand:
//
//	A 60: A1 40: A1.1 ratio up 0.5 → 1 (w 30), A1.2 hours down 10 → 2 (w 10)
//	      A2 20: A2.1 ratio up 0 → 1 (w 20)
//	B 40: B1 40: B1.1 manual score 60 → 100 (w 25), B1.2 ratio up 0.8 → 1 (w 15)
const tinyCatalog = `
version: t
dimensions:
  - {id: A, name_zh: 甲, name_en: A, weight: 60, groups: [
      {id: A1, name_zh: 甲一, name_en: A1, weight: 40, indicators: [
        {id: A1.1, name_zh: 比率, name_en: Ratio, unit: ratio, direction: up, floor: 0.5, target: 1,
         weight: 30, kind: service, query: q_a11, explain: x},
        {id: A1.2, name_zh: 小时, name_en: Hours, unit: hours, direction: down, floor: 10, target: 2,
         weight: 10, kind: scenario, query: q_a12, explain: x}]},
      {id: A2, name_zh: 甲二, name_en: A2, weight: 20, indicators: [
        {id: A2.1, name_zh: 比率, name_en: Ratio, unit: ratio, direction: up, floor: 0, target: 1,
         weight: 20, kind: ticket, query: q_a21, explain: x}]}]}
  - {id: B, name_zh: 乙, name_en: B, weight: 40, groups: [
      {id: B1, name_zh: 乙一, name_en: B1, weight: 40, indicators: [
        {id: B1.1, name_zh: 人工, name_en: Manual, unit: score, direction: up, floor: 60, target: 100,
         weight: 25, kind: manual, manual: true, explain: x},
        {id: B1.2, name_zh: 比率, name_en: Ratio, unit: ratio, direction: up, floor: 0.8, target: 1,
         weight: 15, kind: task, query: q_b12, explain: x}]}]}
`

func parseTiny(t *testing.T, src string) *Catalog {
	t.Helper()
	cat, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func defaultCatalog(t *testing.T) *Catalog {
	t.Helper()
	cat, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// val is a computed result with data; noData one whose denominator is 0.
func val(v float64) Result { return Result{Numerator: v, Denominator: 1, Value: v} }

var noData = Result{Numerator: 0, Denominator: 0, Value: math.NaN()}

// lvl is the expected score and effective weight of one level; na is n/a.
type lvl struct{ score, effective float64 }

var na = lvl{math.NaN(), 0}

// same compares with a tolerance for summation order, NaN equal to NaN.
func same(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) < 1e-9
}

// allLevels finds every level of a card by id.
func allLevels(c *Card) map[string]*LevelScore {
	m := map[string]*LevelScore{}
	for _, l := range c.Dimensions {
		m[l.ID] = l
	}
	for _, l := range c.Groups {
		m[l.ID] = l
	}
	for _, l := range c.Indicators {
		m[l.ID] = &l.LevelScore
	}
	return m
}

// checkInvariants checks what must hold for any card: each level's points
// are the sum of its children's, the indicators' points add up to the
// total and their deductions to 100 − total; an n/a level has no score,
// no weight and no points.
func checkInvariants(t *testing.T, cat *Catalog, c *Card) {
	t.Helper()
	if len(c.Dimensions) != len(cat.Dimensions) || len(c.Groups) != len(cat.Groups()) || len(c.Indicators) != len(cat.Indicators()) {
		t.Fatalf("card has %d/%d/%d levels, catalog %d/%d/%d", len(c.Dimensions), len(c.Groups), len(c.Indicators),
			len(cat.Dimensions), len(cat.Groups()), len(cat.Indicators()))
	}
	levels := allLevels(c)
	for id, l := range levels {
		if l.NA && (!math.IsNaN(l.Score) || l.Effective != 0 || l.Points != 0 || l.Deduction != 0) {
			t.Errorf("%s is n/a but has score %v, effective %v, points %v, deduction %v", id, l.Score, l.Effective, l.Points, l.Deduction)
		}
		if !l.NA && !same(l.Points+l.Deduction, l.Effective) {
			t.Errorf("%s: points %v + deduction %v != effective %v", id, l.Points, l.Deduction, l.Effective)
		}
	}
	var points, deductions, effective float64
	for _, d := range cat.Dimensions {
		var dp float64
		for _, g := range d.Groups {
			var gp float64
			for _, ind := range g.Indicators {
				gp += levels[ind.ID].Points
				points += levels[ind.ID].Points
				deductions += levels[ind.ID].Deduction
				effective += levels[ind.ID].Effective
			}
			if !same(gp, levels[g.ID].Points) {
				t.Errorf("%s: points %v, its indicators' add up to %v", g.ID, levels[g.ID].Points, gp)
			}
			dp += levels[g.ID].Points
		}
		if !same(dp, levels[d.ID].Points) {
			t.Errorf("%s: points %v, its groups' add up to %v", d.ID, levels[d.ID].Points, dp)
		}
	}
	if math.IsNaN(c.Total) {
		if points != 0 || deductions != 0 || effective != 0 {
			t.Errorf("n/a total, but points %v, deductions %v, effective %v", points, deductions, effective)
		}
		return
	}
	if !same(points, c.Total) {
		t.Errorf("Σ points = %v, total %v", points, c.Total)
	}
	if !same(deductions, 100-c.Total) {
		t.Errorf("Σ deductions = %v, 100 − total = %v", deductions, 100-c.Total)
	}
	if !same(effective, 100) {
		t.Errorf("Σ effective weights = %v, want 100", effective)
	}
}

// mixed is a full set of tiny results whose scores are easy: A1.1 50,
// A1.2 75, A2.1 90, B1.1 50 (manual), B1.2 50.
var mixed = map[string]Result{"A1.1": val(0.75), "A1.2": val(4), "A2.1": val(0.9), "B1.2": val(0.9)}

// with is base with some results replaced, or removed where nil.
func with(base map[string]Result, changes map[string]*Result) map[string]Result {
	out := map[string]Result{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = *v
		}
	}
	return out
}

func ptr(r Result) *Result { return &r }

func TestScoreCardOfTheTinyCatalog(t *testing.T) {
	cat := parseTiny(t, tinyCatalog)
	tests := []struct {
		name    string
		results map[string]Result
		manual  map[string]float64
		total   float64
		want    map[string]lvl // only the levels worth a look
	}{{
		name:    "all indicators at target score 100, each with its catalog weight",
		results: map[string]Result{"A1.1": val(1), "A1.2": val(2), "A2.1": val(1), "B1.2": val(1)},
		manual:  map[string]float64{"B1.1": 100},
		total:   100,
		want: map[string]lvl{"A": {100, 60}, "B": {100, 40}, "A1": {100, 40}, "A2": {100, 20},
			"A1.1": {100, 30}, "A1.2": {100, 10}, "A2.1": {100, 20}, "B1.1": {100, 25}, "B1.2": {100, 15}},
	}, {
		name:    "all indicators at floor score 0",
		results: map[string]Result{"A1.1": val(0.5), "A1.2": val(10), "A2.1": val(0), "B1.2": val(0.8)},
		manual:  map[string]float64{"B1.1": 60},
		total:   0,
		want:    map[string]lvl{"A": {0, 60}, "B": {0, 40}, "A1.1": {0, 30}, "B1.1": {0, 25}},
	}, {
		name:    "values beyond target or floor are clamped",
		results: map[string]Result{"A1.1": val(0.2), "A1.2": val(1), "A2.1": val(1), "B1.2": val(1)},
		manual:  map[string]float64{"B1.1": 100},
		// A1.1 0.2 is below floor 0.5: 0; A1.2 1 hour beats target 2: 100.
		// A1 = (30·0 + 10·100)/40 = 25; A = (40·25 + 20·100)/60 = 50;
		// total = (60·50 + 40·100)/100 = 70.
		total: 70,
		want:  map[string]lvl{"A1.1": {0, 30}, "A1.2": {100, 10}, "A1": {25, 40}, "A": {50, 60}},
	}, {
		name:    "a lower-is-better indicator scores the line from floor down to target",
		results: mixed,
		manual:  map[string]float64{"B1.1": 80},
		// A1.2: 4 hours, floor 10, target 2: (4 − 10)/(2 − 10)·100 = 75.
		// A1 = (30·50 + 10·75)/40 = 56.25; A2 = 90;
		// A = (40·56.25 + 20·90)/60 = 67.5; B1 = (25·50 + 15·50)/40 = 50;
		// total = (60·67.5 + 40·50)/100 = 60.5
		// (points 15 + 7.5 + 18 + 12.5 + 7.5 = 60.5).
		total: 60.5,
		want: map[string]lvl{"A1.2": {75, 10}, "A1.1": {50, 30}, "A1": {56.25, 40}, "A2": {90, 20},
			"A": {67.5, 60}, "B1": {50, 40}, "B": {50, 40}},
	}, {
		name:    "an n/a indicator hands its weight to the others in its group",
		results: with(mixed, map[string]*Result{"A1.2": ptr(noData)}),
		manual:  map[string]float64{"B1.1": 80},
		// A1.2 has no data: A1.1 carries all of A1's 40 (30 → 40), A1 = 50;
		// A = (40·50 + 20·90)/60 = 63.33; total = (60·63.33 + 40·50)/100 = 58
		// (points 40·0.5 + 18 + 12.5 + 7.5 = 58).
		total: 58,
		want:  map[string]lvl{"A1.2": na, "A1.1": {50, 40}, "A1": {50, 40}, "A": {190.0 / 3, 60}},
	}, {
		name:    "a zero denominator is n/a even with a value",
		results: with(mixed, map[string]*Result{"A1.2": ptr(Result{Value: 0, Denominator: 0})}),
		manual:  map[string]float64{"B1.1": 80},
		total:   58, // as above
		want:    map[string]lvl{"A1.2": na, "A1.1": {50, 40}},
	}, {
		name:    "a whole n/a group hands its weight to the other groups of its dimension",
		results: with(mixed, map[string]*Result{"A2.1": nil}),
		manual:  map[string]float64{"B1.1": 80},
		// A2 is n/a: A = A1 = 56.25 with all of A's 60; A1.1 gets 60·30/40 = 45,
		// A1.2 60·10/40 = 15; total = (60·56.25 + 40·50)/100 = 53.75
		// (points 22.5 + 11.25 + 12.5 + 7.5 = 53.75).
		total: 53.75,
		want: map[string]lvl{"A2.1": na, "A2": na, "A1": {56.25, 60}, "A": {56.25, 60},
			"A1.1": {50, 45}, "A1.2": {75, 15}, "B": {50, 40}},
	}, {
		name:    "a whole n/a dimension hands its weight to the other dimensions",
		results: with(mixed, map[string]*Result{"B1.2": nil}),
		// B1.1 not entered, B1.2 no result: B is n/a and A carries all 100:
		// A1 100·40/60 = 66.67, A2 33.33; A1.1 66.67·30/40 = 50, A1.2 16.67;
		// total = A = 67.5 (points 25 + 12.5 + 30 = 67.5).
		total: 67.5,
		want: map[string]lvl{"B": na, "B1": na, "B1.1": na, "B1.2": na, "A": {67.5, 100},
			"A1": {56.25, 200.0 / 3}, "A2": {90, 100.0 / 3}, "A1.1": {50, 50}, "A1.2": {75, 50.0 / 3}, "A2.1": {90, 100.0 / 3}},
	}, {
		name:  "everything n/a is a NaN total, not 0",
		total: math.NaN(),
		want:  map[string]lvl{"A": na, "B": na, "A1": na, "A1.1": na, "B1.1": na},
	}, {
		name:    "a manual value entered is scored",
		results: map[string]Result{},
		manual:  map[string]float64{"B1.1": 90},
		// Only B1.1: (90 − 60)/(100 − 60) = 75, carrying all 100.
		total: 75,
		want:  map[string]lvl{"B1.1": {75, 100}, "B1": {75, 100}, "B": {75, 100}, "A": na, "B1.2": na},
	}, {
		name:    "a manual value not entered is n/a and its group's other indicator takes its weight",
		results: with(mixed, map[string]*Result{"B1.2": ptr(val(0.95))}),
		// B1.2 0.95: 75, with all of B1's 40; total = (60·67.5 + 40·75)/100 = 70.5.
		total: 70.5,
		want:  map[string]lvl{"B1.1": na, "B1.2": {75, 40}, "B": {75, 40}},
	}, {
		name:    "a manual indicator ignores a computed result and a computed one an entered value",
		results: with(mixed, map[string]*Result{"B1.1": ptr(val(100))}),
		manual:  map[string]float64{"A1.1": 1, "B1.1": math.NaN()},
		// B1.1: a result is not an entry and NaN is no entry, so n/a; B1.2
		// (0.9: 50) carries B1's 40 alone and B = 50; A1.1 still scores its
		// computed 0.75: A = 67.5; total = (60·67.5 + 40·50)/100 = 60.5.
		total: 60.5,
		want:  map[string]lvl{"B1.1": na, "A1.1": {50, 30}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ScoreCard(cat, SubjectDepartment, "d1", tt.results, tt.manual)
			if !same(c.Total, tt.total) {
				t.Errorf("total = %v, want %v", c.Total, tt.total)
			}
			levels := allLevels(c)
			for id, w := range tt.want {
				l := levels[id]
				if l == nil {
					t.Errorf("%s: no such level", id)
					continue
				}
				if !same(l.Score, w.score) || !same(l.Effective, w.effective) || l.NA != math.IsNaN(w.score) {
					t.Errorf("%s: score %v, effective %v, na %v; want %v, %v, %v", id, l.Score, l.Effective, l.NA, w.score, w.effective, math.IsNaN(w.score))
				}
			}
			checkInvariants(t, cat, c)
		})
	}
}

func TestScoreCardOfTheDefaultCatalog(t *testing.T) {
	cat := defaultCatalog(t)
	// Values at target or floor for every indicator, manual ones included.
	at := func(target bool, skipManual bool) (map[string]Result, map[string]float64) {
		res, man := map[string]Result{}, map[string]float64{}
		for _, ind := range cat.Indicators() {
			v := ind.Floor
			if target {
				v = ind.Target
			}
			switch {
			case ind.Manual && !skipManual:
				man[ind.ID] = v
			case !ind.Manual:
				res[ind.ID] = val(v)
			}
		}
		return res, man
	}
	tests := []struct {
		name   string
		card   func() *Card
		total  float64
		checks map[string]lvl
	}{{
		name: "all 40 indicators at target score 100",
		card: func() *Card {
			res, man := at(true, false)
			return ScoreCard(cat, SubjectDepartment, "d1", res, man)
		},
		total:  100,
		checks: map[string]lvl{"S": {100, 40}, "C": {100, 30}, "E": {100, 30}, "S1": {100, 12}, "S1.1": {100, 5}},
	}, {
		name: "all 40 indicators at floor score 0",
		card: func() *Card {
			res, man := at(false, false)
			return ScoreCard(cat, SubjectDepartment, "d1", res, man)
		},
		total:  0,
		checks: map[string]lvl{"S": {0, 40}, "E4.2": {0, 1}},
	}, {
		name: "no inspections entered leave E4 n/a and E's 30 to E1, E2, E3, E5",
		card: func() *Card {
			res, _ := at(true, true)
			return ScoreCard(cat, SubjectDepartment, "d1", res, nil)
		},
		// E's other groups weigh 9 + 5 + 7 + 4 = 25: E1 gets 30·9/25 = 10.8,
		// its E1.1 (4 of 9) 10.8·4/9 = 4.8.
		total:  100,
		checks: map[string]lvl{"E4": na, "E4.1": na, "E": {100, 30}, "E1": {100, 10.8}, "E5": {100, 4.8}, "E1.1": {100, 4.8}},
	}, {
		name: "lower-is-better C1.3 mean working days scores 75 at 2 days",
		card: func() *Card {
			// Floor 5, target 1: (2 − 5)/(1 − 5)·100 = 75. C1.3 is the only
			// indicator with data, so it carries all 100: total = 75.
			return ScoreCard(cat, SubjectRegion, "r1", map[string]Result{"C1.3": {Numerator: 10, Denominator: 5, Value: 2}}, nil)
		},
		total:  75,
		checks: map[string]lvl{"C1.3": {75, 100}, "C1": {75, 100}, "C": {75, 100}, "S": na, "C1.1": na},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.card()
			if !same(c.Total, tt.total) {
				t.Errorf("total = %v, want %v", c.Total, tt.total)
			}
			levels := allLevels(c)
			for id, w := range tt.checks {
				l := levels[id]
				if !same(l.Score, w.score) || !same(l.Effective, w.effective) {
					t.Errorf("%s: score %v, effective %v; want %v, %v", id, l.Score, l.Effective, w.score, w.effective)
				}
			}
			checkInvariants(t, cat, c)
		})
	}
}

// TestScoreCardInvariantsHoldWithNAHoles scores the default catalog with
// uneven values and growing sets of n/a indicators: whatever is missing,
// the points add up to the total and the deductions to 100 − total.
func TestScoreCardInvariantsHoldWithNAHoles(t *testing.T) {
	cat := defaultCatalog(t)
	inds := cat.Indicators()
	for step := 1; step <= 7; step++ {
		res, man := map[string]Result{}, map[string]float64{}
		for i, ind := range inds {
			if i%step == 0 && step > 1 {
				continue // a hole
			}
			// Somewhere between floor and target, different for each.
			v := ind.Floor + (ind.Target-ind.Floor)*float64((i*37)%101)/100
			if ind.Manual {
				man[ind.ID] = v
			} else {
				res[ind.ID] = val(v)
			}
		}
		c := ScoreCard(cat, SubjectDepartment, "d1", res, man)
		if math.IsNaN(c.Total) || c.Total < 0 || c.Total > 100 {
			t.Errorf("every %dth n/a: total %v, want 0..100", step, c.Total)
		}
		checkInvariants(t, cat, c)
	}
}

func TestScoreCardStartsWithNoPreviousPeriodAndNoRank(t *testing.T) {
	c := ScoreCard(parseTiny(t, tinyCatalog), SubjectCity, CityID, mixed, nil)
	if c.SubjectType != SubjectCity || c.Subject != CityID || c.Rank != 0 || c.PrevRank != 0 || c.RankChange != 0 ||
		!math.IsNaN(c.PrevTotal) || !math.IsNaN(c.Change) {
		t.Errorf("got %+v", c)
	}
	is := c.Indicators[0]
	if is.ID != "A1.1" || is.Value != 0.75 || is.Numerator != 0.75 || is.Denominator != 1 || is.Manual {
		t.Errorf("A1.1 = %+v", is)
	}
	if m := c.Indicators[3]; m.ID != "B1.1" || !m.Manual || !m.NA || !math.IsNaN(m.Value) || !math.IsNaN(m.Numerator) || !math.IsNaN(m.Denominator) {
		t.Errorf("B1.1 = %+v", m)
	}
}

func card(subject string, total float64) *Card {
	return &Card{SubjectType: SubjectDepartment, Subject: subject, Total: total, PrevTotal: math.NaN(), Change: math.NaN()}
}

func TestRank(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name  string
		cards []*Card
		want  string // subject:rank in the order Rank leaves them
	}{{
		name:  "ties share a rank and the next rank is skipped",
		cards: []*Card{card("c", 80), card("b", 90), card("a", 90)},
		want:  "a:1 b:1 c:3",
	}, {
		name:  "n/a totals are unranked and last",
		cards: []*Card{card("z", nan), card("y", 10), card("x", nan), card("w", 50)},
		want:  "w:1 y:2 x:0 z:0",
	}, {
		name:  "totals less than 1e-9 apart tie and are ordered by subject",
		cards: []*Card{card("b", 70+5e-10), card("a", 70), card("c", 69)},
		want:  "a:1 b:1 c:3",
	}, {
		name:  "totals 1e-6 apart do not tie",
		cards: []*Card{card("a", 70), card("b", 70+1e-6)},
		want:  "b:1 a:2",
	}, {
		name:  "everything n/a leaves everyone unranked",
		cards: []*Card{card("b", nan), card("a", nan)},
		want:  "a:0 b:0",
	}, {
		name:  "nothing to rank is fine",
		cards: nil,
		want:  "",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			Rank(tt.cards)
			var got []string
			for _, c := range tt.cards {
				got = append(got, c.Subject+":"+strconv.Itoa(c.Rank))
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("got %q, want %q", g, tt.want)
			}
		})
	}
}

func TestCardsCompareWithThePreviousPeriod(t *testing.T) {
	prev := []*Card{card("a", 70), card("b", 85), card("c", 60), card("d", 50)}
	Rank(prev) // b 1, a 2, c 3, d 4
	regions := []*Card{{SubjectType: SubjectRegion, Subject: "new", Total: 99}}
	Rank(regions)
	prev = append(prev, regions...)
	cur := []*Card{card("a", 90), card("b", 80), card("new", 75), card("c", math.NaN()), card("d", 50)}
	Rank(cur) // a 1, b 2, new 3, d 4, c 0
	Compare(cur, prev)
	tests := []struct {
		name                string
		subject             string
		prevTotal, change   float64
		prevRank, rankDelta int
	}{
		{"a subject that moved from 2 to 1 is up one", "a", 70, 20, 2, 1},
		{"a subject that moved from 1 to 2 is down one", "b", 85, -5, 1, -1},
		{"a subject missing last period has no previous total, rank or change", "new", math.NaN(), math.NaN(), 0, 0},
		{"a subject n/a this period has no change and no rank change", "c", 60, math.NaN(), 3, 0},
		{"a subject that stayed has zero change", "d", 50, 0, 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Lookup(cur, SubjectDepartment, tt.subject)
			if !same(c.PrevTotal, tt.prevTotal) || !same(c.Change, tt.change) || c.PrevRank != tt.prevRank || c.RankChange != tt.rankDelta {
				t.Errorf("prev_total %v, change %v, prev_rank %d, rank_change %d; want %v, %v, %d, %d",
					c.PrevTotal, c.Change, c.PrevRank, c.RankChange, tt.prevTotal, tt.change, tt.prevRank, tt.rankDelta)
			}
		})
	}
}

func TestCardLookupFindsBySubjectTypeAndSubject(t *testing.T) {
	cards := []*Card{card("a", 1), {SubjectType: SubjectRegion, Subject: "a", Total: 2}}
	if c := Lookup(cards, SubjectRegion, "a"); c == nil || c.Total != 2 {
		t.Errorf("region a = %+v", c)
	}
	if c := Lookup(cards, SubjectDepartment, "a"); c == nil || c.Total != 1 {
		t.Errorf("department a = %+v", c)
	}
	if c := Lookup(cards, SubjectCity, "a"); c != nil {
		t.Errorf("city a = %+v, want nil", c)
	}
}

// TestCardJSONIsSnakeCaseRoundedWithNullForNA encodes one small card
// exactly: D1.1 at 2/3 on 0 → 1 scores 66.6667; D1.2 entered 50 scores 50;
// D1.3 has no data, so D1.1 gets 100·50/80 = 62.5 points of weight
// (41.6667 points) and D1.2 37.5 (18.75); total 60.4167.
func TestCardJSONIsSnakeCaseRoundedWithNullForNA(t *testing.T) {
	cat := parseTiny(t, `
version: j
dimensions:
  - {id: D, name_zh: 丁, name_en: D, weight: 100, groups: [
      {id: D1, name_zh: 丁一, name_en: D1, weight: 100, indicators: [
        {id: D1.1, name_zh: 比率, name_en: Ratio, unit: ratio, direction: up, floor: 0, target: 1,
         weight: 50, kind: service, query: q1, explain: x},
        {id: D1.2, name_zh: 人工, name_en: Manual, unit: score, direction: up, floor: 0, target: 100,
         weight: 30, kind: manual, manual: true, explain: x},
        {id: D1.3, name_zh: 比率, name_en: Ratio, unit: ratio, direction: up, floor: 0, target: 1,
         weight: 20, kind: ticket, query: q1, explain: x}]}]}
`)
	c := ScoreCard(cat, SubjectDepartment, "d1",
		map[string]Result{"D1.1": {Numerator: 2, Denominator: 3, Value: 2.0 / 3}, "D1.3": noData},
		map[string]float64{"D1.2": 50})
	cards := []*Card{c}
	Rank(cards)
	Compare(cards, nil)
	got, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "subject_type": "department", "subject": "d1", "total": 60.4167, "rank": 1,
  "prev_total": null, "prev_rank": 0, "change": null, "rank_change": 0,
  "dimensions": [
    {"id": "D", "weight": 100, "effective": 100, "score": 60.4167, "points": 60.4167, "deduction": 39.5833, "na": false}
  ],
  "groups": [
    {"id": "D1", "weight": 100, "effective": 100, "score": 60.4167, "points": 60.4167, "deduction": 39.5833, "na": false}
  ],
  "indicators": [
    {"id": "D1.1", "weight": 50, "effective": 62.5, "score": 66.6667, "points": 41.6667, "deduction": 20.8333, "na": false,
     "value": 0.6667, "numerator": 2, "denominator": 3, "manual": false},
    {"id": "D1.2", "weight": 30, "effective": 37.5, "score": 50, "points": 18.75, "deduction": 18.75, "na": false,
     "value": 50, "numerator": null, "denominator": null, "manual": true},
    {"id": "D1.3", "weight": 20, "effective": 0, "score": null, "points": 0, "deduction": 0, "na": true,
     "value": null, "numerator": null, "denominator": null, "manual": false}
  ]
}`
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(want)); err != nil {
		t.Fatal(err)
	}
	if string(got) != compact.String() {
		t.Errorf("got\n%s\nwant\n%s", got, compact.String())
	}
	// A card value encodes the same as a pointer: NaN must never reach
	// encoding/json's float encoder.
	if v, err := json.Marshal(*c); err != nil || !bytes.Equal(v, got) {
		t.Errorf("value encoding: %v\n%s", err, v)
	}
}
