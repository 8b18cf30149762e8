package indices

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
)

// Card is one subject's scores in one period.
type Card struct {
	SubjectType string  // "department", "region", "city"
	Subject     string  // department or region code; CityID for the city
	Total       float64 // the index 0..100; NaN when every indicator is n/a
	Rank        int     // 1 = best, set by Rank; 0 = not ranked (n/a total)
	PrevTotal   float64 // previous period's total, NaN if none (set by Compare)
	PrevRank    int     // 0 if none
	Change      float64 // Total - PrevTotal, NaN if either is NaN
	RankChange  int     // PrevRank - Rank (positive: moved up); 0 when either rank is 0

	Dimensions []*LevelScore     // S, C, E in catalog order
	Groups     []*LevelScore     // first-level indicators, catalog order
	Indicators []*IndicatorScore // all second-level indicators, catalog order
}

// LevelScore is the score of a dimension, a group or an indicator.
type LevelScore struct {
	ID        string
	Weight    float64 // as in the catalog
	Effective float64 // its share of the 100 index points after n/a re-weighting (0 when n/a)
	Score     float64 // 0..100; NaN when n/a
	Points    float64 // Effective * Score/100 (0 when n/a)
	Deduction float64 // Effective - Points (0 when n/a)
	NA        bool
}

// IndicatorScore is a second-level indicator's score with the value it was
// scored from, so a deduction can be traced to its data.
type IndicatorScore struct {
	LevelScore
	Value, Numerator, Denominator float64 // NaN when n/a (manual: numerator and denominator NaN)
	Manual                        bool
}

// ScoreCard scores one subject in one period (SPEC 5). results are the
// computed indicators by indicator id; manual the values inspectors entered
// by indicator id. An n/a indicator (no result, no data, no entered value)
// is left out and the other weights of its level are scaled up, never
// scored 0; the same holds for a group or dimension whose children are all
// n/a. Prev* and Change are left at "none" and Rank at 0: Rank and Compare
// fill them over all subjects.
func ScoreCard(cat *Catalog, subjectType, subject string, results map[string]Result, manual map[string]float64) *Card {
	nan := math.NaN()
	c := &Card{SubjectType: subjectType, Subject: subject, Total: nan, PrevTotal: nan, Change: nan}
	// Ids are unique across the three levels (the catalog checks it), so
	// one map finds any level's score on the way down.
	byID := map[string]*LevelScore{}

	// Bottom up: scores are weighted means of the children that have one.
	var dims []*LevelScore
	for _, d := range cat.Dimensions {
		var groups []*LevelScore
		for _, g := range d.Groups {
			var inds []*LevelScore
			for _, ind := range g.Indicators {
				is := scoreIndicator(ind, results, manual)
				c.Indicators = append(c.Indicators, is)
				inds = append(inds, &is.LevelScore)
				byID[ind.ID] = &is.LevelScore
			}
			gs := meanOf(g.ID, g.Weight, inds)
			c.Groups = append(c.Groups, gs)
			groups = append(groups, gs)
			byID[g.ID] = gs
		}
		ds := meanOf(d.ID, d.Weight, groups)
		c.Dimensions = append(c.Dimensions, ds)
		dims = append(dims, ds)
		byID[d.ID] = ds
	}
	top := meanOf("", weightSum, dims)
	if top.NA {
		return c
	}
	c.Total = top.Score

	// Top down: the 100 points go to the dimensions that have a score, each
	// dimension's share to its groups that have one, and so on, so the
	// indicators' points add up to the total.
	spread(weightSum, dims)
	for _, d := range cat.Dimensions {
		groups := make([]*LevelScore, len(d.Groups))
		for i, g := range d.Groups {
			groups[i] = byID[g.ID]
		}
		spread(byID[d.ID].Effective, groups)
		for _, g := range d.Groups {
			inds := make([]*LevelScore, len(g.Indicators))
			for i, ind := range g.Indicators {
				inds[i] = byID[ind.ID]
			}
			spread(byID[g.ID].Effective, inds)
		}
	}
	return c
}

// scoreIndicator scores one indicator from its computed result or, for a
// manual one, from the entered value.
func scoreIndicator(ind *Indicator, results map[string]Result, manual map[string]float64) *IndicatorScore {
	nan := math.NaN()
	is := &IndicatorScore{
		LevelScore: LevelScore{ID: ind.ID, Weight: ind.Weight, Score: nan, NA: true},
		Value:      nan, Numerator: nan, Denominator: nan,
		Manual: ind.Manual,
	}
	if ind.Manual {
		// A result for a manual indicator is not its value: only what an
		// inspector entered counts.
		v, ok := manual[ind.ID]
		if !ok || !finite(v) {
			return is
		}
		is.Value = v
	} else {
		r, ok := results[ind.ID]
		// A zero denominator is "no data", whatever Value says.
		if !ok || r.Denominator == 0 || !finite(r.Value) {
			return is
		}
		is.Value, is.Numerator, is.Denominator = r.Value, r.Numerator, r.Denominator
	}
	is.Score = ind.Score(is.Value)
	is.NA = false
	return is
}

// finite is false for NaN (n/a) and ±Inf, which would score as if it were a
// real value and cannot be shown in JSON.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// meanOf is a level's score: the weighted mean of its children that are
// not n/a; n/a when they all are.
func meanOf(id string, weight float64, children []*LevelScore) *LevelScore {
	var sum, w float64
	for _, ch := range children {
		if !ch.NA {
			sum += ch.Weight * ch.Score
			w += ch.Weight
		}
	}
	if w == 0 {
		return &LevelScore{ID: id, Weight: weight, Score: math.NaN(), NA: true}
	}
	return &LevelScore{ID: id, Weight: weight, Score: sum / w}
}

// spread shares a parent's effective weight among its children that are
// not n/a, in proportion to their catalog weights, and sets their points.
// n/a children keep 0 points and 0 deduction: they cost nothing.
func spread(effective float64, children []*LevelScore) {
	var w float64
	for _, ch := range children {
		if !ch.NA {
			w += ch.Weight
		}
	}
	for _, ch := range children {
		if ch.NA || w == 0 {
			continue
		}
		ch.Effective = effective * ch.Weight / w
		ch.Points = ch.Effective * ch.Score / 100
		ch.Deduction = ch.Effective - ch.Points
	}
}

// tied treats totals this close as equal: totals summed in another order
// differ in the last bits, and that must not split a tie.
const tied = 1e-9

// Rank ranks cards of one subject type by Total, best first, and sorts the
// slice in rank order. Equal totals share a rank and the ranks after them
// are skipped (1, 1, 3); ties are ordered by Subject. An n/a (NaN) total
// gets rank 0 and sorts last.
func Rank(cards []*Card) {
	// Exact order first, so that ranks can be given in one pass; the tolerant
	// tie test cannot be a sort order (it is not transitive).
	sort.SliceStable(cards, func(i, j int) bool {
		a, b := cards[i], cards[j]
		if math.IsNaN(a.Total) != math.IsNaN(b.Total) {
			return !math.IsNaN(a.Total)
		}
		if a.Total != b.Total && !math.IsNaN(a.Total) {
			return a.Total > b.Total
		}
		return a.Subject < b.Subject
	})
	lead := 0 // the first card of the current tie
	for i, c := range cards {
		switch {
		case math.IsNaN(c.Total):
			c.Rank = 0
		case i > 0 && math.Abs(cards[lead].Total-c.Total) < tied:
			c.Rank = cards[lead].Rank
		default:
			c.Rank, lead = i+1, i
		}
	}
	// Cards tied within the tolerance may still be out of Subject order.
	sort.SliceStable(cards, func(i, j int) bool {
		a, b := cards[i], cards[j]
		if a.Rank != b.Rank {
			return a.Rank != 0 && (b.Rank == 0 || a.Rank < b.Rank)
		}
		return a.Subject < b.Subject
	})
}

// Compare fills the Prev* fields, Change and RankChange of cur from the
// previous period's cards, matched by subject type and subject. Rank both
// first. A subject missing from prev gets no previous total (NaN), no
// previous rank (0) and no change.
func Compare(cur, prev []*Card) {
	type key struct{ typ, subject string }
	before := make(map[key]*Card, len(prev))
	for _, p := range prev {
		before[key{p.SubjectType, p.Subject}] = p
	}
	for _, c := range cur {
		c.PrevTotal, c.PrevRank, c.RankChange = math.NaN(), 0, 0
		if p, ok := before[key{c.SubjectType, c.Subject}]; ok {
			c.PrevTotal, c.PrevRank = p.Total, p.Rank
		}
		c.Change = c.Total - c.PrevTotal // NaN when either is
		if c.Rank != 0 && c.PrevRank != 0 {
			c.RankChange = c.PrevRank - c.Rank
		}
	}
}

// Lookup finds a subject's card (nil if there is none).
func Lookup(cards []*Card, subjectType, subject string) *Card {
	for _, c := range cards {
		if c.SubjectType == subjectType && c.Subject == subject {
			return c
		}
	}
	return nil
}

// jsonFloat is a float64 in JSON: rounded to 4 decimal places, and null for
// NaN (n/a), which encoding/json cannot encode.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if !finite(v) {
		return []byte("null"), nil
	}
	v = math.Round(v*1e4) / 1e4
	if v == 0 {
		v = 0 // not "-0" for a tiny negative rounding error
	}
	return strconv.AppendFloat(nil, v, 'f', -1, 64), nil
}

type cardJSON struct {
	SubjectType string            `json:"subject_type"`
	Subject     string            `json:"subject"`
	Total       jsonFloat         `json:"total"`
	Rank        int               `json:"rank"`
	PrevTotal   jsonFloat         `json:"prev_total"`
	PrevRank    int               `json:"prev_rank"`
	Change      jsonFloat         `json:"change"`
	RankChange  int               `json:"rank_change"`
	Dimensions  []*LevelScore     `json:"dimensions"`
	Groups      []*LevelScore     `json:"groups"`
	Indicators  []*IndicatorScore `json:"indicators"`
}

// MarshalJSON writes snake_case names, NaN as null and numbers rounded to
// 4 decimal places.
func (c Card) MarshalJSON() ([]byte, error) {
	return json.Marshal(cardJSON{
		SubjectType: c.SubjectType, Subject: c.Subject,
		Total: jsonFloat(c.Total), Rank: c.Rank,
		PrevTotal: jsonFloat(c.PrevTotal), PrevRank: c.PrevRank,
		Change: jsonFloat(c.Change), RankChange: c.RankChange,
		Dimensions: c.Dimensions, Groups: c.Groups, Indicators: c.Indicators,
	})
}

type levelJSON struct {
	ID        string    `json:"id"`
	Weight    jsonFloat `json:"weight"`
	Effective jsonFloat `json:"effective"`
	Score     jsonFloat `json:"score"`
	Points    jsonFloat `json:"points"`
	Deduction jsonFloat `json:"deduction"`
	NA        bool      `json:"na"`
}

func (l LevelScore) wire() levelJSON {
	return levelJSON{
		ID: l.ID, Weight: jsonFloat(l.Weight), Effective: jsonFloat(l.Effective),
		Score: jsonFloat(l.Score), Points: jsonFloat(l.Points), Deduction: jsonFloat(l.Deduction),
		NA: l.NA,
	}
}

// MarshalJSON writes snake_case names, NaN as null and numbers rounded to
// 4 decimal places.
func (l LevelScore) MarshalJSON() ([]byte, error) { return json.Marshal(l.wire()) }

// MarshalJSON writes the level's fields flat, followed by the value it was
// scored from. It must be its own method: LevelScore's, promoted, would
// drop the value.
func (s IndicatorScore) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		levelJSON
		Value       jsonFloat `json:"value"`
		Numerator   jsonFloat `json:"numerator"`
		Denominator jsonFloat `json:"denominator"`
		Manual      bool      `json:"manual"`
	}{s.LevelScore.wire(), jsonFloat(s.Value), jsonFloat(s.Numerator), jsonFloat(s.Denominator), s.Manual})
}
