package dashboard

import (
	"context"
	"fmt"
	"math"

	"effidx/indices"
)

// The API caches a scored period for 30 s and, past that, every request
// asking for it reads ClickHouse again, all at once. The pages put their
// own cache in front (stale-while-revalidate, one build per key), so a
// page view costs no query however many screens and desks ask. "No data"
// answers (a period not begun, a department without data) are kept too.

type apiResult struct {
	v   any
	err error // an empty-period error, kept; others are not cached
}

func (s *Server) cached(ctx context.Context, key string, f func(ctx context.Context) (any, error)) (any, error) {
	r, err := s.apiCache.get(ctx, key, func(ctx context.Context) (apiResult, error) {
		v, err := f(ctx)
		if err != nil && !isEmptyErr(err) {
			return apiResult{}, err
		}
		return apiResult{v, err}, nil
	})
	if err != nil {
		return nil, err
	}
	return r.v, r.err
}

// cardsOf is the API's Cards of p.
func (s *Server) cardsOf(ctx context.Context, p indices.Period) ([]*indices.Card, error) {
	v, err := s.cached(ctx, "cards "+p.String(), func(ctx context.Context) (any, error) { return s.api.Cards(ctx, p) })
	cards, _ := v.([]*indices.Card)
	return cards, err
}

// scoresOf is the API's Scores of p for subject type typ.
func (s *Server) scoresOf(ctx context.Context, p indices.Period, typ string) (indices.ScoresResponse, error) {
	v, err := s.cached(ctx, "scores "+p.String()+" "+typ, func(ctx context.Context) (any, error) { return s.api.Scores(ctx, p, typ) })
	sc, _ := v.(indices.ScoresResponse)
	return sc, err
}

// portraitOf is the API's Portrait of dept in p.
func (s *Server) portraitOf(ctx context.Context, dept string, p indices.Period) (indices.PortraitResponse, error) {
	v, err := s.cached(ctx, fmt.Sprintf("portrait %q %s", dept, p), func(ctx context.Context) (any, error) { return s.api.Portrait(ctx, dept, p) })
	pr, _ := v.(indices.PortraitResponse)
	return pr, err
}

// resultsOf is the API's Results of p.
func (s *Server) resultsOf(ctx context.Context, p indices.Period) (indices.Computation, error) {
	v, err := s.cached(ctx, "results "+p.String(), func(ctx context.Context) (any, error) { return s.api.Results(ctx, p) })
	c, _ := v.(indices.Computation)
	return c, err
}

// trendOf is a subject's index over the n periods up to last (oldest
// first), as the API's Trend, from the cached cards; periods not begun
// are left out.
func (s *Server) trendOf(ctx context.Context, typ, subject string, last indices.Period, n int) ([]string, []float64, error) {
	p := last
	for range n - 1 {
		p = p.Previous()
	}
	var xs []string
	var vs []float64
	for range n {
		cards, err := s.cardsOf(ctx, p)
		if err != nil {
			if isEmptyErr(err) {
				break
			}
			return nil, nil, err
		}
		v := math.NaN()
		if cd := indices.Lookup(cards, typ, subject); cd != nil {
			v = cd.Total
		}
		xs, vs = append(xs, p.String()), append(vs, v)
		p = p.Next()
	}
	return xs, vs, nil
}
