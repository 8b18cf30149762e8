// Package strictyaml reads configuration and rules files strictly: it walks
// a yaml.v3 node tree and collects every problem with its line (unknown,
// missing and repeated keys, wrong types), where decoding into a struct
// would stop at the first error and lose most positions. The rules and
// indices packages build their file parsers on it, so every strict file
// reports problems the same way.
package strictyaml

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
)

// Problem is one thing wrong in a file, at a line (0: the file as a whole).
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

// Checker collects the problems of one file.
type Checker struct {
	File     string
	Problems []Problem
}

// Addf records a problem at n's line (n nil: the file as a whole).
func (c *Checker) Addf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	c.Problems = append(c.Problems, Problem{Line: line, Msg: fmt.Sprintf(format, args...)})
}

// Err is nil without problems, else a *FileError listing them in line order.
func (c *Checker) Err() error {
	if len(c.Problems) == 0 {
		return nil
	}
	sort.SliceStable(c.Problems, func(i, j int) bool { return c.Problems[i].Line < c.Problems[j].Line })
	return &FileError{File: c.File, Problems: c.Problems}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParseDoc reads exactly one YAML document and returns its root node (nil
// with a problem recorded when there is none or it does not parse).
func (c *Checker) ParseDoc(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			c.Addf(nil, "empty file")
			return nil
		}
		c.yamlErr(err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		c.Addf(&extra, "a second YAML document: want exactly one")
	} else if !errors.Is(err, io.EOF) {
		c.yamlErr(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		c.Addf(nil, "empty file")
		return nil
	}
	return doc.Content[0]
}

func (c *Checker) yamlErr(err error) {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		c.Problems = append(c.Problems, Problem{Line: line, Msg: m[2]})
		return
	}
	c.Addf(nil, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
}

// Field is one key of a mapping: required or not, and what checks its value.
type Field struct {
	Required bool
	Check    func(v *yaml.Node)
}

// Mapping checks that n is a mapping with only known keys, each once, and
// every required key present; it runs each field's check on its value in
// file order. It reports whether n was a mapping at all.
func (c *Checker) Mapping(n *yaml.Node, what string, fields map[string]Field) bool {
	if n.Kind != yaml.MappingNode {
		c.Addf(n, "%s: want a mapping, got %s", what, KindName(n))
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
			c.Addf(k, "%s: keys must be plain names", what)
			continue
		}
		f, ok := fields[k.Value]
		if !ok {
			c.Addf(k, "%s: unknown key %q (known: %s)", what, k.Value, strings.Join(known, ", "))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			c.Addf(k, "%s: key %q given twice (first at line %d)", what, k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		f.Check(v)
	}
	for _, k := range known {
		if _, ok := seen[k]; !ok && fields[k].Required {
			c.Addf(n, "%s: missing key %q", what, k)
		}
	}
	return true
}

// List checks that n is a non-empty list and returns its elements.
func (c *Checker) List(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		c.Addf(n, "%s: want a list, got %s", what, KindName(n))
		return nil
	}
	if len(n.Content) == 0 {
		c.Addf(n, "%s: the list is empty", what)
	}
	return n.Content
}

// KindName says what a node is, for messages.
func KindName(n *yaml.Node) string {
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

// Text reads a non-empty one-line text. Any scalar counts (a name such as
// 12345 is a text too); lists, mappings and nothing do not.
func (c *Checker) Text(n *yaml.Node, what string, dst *string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || strings.TrimSpace(n.Value) == "" {
		c.Addf(n, "%s: want a non-empty text, got %s", what, KindName(n))
		return false
	}
	if strings.ContainsAny(n.Value, "\r\n") {
		c.Addf(n, "%s: want one line, got %d", what, strings.Count(strings.TrimRight(n.Value, "\r\n"), "\n")+1)
		return false
	}
	*dst = strings.TrimSpace(n.Value)
	return true
}

// Number reads a finite number (YAML int or float; "80%" or "5" quoted
// are texts and rejected rather than guessed at).
func (c *Checker) Number(n *yaml.Node, what string, dst *float64) bool {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!float" && n.Tag != "!!int") {
		c.Addf(n, "%s: want a number, got %s", what, KindName(n))
		return false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		c.Addf(n, "%s: %s is not a finite number", what, n.Value)
		return false
	}
	*dst = v
	return true
}

// Boolean reads true or false (yaml.v3 does not take yes/no/on/off as
// booleans, so they are rejected here rather than read as texts).
func (c *Checker) Boolean(n *yaml.Node, what string, dst *bool) bool {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		c.Addf(n, "%s: want true or false, got %s", what, KindName(n))
		return false
	}
	v, err := strconv.ParseBool(n.Value)
	if err != nil {
		c.Addf(n, "%s: want true or false, got %q", what, n.Value)
		return false
	}
	*dst = v
	return true
}

// OneOf reads a text from a fixed set.
func (c *Checker) OneOf(n *yaml.Node, what string, allowed []string, dst *string) bool {
	var s string
	if !c.Text(n, what, &s) {
		return false
	}
	for _, a := range allowed {
		if s == a {
			*dst = s
			return true
		}
	}
	c.Addf(n, "%s: %q is not one of %s", what, s, strings.Join(allowed, ", "))
	return false
}

// Peek returns the value node of key in mapping n, or nil.
func Peek(n *yaml.Node, key string) *yaml.Node {
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
