package rules

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"effidx/strictyaml"
)

// Override is a local layer on the national calendar for a region or a
// service hall: extra closures (a system migration, a typhoon day) and
// extra open days (a one-off weekend opening). Overrides never make a year
// "covered": a year without national data stays provisional.
//
//	name: 福田区政务服务中心
//	closed:
//	  - 2026-05-06
//	  - 2026-09-14..2026-09-15   # a range, both ends included
//	open:
//	  - 2026-05-09
type Override struct {
	Name   string
	Closed []Date
	Open   []Date
}

// maxRange bounds a from..to entry: a longer one is almost surely a typo.
const maxRange = 366

// ParseOverride reads an override file strictly: unknown keys, bad dates,
// reversed or overlong ranges, a date listed twice or both closed and open
// are all errors, reported together with their lines.
func ParseOverride(file string, data []byte) (Override, error) {
	c := newChecker(file)
	var ov Override
	root := c.ParseDoc(data)
	if root == nil {
		return ov, c.Err()
	}
	type where struct {
		line int
		list string
	}
	seen := map[Date]where{}
	dates := func(list string, dst *[]Date) strictyaml.Field {
		return strictyaml.Field{Check: func(v *yaml.Node) {
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				return // "closed:" with nothing after it: an empty list
			}
			if v.Kind != yaml.SequenceNode {
				c.Addf(v, "%s: want a list of dates (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD), got %s", list, strictyaml.KindName(v))
				return
			}
			for _, e := range v.Content {
				from, to, ok := c.dateRange(e, list)
				if !ok {
					continue
				}
				for d := from; d <= to; d++ {
					if w, dup := seen[d]; dup {
						if w.list == list {
							c.Addf(e, "%s: %s listed twice (first at line %d)", list, d, w.line)
						} else {
							c.Addf(e, "%s: %s is also %s (line %d)", list, d, w.list, w.line)
						}
						continue
					}
					seen[d] = where{e.Line, list}
					*dst = append(*dst, d)
				}
			}
		}}
	}
	c.Mapping(root, "override", map[string]strictyaml.Field{
		"name": {Required: true, Check: func(v *yaml.Node) {
			if v.Kind != yaml.ScalarNode || v.Tag != "!!str" || strings.TrimSpace(v.Value) == "" {
				c.Addf(v, "name: want a non-empty text, got %s", strictyaml.KindName(v))
				return
			}
			ov.Name = v.Value
		}},
		"closed": dates("closed", &ov.Closed),
		"open":   dates("open", &ov.Open),
	})
	return ov, c.Err()
}

func (c *checker) dateRange(n *yaml.Node, list string) (Date, Date, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		c.Addf(n, "%s: want a date (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD), got %s", list, strictyaml.KindName(n))
		return 0, 0, false
	}
	a, b, isRange := strings.Cut(n.Value, "..")
	from, err := ParseDate(strings.TrimSpace(a))
	if err != nil {
		c.Addf(n, "%s: %q is not a date (want YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD)", list, n.Value)
		return 0, 0, false
	}
	if !isRange {
		return from, from, true
	}
	to, err := ParseDate(strings.TrimSpace(b))
	if err != nil {
		c.Addf(n, "%s: %q is not a date range (want YYYY-MM-DD..YYYY-MM-DD)", list, n.Value)
		return 0, 0, false
	}
	switch {
	case to < from:
		c.Addf(n, "%s: range %q ends before it starts", list, n.Value)
		return 0, 0, false
	case int(to-from) >= maxRange:
		c.Addf(n, "%s: range %q is longer than %d days", list, n.Value, maxRange)
		return 0, 0, false
	}
	return from, to, true
}

// String names the override for logs.
func (o Override) String() string {
	return fmt.Sprintf("%s (%d closed, %d open)", o.Name, len(o.Closed), len(o.Open))
}
