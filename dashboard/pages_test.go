package dashboard

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestPages runs the pages against one simulated city (building it is
// the slow part); each subtest is one behaviour.
func TestPages(t *testing.T) {
	c := newCity(t)
	top, err := c.api.BusiestMatters(context.Background(), mustPeriod(t, "2026-09"), 1)
	if err != nil || len(top) == 0 {
		t.Fatalf("busiest matter of September: %v %v", top, err)
	}
	matter := top[0].Matter

	t.Run("every page answers each role as the access rules say", func(t *testing.T) {
		type want struct{ leader, dept, inspector, anonymous int }
		all := want{200, 200, 200, 401}
		own := want{200, 403, 200, 401} // another department's details
		tests := []struct {
			path string
			page string // data-page of an HTML page; "" for JSON or CSV
			want want
		}{
			{"/", "cockpit", all},
			{"/?period=2026-09", "cockpit", all},
			{"/data/cockpit?period=2026-09", "", all},
			{"/rankings?period=2026-09", "rankings", all},
			{"/rankings?period=2026-09&subject=region&sort=total&order=desc", "rankings", all},
			{"/rankings?period=2026-09&format=csv", "", all},
			{"/departments/D01?period=2026-09", "portrait", all},
			{"/data/departments/D01?period=2026-09", "", all},
			{"/departments/D02?period=2026-09", "portrait", own},
			{"/data/departments/D02?period=2026-09", "", own},
			{"/departments/D01/deductions/S1.1?period=2026-09", "deductions", all},
			{"/departments/D01/deductions/E4.1?period=2026-09", "deductions", all},
			{"/departments/D02/deductions/S2.2?period=2026-09", "deductions", own},
			{"/lights", "lights", all},
			{"/lights?level=red&kind=service", "lights", all},
			{"/lights?department=D02", "lights", own},
			{"/matters/" + matter + "?period=2026-09", "matter", all},
			{"/data/matters/" + matter + "?period=2026-09", "", all},
			{"/manual?department=D01&period=2026-09", "manual", all},
			{"/manual?department=D02&period=2026-09", "manual", own},
		}
		for _, tt := range tests {
			for _, role := range []struct {
				token string
				code  int
			}{{leaderToken, tt.want.leader}, {deptToken, tt.want.dept}, {inspectorToken, tt.want.inspector}, {"", tt.want.anonymous}} {
				w := c.get(t, tt.path, role.token)
				if w.Code != role.code {
					t.Errorf("GET %s as %q: %d, want %d: %.300s", tt.path, role.token, w.Code, role.code, w.Body.String())
					continue
				}
				if w.Code == 200 && tt.page != "" && !strings.Contains(w.Body.String(), fmt.Sprintf(`<main data-page="%s"`, tt.page)) {
					t.Errorf("GET %s as %q: no <main data-page=%q>", tt.path, role.token, tt.page)
				}
			}
		}
	})

	t.Run("bad requests say what to send", func(t *testing.T) {
		for _, path := range []string{
			"/?period=2026-9", "/rankings?subject=street", "/rankings?sort=colour",
			"/lights?level=purple", "/departments/D01/deductions/S1.1?page=0",
		} {
			w := c.get(t, path, leaderToken)
			if w.Code != http.StatusBadRequest {
				t.Errorf("GET %s: %d, want 400", path, w.Code)
			}
		}
		if w := c.get(t, "/departments/D01/deductions/X9.9?period=2026-09", leaderToken); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "S1.1") {
			t.Errorf("unknown indicator: %d %.200s", w.Code, w.Body.String())
		}
	})

	t.Run("an empty period shows its empty state and the last period with data, never a 500", func(t *testing.T) {
		// The city's cases begin on 2026-09-01: August has begun but has
		// no data, and nothing before it has; 2030 has not begun.
		tests := []struct {
			path     string
			lastLink bool // a link to a period with data is expected
		}{
			{"/?period=2026-08", false},
			{"/?period=2030-01", true},
			{"/?period=2026-08-15", false},
			{"/rankings?period=2030-Q1", true},
			{"/rankings?period=2026-08", false},
			{"/departments/D01?period=2026-08", false},
			{"/departments/D01?period=2030-01", true},
			{"/departments/D01/deductions/S1.1?period=2030-01", true},
			{"/departments/NOPE?period=2026-09", false},
			{"/matters/" + matter + "?period=2026-08", false},
			{"/matters/NO-SUCH?period=2026-09", false},
		}
		for _, tt := range tests {
			w := c.get(t, tt.path, leaderToken)
			body := w.Body.String()
			if w.Code != http.StatusOK || !strings.Contains(body, `class="empty`) {
				t.Errorf("GET %s: %d, empty state %v: %.300s", tt.path, w.Code, strings.Contains(body, `class="empty`), body)
				continue
			}
			if has := strings.Contains(body, "period=2026-"); tt.lastLink && !has {
				t.Errorf("GET %s: no link to the last period with data", tt.path)
			}
			// No chart is left blank: one without data is hidden behind
			// its empty state.
			for _, m := range regexp.MustCompile(`data-chart="(\w+)" hidden>`).FindAllStringSubmatch(body, -1) {
				if !strings.Contains(body, `data-empty-for="`+m[1]+`"`) {
					t.Errorf("GET %s: chart %s has neither data nor its empty state", tt.path, m[1])
				}
			}
		}
		var d dataPayload
		w := c.get(t, "/data/cockpit?period=2026-08", leaderToken)
		if err := json.Unmarshal(w.Body.Bytes(), &d); w.Code != 200 || err != nil {
			t.Fatalf("cockpit data of an empty month: %d %v", w.Code, err)
		}
		if d.Notice == nil || d.Charts["rank_dept"] != nil || d.Empty["rank_dept"] == "" {
			t.Errorf("cockpit data of an empty month: notice %+v, rank_dept %v, empty %q", d.Notice, d.Charts["rank_dept"], d.Empty["rank_dept"])
		}
	})

	t.Run("cockpit data holds every chart with series and the figures", func(t *testing.T) {
		var d dataPayload
		w := c.get(t, "/data/cockpit?period=2026-09", leaderToken)
		if err := json.Unmarshal(w.Body.Bytes(), &d); w.Code != 200 || err != nil {
			t.Fatalf("%d %v", w.Code, err)
		}
		for _, name := range []string{"rank_dept", "rank_region", "trend", "lights", "lines"} {
			o := d.Charts[name]
			series, _ := o["series"].([]any)
			if len(series) == 0 {
				t.Errorf("chart %s: no series (%v)", name, d.Empty[name])
				continue
			}
			if data, _ := series[0].(map[string]any)["data"].([]any); len(data) == 0 {
				t.Errorf("chart %s: no data", name)
			}
		}
		if got := len(d.Links["rank_dept"]); got < 10 {
			t.Errorf("%d department links", got)
		}
		for _, k := range []string{"city.total", "cur.accepted", "cur.on_time", "lights.red"} {
			if v := d.Text[k]; v == "" || v == dash {
				t.Errorf("figure %s = %q", k, v)
			}
		}
		if !strings.HasSuffix(d.Text["cur.on_time"], "%") {
			t.Errorf("on-time rate %q is not a percentage", d.Text["cur.on_time"])
		}
		// The page has the same figures server-rendered, and every chart
		// slot, for the script to fill.
		page := c.get(t, "/?period=2026-09", leaderToken).Body.String()
		for _, name := range []string{"rank_dept", "rank_region", "trend", "lights", "lines"} {
			if !strings.Contains(page, `data-chart="`+name+`"`) {
				t.Errorf("cockpit page has no chart %s", name)
			}
		}
		if !strings.Contains(page, d.Text["city.total"]) || !strings.Contains(page, `data-refresh="60"`) {
			t.Errorf("cockpit page lacks the city index %s or the refresh interval", d.Text["city.total"])
		}
	})

	t.Run("a department user sees only its own lights on the cockpit and the lights page", func(t *testing.T) {
		var d dataPayload
		w := c.get(t, "/data/cockpit?period=2026-09", deptToken)
		if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		for _, l := range d.Links["lights"] {
			if l != "/lights?department=D01" {
				t.Errorf("light board links %s", l)
			}
		}
		for _, l := range d.Links["rank_dept"] {
			if l != "" && !strings.HasPrefix(l, "/departments/D01") {
				t.Errorf("ranking links to %s", l)
			}
		}
		page := c.get(t, "/lights?level=all", deptToken).Body.String()
		rows := regexp.MustCompile(`<td>(D\d\d)</td>`).FindAllStringSubmatch(page, -1)
		if len(rows) == 0 {
			t.Fatal("D01 has no open items in the simulated city")
		}
		for _, m := range rows {
			if m[1] != "D01" {
				t.Fatalf("department user sees an item of %s", m[1])
			}
		}
	})

	t.Run("the self-portrait lists the 40 indicators by dimension with links to their deductions", func(t *testing.T) {
		body := c.get(t, "/departments/D01?period=2026-09", deptToken).Body.String()
		links := regexp.MustCompile(`href="/departments/D01/deductions/([A-Z]\d\.\d)`).FindAllStringSubmatch(body, -1)
		if len(links) != 40 {
			t.Errorf("%d points-lost links, want 40", len(links))
		}
		for _, want := range []string{"政务服务效能", "协同办事效能", "执行效能", "按时办结率", `data-chart="radar"`, `data-chart="trend"`, "<svg class=\"spark\""} {
			if !strings.Contains(body, want) {
				t.Errorf("portrait lacks %s", want)
			}
		}
		var d dataPayload
		if err := json.Unmarshal(c.get(t, "/data/departments/D01?period=2026-09", deptToken).Body.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		radar := d.Charts["radar"]
		ind, _ := radar["radar"].(map[string]any)["indicator"].([]any)
		if len(ind) != 14 {
			t.Errorf("radar has %d first-level indicators, want 14", len(ind))
		}
		deds := c.get(t, "/departments/D01/deductions/S2.2?period=2026-09", deptToken).Body.String()
		if !strings.Contains(deds, "零次跑率") || !strings.Contains(deds, "<td class=\"mono\">") {
			t.Errorf("deductions of S2.2 list no case: %.500s", deds)
		}
	})

	t.Run("rankings export as CSV with a BOM that round-trips the Chinese text", func(t *testing.T) {
		w := c.get(t, "/rankings?period=2026-09&format=csv", deptToken)
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") || !strings.Contains(w.Header().Get("Content-Disposition"), "attachment") {
			t.Fatalf("Content-Type %q, Content-Disposition %q", ct, w.Header().Get("Content-Disposition"))
		}
		b := w.Body.Bytes()
		if !bytes.HasPrefix(b, []byte("\xEF\xBB\xBF")) {
			t.Fatalf("no UTF-8 BOM: % x", b[:min(8, len(b))])
		}
		recs, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		sc, _ := c.api.Scores(context.Background(), mustPeriod(t, "2026-09"), "department")
		if len(recs) != len(sc.Cards)+1 {
			t.Fatalf("%d rows, want a header and %d departments", len(recs), len(sc.Cards))
		}
		if want := []string{"排名", "部门编码", "改革效能指数", "政务服务效能"}; strings.Join(recs[0][:4], ",") != strings.Join(want, ",") {
			t.Errorf("header %v", recs[0])
		}
		if recs[1][0] != "1" || recs[1][1] != sc.Cards[0].Subject || recs[1][len(recs[1])-1] != "2026-09" {
			t.Errorf("first row %v, best is %s", recs[1], sc.Cards[0].Subject)
		}
		bands := map[string]bool{"优秀": true, "良好": true, "一般": true, "待改进": true, "无数据": true}
		for _, r := range recs[1:] {
			if !bands[r[6]] {
				t.Errorf("band %q in %v", r[6], r)
			}
		}
		// Sorting applies to the export too.
		w = c.get(t, "/rankings?period=2026-09&format=csv&sort=subject&order=desc", leaderToken)
		recs, _ = csv.NewReader(bytes.NewReader(w.Body.Bytes()[3:])).ReadAll()
		if len(recs) > 2 && recs[1][1] < recs[2][1] {
			t.Errorf("sorted by subject descending: %s before %s", recs[1][1], recs[2][1])
		}
	})

	t.Run("the manual form rejects a POST without its CSRF token", func(t *testing.T) {
		form := func(tok string) url.Values {
			return url.Values{"csrf": {tok}, "department": {"D03"}, "period": {"2026-10"}, "indicator": {"E4.1"}, "value": {"95%"}, "note": {"抽查20件，合格19件"}}
		}
		page := c.get(t, "/manual?department=D03&period=2026-10", inspectorToken)
		var cookie *http.Cookie
		for _, ck := range page.Result().Cookies() {
			if ck.Name == csrfCookie {
				cookie = ck
			}
		}
		if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
			t.Fatalf("no HttpOnly SameSite=Strict CSRF cookie: %+v", cookie)
		}
		if !strings.Contains(page.Body.String(), `name="csrf" value="`+cookie.Value+`"`) {
			t.Fatal("the form does not carry the token")
		}
		other := &http.Cookie{Name: csrfCookie, Value: strings.Repeat("ab", 32)}
		tests := []struct {
			name   string
			rq     request
			code   int
			stored bool
		}{
			{"no token at all", request{token: inspectorToken, form: form("")}, 403, false},
			{"token without the cookie", request{token: inspectorToken, form: form(cookie.Value)}, 403, false},
			{"token of another cookie", request{token: inspectorToken, form: form(cookie.Value), cookies: []*http.Cookie{other}}, 403, false},
			{"cross-site, token and cookie right", request{token: inspectorToken, form: form(cookie.Value), cookies: []*http.Cookie{cookie}, header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403, false},
			{"a leader may not enter", request{token: leaderToken, form: form(cookie.Value), cookies: []*http.Cookie{cookie}}, 403, false},
			{"a department may not enter", request{token: deptToken, form: form(cookie.Value), cookies: []*http.Cookie{cookie}}, 403, false},
			{"not signed in", request{form: form(cookie.Value), cookies: []*http.Cookie{cookie}}, 401, false},
			{"an inspector with the form's token", request{token: inspectorToken, form: form(cookie.Value), cookies: []*http.Cookie{cookie}}, 303, true},
		}
		for _, tt := range tests {
			tt.rq.method, tt.rq.path = http.MethodPost, "/manual"
			w := c.do(t, tt.rq)
			if w.Code != tt.code {
				t.Errorf("%s: %d, want %d: %.300s", tt.name, w.Code, tt.code, w.Body.String())
			}
			hist, err := c.api.Manual().History(context.Background(), "D03", "E4.1", mustPeriod(t, "2026-10"))
			if err != nil {
				t.Fatal(err)
			}
			if stored := len(hist) > 0; stored != tt.stored {
				t.Fatalf("%s: stored %v, want %v", tt.name, stored, tt.stored)
			}
			if tt.stored && (hist[0].Value != 0.95 || hist[0].Inspector != "张督查") {
				t.Errorf("%s: stored %+v", tt.name, hist[0])
			}
		}
		// The audit trail shows the entry; a bad value is refused with a
		// message and nothing stored.
		trail := c.get(t, "/manual?department=D03&period=2026-10", leaderToken).Body.String()
		if !strings.Contains(trail, "抽查20件，合格19件") || !strings.Contains(trail, "95.0%") || !strings.Contains(trail, "首次录入") {
			t.Errorf("audit trail lacks the entry")
		}
		bad := form(cookie.Value)
		bad.Set("value", "1.5")
		w := c.do(t, request{method: http.MethodPost, path: "/manual", token: inspectorToken, form: bad, cookies: []*http.Cookie{cookie}})
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `role="alert"`) {
			t.Errorf("value 1.5 for a ratio: %d", w.Code)
		}
		if hist, _ := c.api.Manual().History(context.Background(), "D03", "E4.1", mustPeriod(t, "2026-10")); len(hist) != 1 {
			t.Errorf("%d entries after a refused one", len(hist))
		}
	})

	t.Run("every answer carries the security headers and loads nothing from elsewhere", func(t *testing.T) {
		inline := regexp.MustCompile(`<script\b[^>]*>`)
		external := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`)
		for _, rq := range []request{
			{path: "/", token: leaderToken},
			{path: "/?period=2030-01", token: leaderToken},
			{path: "/data/cockpit", token: leaderToken},
			{path: "/rankings?period=2026-09", token: deptToken},
			{path: "/rankings?period=2026-09&format=csv", token: deptToken},
			{path: "/departments/D01?period=2026-09", token: deptToken},
			{path: "/departments/D02?period=2026-09", token: deptToken}, // 403
			{path: "/lights", token: inspectorToken},
			{path: "/matters/" + matter + "?period=2026-09", token: leaderToken},
			{path: "/manual?department=D01", token: inspectorToken},
			{path: "/lights"}, // 401
			{path: "/assets/dashboard.js"},
			{path: "/assets/echarts.min.js"},
		} {
			w := c.do(t, rq)
			h := w.Header()
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"script-src 'self'", "frame-ancestors 'self'", "default-src 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("GET %s: CSP %q lacks %s", rq.path, csp, want)
				}
			}
			for _, d := range strings.Split(csp, ";") {
				if f := strings.Fields(d); len(f) > 0 && (f[0] == "script-src" || f[0] == "default-src") && len(f) > 1 {
					if strings.Contains(d, "unsafe") || strings.Contains(d, "*") || strings.Contains(d, "http") {
						t.Errorf("GET %s: CSP lets scripts in from elsewhere: %s", rq.path, d)
					}
				}
			}
			if h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("GET %s: no nosniff", rq.path)
			}
			if strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				body := w.Body.String()
				for _, tag := range inline.FindAllString(body, -1) {
					if !strings.Contains(tag, ` src="/assets/`) {
						t.Errorf("GET %s: inline or foreign script %s", rq.path, tag)
					}
				}
				if m := external.FindString(body); m != "" {
					t.Errorf("GET %s: loads from elsewhere: %s", rq.path, m)
				}
				if !strings.Contains(body, `src="/assets/echarts.min.js"`) && w.Code == 200 && strings.Contains(body, "data-chart") {
					t.Errorf("GET %s: charts without ECharts from /assets/", rq.path)
				}
			}
		}
	})
}
