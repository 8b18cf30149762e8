package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong in a rules file, at a line (0: the file as a
// whole).
type Problem struct {
	Line int
	Msg  string
}

// FileError lists every problem found in one file, in line order.
type FileError struct {
	File     string
	Problems []Problem
}

func (e *FileError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		if p.Line > 0 {
			fmt.Fprintf(&b, "%s:%d: %s", e.File, p.Line, p.Msg)
		} else {
			fmt.Fprintf(&b, "%s: %s", e.File, p.Msg)
		}
	}
	return b.String()
}

// checker collects problems while walking a yaml.v3 node tree: decoding
// into a struct would stop at the first error and lose most positions.
type checker struct {
	file     string
	problems []Problem
}

func (c *checker) addf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	c.problems = append(c.problems, Problem{line, fmt.Sprintf(format, args...)})
}

func (c *checker) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].Line < c.problems[j].Line })
	return &FileError{File: c.file, Problems: c.problems}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDoc reads exactly one YAML document and returns its root node
// (nil with a problem recorded when there is none or it does not parse).
func (c *checker) parseDoc(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			c.addf(nil, "empty file")
			return nil
		}
		c.yamlErr(err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		c.addf(&extra, "a second YAML document: want exactly one")
	} else if !errors.Is(err, io.EOF) {
		c.yamlErr(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		c.addf(nil, "empty file")
		return nil
	}
	return doc.Content[0]
}

func (c *checker) yamlErr(err error) {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		c.problems = append(c.problems, Problem{line, m[2]})
		return
	}
	c.addf(nil, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
}

// field is one key of a mapping: required or not, and what checks its value.
type field struct {
	required bool
	check    func(v *yaml.Node)
}

// mapping checks that n is a mapping with only known keys, each once, and
// every required key present; it runs each field's check on its value.
func (c *checker) mapping(n *yaml.Node, what string, fields map[string]field) {
	if n.Kind != yaml.MappingNode {
		c.addf(n, "%s: want a mapping, got %s", what, kindName(n))
		return
	}
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	sort.Strings(known)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			c.addf(k, "%s: keys must be plain names", what)
			continue
		}
		f, ok := fields[k.Value]
		if !ok {
			c.addf(k, "%s: unknown key %q (known: %s)", what, k.Value, strings.Join(known, ", "))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			c.addf(k, "%s: key %q given twice (first at line %d)", what, k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		f.check(v)
	}
	for _, k := range known {
		if _, ok := seen[k]; !ok && fields[k].required {
			c.addf(n, "%s: missing key %q", what, k)
		}
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// share reads a number in (0, 1].
func (c *checker) share(n *yaml.Node, what string, dst *float64) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!float" && n.Tag != "!!int") {
		c.addf(n, "%s: want a number in (0, 1], e.g. 0.8; got %s", what, kindName(n))
		return
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || !(v > 0 && v <= 1) {
		c.addf(n, "%s: %s is not in (0, 1]", what, n.Value)
		return
	}
	*dst = v
}

// boolean reads true or false (yaml.v3 does not take yes/no/on/off as
// booleans, so they are rejected here rather than read as strings).
func (c *checker) boolean(n *yaml.Node, what string, dst *bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		c.addf(n, "%s: want true or false, got %s", what, kindName(n))
		return
	}
	v, err := strconv.ParseBool(n.Value)
	if err != nil {
		c.addf(n, "%s: want true or false, got %q", what, n.Value)
		return
	}
	*dst = v
}
