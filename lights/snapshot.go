package lights

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// snapshot is the outcome of a run, as the API and the gauges read it.
// Verdicts are kept packed (verdict): a million Lits would be 140 MB of
// pointers for the GC to scan on every cycle, twice while a run builds the
// next snapshot; packed they are a third of that and hold no pointer.
type snapshot struct {
	items  [][]Item          // the run's item chunks
	chunks []*judgedChunk    // their verdicts
	exact  map[int32]Verdict // verdicts that do not pack, by place (none expected)
	order  []int32           // places (chunk<<chunkBits | index), worst first
	taken  time.Time

	// answers caches encoded API answers of this snapshot by their
	// filters: a wall screen and fifty clerks asking the same question
	// between two runs cost one walk over a million items.
	answers sync.Map
	nanswer atomic.Int32 // entries in answers, bounded by maxAnswers
}

// maxAnswers bounds the cached answers of one snapshot: filters and
// limits are the caller's to choose.
const maxAnswers = 1000

// judgedChunk holds the verdicts of a chunk of items.
type judgedChunk struct {
	v    []verdict
	keys []uint64       // sortKey of v; 0: no light (dead, or no limit)
	loc  *time.Location // the zone of the instants in v
}

// verdict is a Verdict without pointers: instants as Unix seconds in the
// chunk's zone, the light as its level.
type verdict struct {
	due, legalDue, yellow, red int64 // noTime for the zero time
	left                       int
	level                      int8
	legalOverdue, provisional  bool
}

const noTime = math.MinInt64

// pack packs v, whose instants must be whole seconds in zone *loc (set
// from the first instant met when nil); false if v does not pack exactly.
func pack(v *Verdict, loc **time.Location) (verdict, bool) {
	due, ok1 := seconds(v.Due, loc)
	legalDue, ok2 := seconds(v.LegalDue, loc)
	yellow, ok3 := seconds(v.YellowSince, loc)
	red, ok4 := seconds(v.RedSince, loc)
	return verdict{due: due, legalDue: legalDue, yellow: yellow, red: red, left: v.WorkdaysLeft, level: v.level,
			legalOverdue: v.LegalOverdue, provisional: v.Provisional},
		ok1 && ok2 && ok3 && ok4 && v.Light == levels[v.level]
}

// seconds is t for verdict; false if unpacking would not give t back.
func seconds(t time.Time, loc **time.Location) (int64, bool) {
	if t == (time.Time{}) {
		return noTime, true
	}
	l := t.Location()
	if *loc == nil {
		*loc = l
	}
	// Round(0) strips a monotonic reading, which would not survive.
	return t.Unix(), l == *loc && t.Nanosecond() == 0 && t == t.Round(0)
}

func (p *verdict) unpack(loc *time.Location) Verdict {
	at := func(s int64) time.Time {
		if s == noTime {
			return time.Time{}
		}
		return time.Unix(s, 0).In(loc)
	}
	return Verdict{
		Light: levels[p.level], LegalOverdue: p.legalOverdue, Due: at(p.due), LegalDue: at(p.legalDue),
		WorkdaysLeft: p.left, YellowSince: at(p.yellow), RedSince: at(p.red), Provisional: p.provisional, level: p.level,
	}
}

// item is the item at place p.
func (s *snapshot) item(p int32) *Item { return &s.items[p>>chunkBits][p&(chunkSize-1)] }

// verdict is the packed verdict at place p (its level, working days left
// and flags are right even when it did not pack).
func (s *snapshot) verdict(p int32) *verdict { return &s.chunks[p>>chunkBits].v[p&(chunkSize-1)] }

// lit is the item at place p with its verdict.
func (s *snapshot) lit(p int32) Lit {
	if v, ok := s.exact[p]; ok {
		return Lit{Item: s.item(p), Verdict: v}
	}
	return Lit{Item: s.item(p), Verdict: s.verdict(p).unpack(s.chunks[p>>chunkBits].loc)}
}
