package rules

import (
	"strconv"

	"gopkg.in/yaml.v3"

	"effidx/strictyaml"
)

// Problem and FileError are strictyaml's: every strict file of effidx
// reports its problems the same way.
type (
	Problem   = strictyaml.Problem
	FileError = strictyaml.FileError
)

// checker is strictyaml's, plus the value kinds only rules files have.
type checker struct{ strictyaml.Checker }

func newChecker(file string) *checker { return &checker{strictyaml.Checker{File: file}} }

// share reads a number in (0, 1].
func (c *checker) share(n *yaml.Node, what string, dst *float64) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!float" && n.Tag != "!!int") {
		c.Addf(n, "%s: want a number in (0, 1], e.g. 0.8; got %s", what, strictyaml.KindName(n))
		return
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || !(v > 0 && v <= 1) {
		c.Addf(n, "%s: %s is not in (0, 1]", what, n.Value)
		return
	}
	*dst = v
}
