package strictyaml

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func TestCheckerReportsEveryProblemWithItsLine(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // the whole error text; "" = valid
	}{
		{"a valid file", "name: hall\nshare: 0.5\nopen: true\n", ""},
		{"unknown, repeated and missing keys, all at once", "name: hall\nnmae: x\nname: again\n",
			"f.yaml:1: top: missing key \"share\"\nf.yaml:2: top: unknown key \"nmae\" (known: name, open, share)\nf.yaml:3: top: key \"name\" given twice (first at line 1)"},
		{"wrong scalar types", "name: [a]\nshare: \"80%\"\nopen: yes\n",
			"f.yaml:1: name: want a non-empty text, got a list\nf.yaml:2: share: want a number, got \"80%\"\nf.yaml:3: open: want true or false, got \"yes\""},
		{"broken YAML names its line", "name: hall\n  share: : 1\n", "f.yaml:2: mapping values are not allowed in this context"},
		{"an empty file", "", "f.yaml: empty file"},
		{"two documents", "name: a\nshare: 1\n---\nname: b\n", "f.yaml:3: a second YAML document: want exactly one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Checker{File: "f.yaml"}
			var name string
			var share float64
			var open bool
			if root := c.ParseDoc([]byte(tt.doc)); root != nil {
				c.Mapping(root, "top", map[string]Field{
					"name":  {Required: true, Check: func(v *yaml.Node) { c.Text(v, "name", &name) }},
					"share": {Required: true, Check: func(v *yaml.Node) { c.Number(v, "share", &share) }},
					"open":  {Check: func(v *yaml.Node) { c.Boolean(v, "open", &open) }},
				})
			}
			got := ""
			if err := c.Err(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("error:\n%s\nwant:\n%s", got, tt.want)
			}
			if tt.want == "" && (name != "hall" || share != 0.5 || !open) {
				t.Fatalf("values: %q %v %v", name, share, open)
			}
		})
	}
}
