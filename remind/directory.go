package remind

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"regexp"

	"gopkg.in/yaml.v3"

	"effidx/rules"
	"effidx/strictyaml"
)

// Person is someone reminders can reach.
type Person struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Department string `json:"department"`
	Head       string `json:"-"` // section head's id; "" = the department's
	Email      string `json:"email,omitempty"`
	Phone      string `json:"phone,omitempty"` // for the webhook gateway (SMS)
}

// Department says who heads a department and where its webhook is.
type Department struct {
	ID          string
	Name        string
	SectionHead string // person ids
	Leader      string
	Duty        string // receives the responsible's reminders when an item names nobody known; "" = the section head
	Webhook     string // gateway URL; "" = no webhook
}

// Directory is who is responsible, who heads them and how to reach them
// (remind.directory). Events name the responsible person by id or by
// name; both are looked up within the item's department first.
type Directory struct {
	People      map[string]*Person
	Departments map[string]*Department
	Version     string

	byName map[[2]string]*Person // (department, name)
}

var personIDRE = regexp.MustCompile(`^[^\s]{1,128}$`)

// LoadDirectory reads and validates a directory file.
func LoadDirectory(file string) (*Directory, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return ParseDirectory(file, b)
}

// ParseDirectory validates a directory strictly: unknown keys, duplicate
// ids, references to nobody and people nobody can reach are errors, all
// reported at once with their lines (*rules.FileError).
func ParseDirectory(file string, data []byte) (*Directory, error) {
	c := &strictyaml.Checker{File: file}
	d := &Directory{People: map[string]*Person{}, Departments: map[string]*Department{}, byName: map[[2]string]*Person{}}
	root := c.ParseDoc(data)
	if root == nil {
		return nil, c.Err()
	}
	type ref struct {
		n          *yaml.Node
		what, id   string
		department string // the person must belong to it ("" = any)
	}
	var refs []ref
	var personNodes []*yaml.Node
	var people []*Person
	deptLines := map[string]int{}
	c.Mapping(root, "directory", map[string]strictyaml.Field{
		"departments": {Required: true, Check: func(v *yaml.Node) {
			for _, n := range c.List(v, "departments") {
				var dp Department
				what := "department"
				if id := strictyaml.Peek(n, "id"); id != nil && id.Kind == yaml.ScalarNode {
					what = fmt.Sprintf("department %q", id.Value)
				}
				c.Mapping(n, what, map[string]strictyaml.Field{
					"id":   {Required: true, Check: func(v *yaml.Node) { c.Text(v, what+": id", &dp.ID) }},
					"name": {Required: true, Check: func(v *yaml.Node) { c.Text(v, what+": name", &dp.Name) }},
					"section_head": {Required: true, Check: func(v *yaml.Node) {
						if c.Text(v, what+": section_head", &dp.SectionHead) {
							refs = append(refs, ref{v, what + ": section_head", dp.SectionHead, ""})
						}
					}},
					"leader": {Required: true, Check: func(v *yaml.Node) {
						if c.Text(v, what+": leader", &dp.Leader) {
							refs = append(refs, ref{v, what + ": leader", dp.Leader, ""})
						}
					}},
					"duty": {Check: func(v *yaml.Node) {
						if c.Text(v, what+": duty", &dp.Duty) {
							refs = append(refs, ref{v, what + ": duty", dp.Duty, ""})
						}
					}},
					"webhook": {Check: func(v *yaml.Node) {
						if c.Text(v, what+": webhook", &dp.Webhook) {
							if u, err := url.Parse(dp.Webhook); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
								c.Addf(v, "%s: webhook %q: want an absolute http(s) URL", what, dp.Webhook)
							}
						}
					}},
				})
				if dp.ID == "" {
					continue
				}
				if line, dup := deptLines[dp.ID]; dup {
					c.Addf(n, "%s: given twice (first at line %d)", what, line)
					continue
				}
				deptLines[dp.ID] = n.Line
				d.Departments[dp.ID] = &dp
			}
		}},
		"people": {Required: true, Check: func(v *yaml.Node) {
			for _, n := range c.List(v, "people") {
				p := &Person{}
				what := "person"
				if id := strictyaml.Peek(n, "id"); id != nil && id.Kind == yaml.ScalarNode {
					what = fmt.Sprintf("person %q", id.Value)
				}
				c.Mapping(n, what, map[string]strictyaml.Field{
					"id": {Required: true, Check: func(v *yaml.Node) {
						if c.Text(v, what+": id", &p.ID) && !personIDRE.MatchString(p.ID) {
							c.Addf(v, "%s: id %q: no spaces, at most 128 characters", what, p.ID)
						}
					}},
					"name":       {Required: true, Check: func(v *yaml.Node) { c.Text(v, what+": name", &p.Name) }},
					"department": {Required: true, Check: func(v *yaml.Node) { c.Text(v, what+": department", &p.Department) }},
					"head": {Check: func(v *yaml.Node) {
						if c.Text(v, what+": head", &p.Head) {
							refs = append(refs, ref{v, what + ": head", p.Head, ""})
						}
					}},
					"email": {Check: func(v *yaml.Node) {
						if c.Text(v, what+": email", &p.Email) {
							if a, err := mail.ParseAddress(p.Email); err != nil || a.Address != p.Email {
								c.Addf(v, "%s: email %q is not a plain address (want name@example.gov.cn)", what, p.Email)
							}
						}
					}},
					"phone": {Check: func(v *yaml.Node) { c.Text(v, what+": phone", &p.Phone) }},
				})
				personNodes = append(personNodes, n)
				people = append(people, p)
			}
		}},
	})
	personLines := map[string]int{}
	for i, p := range people {
		n := personNodes[i]
		if p.ID == "" {
			continue
		}
		if line, dup := personLines[p.ID]; dup {
			c.Addf(n, "person %q: given twice (first at line %d)", p.ID, line)
			continue
		}
		personLines[p.ID] = n.Line
		d.People[p.ID] = p
		if p.Department == "" {
			continue
		}
		dp := d.Departments[p.Department]
		if dp == nil && len(d.Departments) > 0 {
			c.Addf(n, "person %q: department %q is not in departments", p.ID, p.Department)
			continue
		}
		key := [2]string{p.Department, p.Name}
		if other, dup := d.byName[key]; dup {
			c.Addf(n, "person %q: name %q is also %q's in department %s (events naming the responsible by name would be ambiguous)", p.ID, p.Name, other.ID, p.Department)
		} else {
			d.byName[key] = p
		}
		if p.Email == "" && dp != nil && dp.Webhook == "" {
			c.Addf(n, "person %q: no way to reach them: give an email, or department %s a webhook", p.ID, p.Department)
		}
	}
	for _, r := range refs {
		if _, ok := d.People[r.id]; !ok && len(people) > 0 {
			c.Addf(r.n, "%s: %q is not in people", r.what, r.id)
		}
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	d.Version = hex.EncodeToString(sum[:])[:12]
	return d, nil
}

// Recipient is who gets a reminder of level (rules.Responsible,
// SectionHead or Leader) for an item of department naming responsible;
// note says why it is not the obvious person. nil: nobody to send to.
func (d *Directory) Recipient(department, responsible, level string) (p *Person, note string) {
	dp := d.Departments[department]
	var who *Person
	if responsible != "" {
		who = d.byName[[2]string{department, responsible}]
		if q := d.People[responsible]; who == nil && q != nil && q.Department == department {
			who = q
		}
		if who == nil {
			// Someone of another department (a step handled elsewhere
			// names its own responsible, but the step's department is
			// what the item carries): by id only.
			who = d.People[responsible]
		}
	}
	switch level {
	case rules.Responsible:
		if who != nil {
			return who, ""
		}
		if dp == nil {
			return nil, fmt.Sprintf("department %s is not in the directory", department)
		}
		unknown := "no responsible named"
		if responsible != "" {
			unknown = fmt.Sprintf("responsible %q is not in the directory", responsible)
		}
		if p := d.People[dp.Duty]; p != nil {
			return p, unknown + ": sent to the department's duty contact"
		}
		return d.People[dp.SectionHead], unknown + ": sent to the section head"
	case rules.SectionHead:
		if who != nil && who.Head != "" {
			return d.People[who.Head], ""
		}
		if dp == nil {
			return nil, fmt.Sprintf("department %s is not in the directory", department)
		}
		return d.People[dp.SectionHead], ""
	case rules.Leader:
		if dp == nil {
			return nil, fmt.Sprintf("department %s is not in the directory", department)
		}
		return d.People[dp.Leader], ""
	}
	return nil, "unknown level " + level
}

// Webhook is the department's gateway URL, "" when it has none.
func (d *Directory) Webhook(department string) string {
	if dp := d.Departments[department]; dp != nil {
		return dp.Webhook
	}
	return ""
}
