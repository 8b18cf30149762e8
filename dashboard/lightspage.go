package dashboard

import (
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"effidx/lights"
)

// lightsLimit bounds the rows of the lights page: the filters narrow a
// city's hundred thousand open items down.
const lightsLimit = 300

type lightRow struct {
	lights.APIItem
	Due, LegalDue, Left string
	Reminders           string // what was sent, to whom, acknowledged or not
}

type lightsBody struct {
	Table              template.HTML
	Filter             lightFilter
	Departments, Kinds []option2
	Levels             []option2
	Fixed              bool // a department user: no department choice
	Rows               []lightRow
	Total, Shown       int
	Red, Yellow, Green int
	At                 string
	Pending            bool
}

// option2 is a <select> option.
type option2 struct {
	Value, Label string
	Selected     bool
}

// lightRows formats items for a table.
func lightRows(items []lights.APIItem, loc *time.Location) []lightRow {
	var out []lightRow
	for _, it := range items {
		row := lightRow{APIItem: it, Due: clockPtr(it.Due, loc), LegalDue: clockPtr(it.LegalDue, loc)}
		switch {
		case it.Due == nil:
			row.Left = "时钟暂停"
		case it.WorkdaysLeft < 0:
			row.Left = fmt.Sprintf("超期 %d 个工作日", -it.WorkdaysLeft)
		case it.WorkdaysLeft == 0:
			row.Left = "今日到期"
		default:
			row.Left = fmt.Sprintf("剩余 %d 个工作日", it.WorkdaysLeft)
		}
		out = append(out, row)
	}
	return out
}

func (s *Server) lightsPage(w http.ResponseWriter, r *http.Request) {
	who := identity(r)
	q := r.URL.Query()
	f := lightFilter{Department: q.Get("department"), Kind: q.Get("kind"), Level: q.Get("level"), CaseID: q.Get("case")}
	if !who.SeesAll() {
		if f.Department != "" && f.Department != who.Department {
			s.forbidden(w, r)
			return
		}
		f.Department = who.Department
	}
	switch f.Level {
	case "", "all", lights.Red, lights.Yellow, lights.Green:
	default:
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("level %q: 可选 red（红灯）、yellow（黄灯）、green（绿灯）或 all（全部）", f.Level))
		return
	}
	lv, err := s.lightView(r.Context())
	if err != nil {
		s.failErr(w, r, "亮灯", err)
		return
	}
	if f.Kind != "" && kindNames[f.Kind] == "" {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("kind %q: 可选 service、internal、scenario、ticket、task、step、milestone", f.Kind))
		return
	}
	loc := s.api.Now().Location()
	b := &lightsBody{Filter: f, Fixed: !who.SeesAll(), Pending: lv.at.IsZero()}
	if !lv.at.IsZero() {
		b.At = clock(lv.at, loc)
	}
	items, total := lv.find(f, lightsLimit)
	b.Total, b.Shown, b.Rows = total, len(items), lightRows(items, loc)
	b.Table = lightTable(b.Rows, true, s.remindersOf(r.Context(), b.Rows, loc))
	for _, c := range lv.byDept {
		if f.Department == "" || c.Department == f.Department {
			b.Red, b.Yellow, b.Green = b.Red+c.Red, b.Yellow+c.Yellow, b.Green+c.Green
		}
	}
	b.Departments = []option2{{Value: "", Label: "全部部门"}}
	for _, d := range lv.departments() {
		if who.CanSeeDepartment(d) {
			b.Departments = append(b.Departments, option2{Value: d, Label: d, Selected: d == f.Department})
		}
	}
	b.Kinds = []option2{{Value: "", Label: "全部类型"}}
	for _, k := range lv.kinds {
		b.Kinds = append(b.Kinds, option2{Value: k, Label: kindName(k), Selected: k == f.Kind})
	}
	for _, l := range []struct{ v, n string }{{"", "红灯和黄灯"}, {"red", "红灯"}, {"yellow", "黄灯"}, {"green", "绿灯"}, {"all", "全部"}} {
		b.Levels = append(b.Levels, option2{Value: l.v, Label: l.n, Selected: l.v == f.Level})
	}
	s.render(w, http.StatusOK, "lights", &pageData{Title: "亮灯", Page: "lights", Who: who, Nav: nav(who, "lights", s.periodNow(), false),
		Body: b, Scripts: []string{"/assets/dashboard.js"}})
}

// lightTable renders the rows of a lights table. It is the pages' largest
// table (hundreds of rows): written here rather than by html/template,
// whose escaping per cell costs a hundred times more. Every text is
// escaped.
func lightTable(rows []lightRow, withDept, withReminders bool) template.HTML {
	var b strings.Builder
	b.Grow(len(rows) * 420)
	e := html.EscapeString
	b.WriteString(`<table class="table lights"><thead><tr><th>灯</th><th>类型</th><th>办件编号</th><th>环节 / 节点</th><th>事项</th>`)
	if withDept {
		b.WriteString(`<th>部门</th>`)
	}
	b.WriteString(`<th>到期</th><th>法定到期</th><th class="num">剩余 / 超期</th><th>责任人</th>`)
	if withReminders {
		b.WriteString(`<th>提醒与催办</th>`)
	}
	b.WriteString(`</tr></thead><tbody>`)
	for _, r := range rows {
		b.WriteString(`<tr><td><span class="light `)
		b.WriteString(e(r.Light))
		b.WriteString(`">`)
		b.WriteString(e(lightName(r.Light)))
		b.WriteString(`</span>`)
		if r.LegalOverdue {
			b.WriteString(` <span class="light legal">超法定</span>`)
		}
		if r.Provisional {
			b.WriteString(` <small title="日历数据未覆盖到期年份，按周末推算">暂定</small>`)
		}
		b.WriteString(`</td><td>`)
		b.WriteString(e(kindName(r.Kind)))
		b.WriteString(`</td><td class="mono">`)
		b.WriteString(e(r.CaseID))
		b.WriteString(`</td><td>`)
		b.WriteString(e(r.Item))
		b.WriteString(`</td><td>`)
		if r.Matter != "" {
			b.WriteString(`<a href="/matters/`)
			b.WriteString(e(url.PathEscape(r.Matter)))
			b.WriteString(`">`)
			b.WriteString(e(r.Matter))
			b.WriteString(`</a>`)
		}
		b.WriteString(`</td>`)
		if withDept {
			b.WriteString(`<td>`)
			b.WriteString(e(r.Department))
			b.WriteString(`</td>`)
		}
		b.WriteString(`<td>`)
		b.WriteString(e(r.Due))
		b.WriteString(`</td><td>`)
		b.WriteString(e(r.LegalDue))
		b.WriteString(`</td><td class="num">`)
		b.WriteString(e(r.Left))
		b.WriteString(`</td><td>`)
		b.WriteString(e(r.Responsible))
		b.WriteString(`</td>`)
		if withReminders {
			b.WriteString(`<td class="reminders">`)
			b.WriteString(e(r.Reminders))
			b.WriteString(`</td>`)
		}
		b.WriteString(`</tr>`)
	}
	b.WriteString(`</tbody></table>`)
	// Every value above went through html.EscapeString.
	return template.HTML(b.String())
}
