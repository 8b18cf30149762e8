package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"effidx/indices"
)

// The manual-entry form is protected against cross-site request forgery
// by a double-submit token: a random value in a SameSite=Strict,
// HttpOnly cookie that the form repeats in a hidden field. Another site
// can make a browser send the cookie (not with Strict, in current
// browsers) but cannot read it to fill the field. It needs no server
// state, so it works on every replica.
const (
	csrfCookie = "effidx_csrf"
	csrfField  = "csrf"
)

// csrfToken is the caller's token, set as a cookie when it has none.
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 64 {
		if _, err := hex.DecodeString(c.Value); err == nil {
			return c.Value
		}
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/manual", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https", MaxAge: 12 * 3600})
	return tok
}

// checkCSRF says why a POST is not from our own form, or nil.
func checkCSRF(r *http.Request) error {
	// Browsers say where a request comes from; a cross-site one is never
	// our form, whatever it carries.
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return errors.New("cross-site request")
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return errors.New("no CSRF cookie")
	}
	f := r.PostFormValue(csrfField)
	if f == "" || subtle.ConstantTimeCompare([]byte(f), []byte(c.Value)) != 1 {
		return errors.New("CSRF token does not match")
	}
	return nil
}

type manualBody struct {
	Dept, PeriodText string
	Depts            []string
	CanWrite, Fixed  bool
	CSRF             string
	Inds             []manualInd
	Saved            string
	Error            string
	Portrait         string
}

type manualInd struct {
	ID, Name, Unit, Hint, Explain, Current string
	Value, Note                            string // echoed after a rejected entry
	Entries                                []manualEntry
}

type manualEntry struct {
	At, Inspector, Value, Previous, Note string
}

// unitHint says how to enter a value of unit u.
func unitHint(u indices.Unit) string {
	switch u {
	case indices.Ratio:
		return "比例 0–1，如 0.95，或写 95%"
	case indices.ScoreUnit:
		return "分数 0–100，如 85"
	}
	return string(u)
}

// parseValue reads an entered value; "95%" is 0.95 for a ratio.
func parseValue(s string, u indices.Unit) (float64, error) {
	s = strings.TrimSpace(s)
	pct := strings.HasSuffix(s, "%") || strings.HasSuffix(s, "％")
	s = strings.TrimSuffix(strings.TrimSuffix(s, "%"), "％")
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !finite(v) {
		return 0, fmt.Errorf("数值 %q 不是数字：%s", s, unitHint(u))
	}
	if pct {
		if u != indices.Ratio {
			return 0, fmt.Errorf("这个指标是分数，不用百分号：%s", unitHint(u))
		}
		v /= 100
	}
	return v, nil
}

func (s *Server) manualPage(w http.ResponseWriter, r *http.Request) {
	s.manualRender(w, r, http.StatusOK, "", nil)
}

// manualRender renders the form; with errMsg (a rejected entry) the
// entered values in echo are shown again.
func (s *Server) manualRender(w http.ResponseWriter, r *http.Request, code int, errMsg string, echo map[string][2]string) {
	who := identity(r)
	q := r.URL.Query()
	dept, ptext := q.Get("department"), q.Get("period")
	if r.Method == http.MethodPost {
		dept, ptext = r.PostFormValue("department"), r.PostFormValue("period")
	}
	if !who.SeesAll() {
		if dept != "" && dept != who.Department {
			s.forbidden(w, r)
			return
		}
		dept = who.Department
	}
	p := indices.PeriodOf(indices.Month, s.api.Now())
	explicit := false
	if ptext != "" {
		var err error
		if p, err = indices.ParsePeriod(ptext); err != nil {
			s.fail(w, r, http.StatusBadRequest, err.Error())
			return
		}
		explicit = true
	}
	b := &manualBody{Dept: dept, PeriodText: p.String(), CanWrite: who.CanWriteManual(), Fixed: !who.SeesAll(),
		Saved: q.Get("saved"), Error: errMsg}
	if b.CanWrite {
		b.CSRF = csrfToken(w, r)
	}
	// Departments to pick from: those scored in the period and those with
	// open items; any other code may be typed.
	seen := map[string]bool{}
	if cards, err := s.api.Cards(r.Context(), p); err == nil {
		for _, cd := range cards {
			if cd.SubjectType == indices.SubjectDepartment {
				seen[cd.Subject] = true
			}
		}
	}
	if lv, err := s.lightView(r.Context()); err == nil {
		for d := range lv.byDept {
			seen[d] = true
		}
	}
	for d := range seen {
		if who.CanSeeDepartment(d) {
			b.Depts = append(b.Depts, d)
		}
	}
	sort.Strings(b.Depts)
	if dept != "" {
		b.Portrait = href("/departments/"+escapeID(dept), "period", p.String())
		loc := s.api.Now().Location()
		for _, ind := range s.api.Catalog().Indicators() {
			if !ind.Manual {
				continue
			}
			mi := manualInd{ID: ind.ID, Name: ind.NameZH, Unit: string(ind.Unit), Hint: unitHint(ind.Unit), Explain: ind.Explain, Current: "未录入"}
			if e, ok := echo[ind.ID]; ok {
				mi.Value, mi.Note = e[0], e[1]
			}
			hist, err := s.manual.History(r.Context(), dept, ind.ID, p)
			if err != nil {
				s.failErr(w, r, "人工评分记录", err)
				return
			}
			for i := len(hist) - 1; i >= 0; i-- {
				e := hist[i]
				me := manualEntry{At: clock(e.EnteredAt, loc), Inspector: e.Inspector, Value: value(e.Value, ind.Unit), Previous: "首次录入", Note: e.Note}
				if e.Previous != nil {
					me.Previous = value(*e.Previous, ind.Unit)
				}
				mi.Entries = append(mi.Entries, me)
			}
			if len(hist) > 0 {
				mi.Current = value(hist[len(hist)-1].Value, ind.Unit)
			}
			b.Inds = append(b.Inds, mi)
		}
	}
	s.render(w, code, "manual", &pageData{Title: "人工评分（核查验收）", Page: "manual", Who: who, Nav: nav(who, "manual", p, explicit),
		Period: p, Body: b, Scripts: []string{"/assets/dashboard.js"}})
}

// maxManualForm bounds the form body (a note is at most 2000 characters).
const maxManualForm = 64 << 10

func (s *Server) manualPost(w http.ResponseWriter, r *http.Request) {
	who := identity(r)
	if !who.CanWriteManual() {
		s.fail(w, r, http.StatusForbidden, fmt.Sprintf("只有督查人员（inspector）可以录入人工评分；您当前的身份是 %s。", who))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxManualForm)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "表单无法读取（"+err.Error()+"）：请刷新页面后重新提交。")
		return
	}
	if err := checkCSRF(r); err != nil {
		s.log.Warn("dashboard: manual entry rejected by the CSRF check", "user", who.Name, "why", err.Error())
		s.fail(w, r, http.StatusForbidden, "表单已失效，未保存（跨站请求伪造校验未通过）：请刷新人工评分页面后重新提交。")
		return
	}
	dept, id := strings.TrimSpace(r.PostFormValue("department")), r.PostFormValue("indicator")
	p, err := indices.ParsePeriod(r.PostFormValue("period"))
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ind := s.api.Catalog().Indicator(id)
	if ind == nil || !ind.Manual {
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("指标 %q 不是人工录入的指标（人工录入的是 E4.1–E4.4）", id))
		return
	}
	raw, note := r.PostFormValue("value"), r.PostFormValue("note")
	echo := map[string][2]string{id: {raw, note}}
	v, err := parseValue(raw, ind.Unit)
	if err != nil {
		s.manualRender(w, r, http.StatusBadRequest, fmt.Sprintf("%s %s：%v", ind.ID, ind.NameZH, err), echo)
		return
	}
	if _, err := s.manual.Put(r.Context(), dept, id, p, v, who.Name, note); err != nil {
		if errors.Is(err, indices.ErrInvalidEntry) || errors.Is(err, indices.ErrNotManual) {
			s.manualRender(w, r, http.StatusBadRequest, fmt.Sprintf("%s %s 未保存：%v", ind.ID, ind.NameZH, err), echo)
			return
		}
		s.failErr(w, r, "保存人工评分", err)
		return
	}
	// The scores changed: the pages' own caches must not show the old.
	s.cockpitCache.forget()
	s.viewCache.forget()
	s.pageCache.forget()
	s.log.Info("dashboard: manual value entered", "inspector", who.Name, "department", dept, "indicator", id, "period", p.String())
	http.Redirect(w, r, href("/manual", "department", dept, "period", p.String(), "saved", id), http.StatusSeeOther)
}
