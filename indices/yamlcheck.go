package indices

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"effidx/rules"
)

// checker collects problems while walking a yaml.v3 node tree, as the
// rules package does for its files: decoding into a struct would stop at
// the first error and lose most positions. Problems are rules.Problem so
// that `effidx check` and callers see one error type for every strict file.
type checker struct {
	file     string
	problems []rules.Problem
}

func (c *checker) addf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	c.problems = append(c.problems, rules.Problem{Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].Line < c.problems[j].Line })
	return &rules.FileError{File: c.file, Problems: c.problems}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDoc reads exactly one YAML document and returns its root node (nil
// with a problem recorded when there is none or it does not parse).
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
		c.problems = append(c.problems, rules.Problem{Line: line, Msg: m[2]})
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
// every required key present; it runs each field's check on its value in
// file order. It reports whether n was a mapping at all.
func (c *checker) mapping(n *yaml.Node, what string, fields map[string]field) bool {
	if n.Kind != yaml.MappingNode {
		c.addf(n, "%s: want a mapping, got %s", what, kindName(n))
		return false
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
	return true
}

// list checks that n is a non-empty list and returns its elements.
func (c *checker) list(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		c.addf(n, "%s: want a list, got %s", what, kindName(n))
		return nil
	}
	if len(n.Content) == 0 {
		c.addf(n, "%s: the list is empty", what)
	}
	return n.Content
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

// text reads a non-empty one-line text. Any scalar counts (a name such as
// 12345 is a text too); lists, mappings and nothing do not.
func (c *checker) text(n *yaml.Node, what string, dst *string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || strings.TrimSpace(n.Value) == "" {
		c.addf(n, "%s: want a non-empty text, got %s", what, kindName(n))
		return false
	}
	if strings.ContainsAny(n.Value, "\r\n") {
		c.addf(n, "%s: want one line, got %d", what, strings.Count(strings.TrimRight(n.Value, "\r\n"), "\n")+1)
		return false
	}
	*dst = strings.TrimSpace(n.Value)
	return true
}

// number reads a finite number (YAML int or float; "80%" or "5" quoted
// are texts and rejected rather than guessed at).
func (c *checker) number(n *yaml.Node, what string, dst *float64) bool {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!float" && n.Tag != "!!int") {
		c.addf(n, "%s: want a number, got %s", what, kindName(n))
		return false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		c.addf(n, "%s: %s is not a finite number", what, n.Value)
		return false
	}
	*dst = v
	return true
}

// boolean reads true or false (yaml.v3 does not take yes/no/on/off as
// booleans, so they are rejected here rather than read as texts).
func (c *checker) boolean(n *yaml.Node, what string, dst *bool) bool {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		c.addf(n, "%s: want true or false, got %s", what, kindName(n))
		return false
	}
	v, err := strconv.ParseBool(n.Value)
	if err != nil {
		c.addf(n, "%s: want true or false, got %q", what, n.Value)
		return false
	}
	*dst = v
	return true
}

// oneOf reads a text from a fixed set.
func (c *checker) oneOf(n *yaml.Node, what string, allowed []string, dst *string) bool {
	var s string
	if !c.text(n, what, &s) {
		return false
	}
	for _, a := range allowed {
		if s == a {
			*dst = s
			return true
		}
	}
	c.addf(n, "%s: %q is not one of %s", what, s, strings.Join(allowed, ", "))
	return false
}

// peek returns the value node of key in mapping n, or nil.
func peek(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// num formats a number as written in the file would be: 12, 0.9, 1e-05.
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
