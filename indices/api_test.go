package indices

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"testing"
	"time"

	"effidx/access"
)

// apiServer is the index API as serve wires it, over a 40-day city
// (September 2026 and ten days of October), with September computed as
// of 2026-11-01.
func apiServer(t *testing.T) (http.Handler, *Job) {
	h, j, _ := apiServerAPI(t)
	return h, j
}

func apiServerAPI(t *testing.T) (http.Handler, *Job, *API) {
	t.Helper()
	wh := smallCity(t)
	j, _ := newTestJob(t, wh, "", time.Date(2026, 11, 1, 9, 0, 0, 0, time.FixedZone("CST", 8*3600)))
	if _, _, err := j.ComputePeriod(context.Background(), mustPeriod(t, "2026-09")); err != nil {
		t.Fatal(err)
	}
	cfg := access.Config{Users: []access.User{
		{Name: "王局长", Role: access.Leader, SHA256: manualTokenHash("lead")},
		{Name: "李科长", Role: access.Department, Department: "D01", SHA256: manualTokenHash("dept")},
		{Name: "张督查", Role: access.Inspector, SHA256: manualTokenHash("insp")},
	}}
	api := NewAPI(j, NewManual(wh, j.Catalog(), nil), slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	mux := http.NewServeMux()
	api.Register(func(pattern string, h http.Handler) { mux.Handle(pattern, h) })
	return access.New(cfg, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))).Middleware(mux), j, api
}

func getJSON[T any](t *testing.T, h http.Handler, path, token string, wantCode int) T {
	t.Helper()
	w := manualDo(t, h, http.MethodGet, path, token, "")
	if w.Code != wantCode {
		t.Fatalf("GET %s as %q: %d %s, want %d", path, token, w.Code, w.Body.String(), wantCode)
	}
	var v T
	if wantCode == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, w.Body.String())
		}
	}
	return v
}

type wireCard struct {
	SubjectType string   `json:"subject_type"`
	Subject     string   `json:"subject"`
	Total       *float64 `json:"total"`
	Rank        int      `json:"rank"`
	Indicators  []struct {
		ID          string   `json:"id"`
		Value       *float64 `json:"value"`
		Numerator   *float64 `json:"numerator"`
		Denominator *float64 `json:"denominator"`
		Score       *float64 `json:"score"`
		Deduction   float64  `json:"deduction"`
		NA          bool     `json:"na"`
	} `json:"indicators"`
}

func TestScoresRankEveryDepartmentBestFirst(t *testing.T) {
	h, _ := apiServer(t)
	got := getJSON[struct {
		Period string     `json:"period"`
		Cards  []wireCard `json:"cards"`
	}](t, h, "/api/v1/scores?period=2026-09", "dept", http.StatusOK)
	if got.Period != "2026-09" || len(got.Cards) < 10 {
		t.Fatalf("period %s, %d departments", got.Period, len(got.Cards))
	}
	for i, c := range got.Cards {
		if c.SubjectType != SubjectDepartment || c.Total == nil || c.Rank < 1 {
			t.Fatalf("card %d: %+v", i, c)
		}
		if i > 0 {
			prev := got.Cards[i-1]
			if *prev.Total < *c.Total || prev.Rank > c.Rank {
				t.Fatalf("not best first: %s %.4f rank %d before %s %.4f rank %d", prev.Subject, *prev.Total, prev.Rank, c.Subject, *c.Total, c.Rank)
			}
		}
		if len(c.Indicators) != 40 {
			t.Fatalf("%s has %d indicators", c.Subject, len(c.Indicators))
		}
	}
	if got.Cards[0].Rank != 1 {
		t.Fatalf("best rank %d", got.Cards[0].Rank)
	}
	regions := getJSON[struct {
		Cards []wireCard `json:"cards"`
	}](t, h, "/api/v1/scores?period=2026-09&subject=region", "lead", http.StatusOK)
	if len(regions.Cards) == 0 || regions.Cards[0].SubjectType != SubjectRegion {
		t.Fatalf("region ranking: %+v", regions.Cards)
	}
	getJSON[any](t, h, "/api/v1/scores?period=2026-9", "lead", http.StatusBadRequest)
	getJSON[any](t, h, "/api/v1/scores?period=2026-09&subject=street", "lead", http.StatusBadRequest)
	getJSON[any](t, h, "/api/v1/scores?period=2026-09", "", http.StatusUnauthorized)
	getJSON[any](t, h, "/api/v1/scores?period=2030-01", "lead", http.StatusNotFound)
}

func TestAPeriodNeverComputedIsComputedOnFirstRequest(t *testing.T) {
	h, j := apiServer(t)
	if _, ok, _ := j.Store().Read(context.Background(), mustPeriod(t, "2026-10-09")); ok {
		t.Fatal("setup: 2026-10-09 already computed")
	}
	got := getJSON[struct {
		Cards []wireCard `json:"cards"`
	}](t, h, "/api/v1/scores?period=2026-10-09", "lead", http.StatusOK)
	if len(got.Cards) == 0 {
		t.Fatal("no departments for a working day of the city")
	}
	if _, ok, _ := j.Store().Read(context.Background(), mustPeriod(t, "2026-10-09")); !ok {
		t.Fatal("the computed period was not stored")
	}
}

func TestPortraitShowsAllFortyIndicatorsToItsOwnDepartmentOnly(t *testing.T) {
	h, j := apiServer(t)
	type wireInd struct {
		ID        string   `json:"id"`
		NameZH    string   `json:"name_zh"`
		CityValue *float64 `json:"city_value"`
		CityMean  *float64 `json:"city_mean"`
		Score     struct {
			Value     *float64 `json:"value"`
			Effective float64  `json:"effective"`
			Deduction float64  `json:"deduction"`
			NA        bool     `json:"na"`
		} `json:"score"`
	}
	got := getJSON[struct {
		Department string    `json:"department"`
		Ranked     int       `json:"ranked"`
		Card       wireCard  `json:"card"`
		Indicators []wireInd `json:"indicators"`
	}](t, h, "/api/v1/portrait/D01?period=2026-09", "dept", http.StatusOK)
	if got.Department != "D01" || len(got.Indicators) != 40 || got.Ranked < 10 || got.Card.Rank < 1 {
		t.Fatalf("portrait: department %s, %d indicators, %d ranked, rank %d", got.Department, len(got.Indicators), got.Ranked, got.Card.Rank)
	}
	// The deductions add up to what D01 lost: 100 - total.
	lost := 0.0
	for _, ind := range got.Indicators {
		lost += ind.Score.Deduction
		if ind.NameZH == "" {
			t.Errorf("%s has no Chinese name", ind.ID)
		}
	}
	if math.Abs(lost-(100-*got.Card.Total)) > 1e-2 {
		t.Errorf("deductions add up to %.4f, total is %.4f", lost, *got.Card.Total)
	}
	// The city value is the city's own result.
	c, _, _ := j.Store().Read(context.Background(), mustPeriod(t, "2026-09"))
	s11 := lookupResult(c.Results, SubjectCity, CityID, "S1.1")
	if got.Indicators[0].ID != "S1.1" || got.Indicators[0].CityValue == nil || math.Abs(*got.Indicators[0].CityValue-s11.Value) > 1e-4 {
		t.Errorf("S1.1 city value %v, want %v", got.Indicators[0].CityValue, s11.Value)
	}
	// E4.x were never entered: n/a, not zero.
	for _, ind := range got.Indicators[33:37] {
		if !ind.Score.NA || ind.Score.Value != nil {
			t.Errorf("%s: %+v, want n/a", ind.ID, ind.Score)
		}
	}
	getJSON[any](t, h, "/api/v1/portrait/D02?period=2026-09", "dept", http.StatusForbidden)
	getJSON[any](t, h, "/api/v1/portrait/D02?period=2026-09", "lead", http.StatusOK)
	getJSON[any](t, h, "/api/v1/portrait/D02?period=2026-09", "insp", http.StatusOK)
	getJSON[any](t, h, "/api/v1/portrait/NOPE?period=2026-09", "lead", http.StatusNotFound)
}

func TestDeductionsListExactlyTheItemsThatLostPoints(t *testing.T) {
	h, j := apiServer(t)
	c, _, _ := j.Store().Read(context.Background(), mustPeriod(t, "2026-09"))
	type page struct {
		Total    uint64 `json:"total"`
		Page     int    `json:"page"`
		PageSize int    `json:"page_size"`
		Items    []struct {
			CaseID      string     `json:"case_id"`
			Item        string     `json:"item"`
			Start       *time.Time `json:"start"`
			End         *time.Time `json:"end"`
			Numerator   float64    `json:"numerator"`
			Denominator float64    `json:"denominator"`
			What        string     `json:"what"`
		} `json:"items"`
	}
	// For a ratio of counts, the items behind the lost points are those in
	// the denominator and not in the numerator: den - num of them.
	for _, id := range []string{"S1.1", "S2.2", "S5.2", "C2.2", "C3.1", "E2.1", "E3.1", "E5.2"} {
		for _, dept := range []string{"D01", "D05", "D12"} {
			r := lookupResult(c.Results, SubjectDepartment, dept, id)
			want := uint64(0)
			if !math.IsNaN(r.Value) {
				want = uint64(r.Denominator - r.Numerator)
			}
			got := getJSON[page](t, h, fmt.Sprintf("/api/v1/deductions/%s/%s?period=2026-09&page_size=500", dept, id), "lead", http.StatusOK)
			if got.Total != want || uint64(len(got.Items)) != min(want, 500) {
				t.Errorf("%s %s: %d items (%d listed), results say %v - %v = %d", dept, id, got.Total, len(got.Items), r.Denominator, r.Numerator, want)
			}
			for _, it := range got.Items {
				if it.Numerator >= it.Denominator || it.What == "" || it.CaseID == "" || it.Start == nil {
					t.Errorf("%s %s: item %+v", dept, id, it)
					break
				}
			}
		}
	}
	// Paging: two pages of 2 are the first 4 items.
	all := getJSON[page](t, h, "/api/v1/deductions/D01/S2.2?period=2026-09&page_size=4", "lead", http.StatusOK)
	p2 := getJSON[page](t, h, "/api/v1/deductions/D01/S2.2?period=2026-09&page=2&page_size=2", "lead", http.StatusOK)
	if len(all.Items) < 4 || len(p2.Items) != 2 || p2.Items[0].CaseID != all.Items[2].CaseID || p2.Items[1].CaseID != all.Items[3].CaseID {
		t.Fatalf("page 2 of 2 is not items 3 and 4 of the first 4")
	}
	getJSON[any](t, h, "/api/v1/deductions/D02/S1.1?period=2026-09", "dept", http.StatusForbidden)
	getJSON[any](t, h, "/api/v1/deductions/D01/X9.9?period=2026-09", "dept", http.StatusNotFound)
	getJSON[any](t, h, "/api/v1/deductions/D01/S1.1?period=2026-09&page=0", "dept", http.StatusBadRequest)
}

func TestMatterLinesAreLegalAbovePromisedAboveActual(t *testing.T) {
	h, j := apiServer(t)
	// The busiest matter of September.
	var matter string
	q := fmt.Sprintf(`SELECT matter FROM %s.events WHERE kind = 'service' AND type = 'completed' AND toYYYYMM(at) = 202609
GROUP BY matter ORDER BY count() DESC, matter LIMIT 1`, j.wh.Database())
	if err := j.wh.Conn().QueryRow(context.Background(), q).Scan(&matter); err != nil {
		t.Fatal(err)
	}
	type lines struct {
		Matter      string   `json:"matter"`
		MatterName  string   `json:"matter_name"`
		Cases       uint64   `json:"cases"`
		Legal       *float64 `json:"legal_days"`
		Promised    *float64 `json:"promised_days"`
		Actual      *float64 `json:"actual_days"`
		Departments []struct {
			Department string `json:"department"`
			Cases      uint64 `json:"cases"`
		} `json:"departments"`
	}
	got := getJSON[lines](t, h, "/api/v1/matters/"+matter+"/lines?period=2026-09", "dept", http.StatusOK)
	if got.Cases == 0 || got.MatterName == "" || got.Legal == nil || got.Promised == nil || got.Actual == nil {
		t.Fatalf("lines of %s: %+v", matter, got)
	}
	if !(*got.Legal >= *got.Promised && *got.Promised >= *got.Actual) {
		t.Errorf("%s: legal %.2f, promised %.2f, actual %.2f: the reform's three lines should fall", matter, *got.Legal, *got.Promised, *got.Actual)
	}
	sum := uint64(0)
	for _, d := range got.Departments {
		sum += d.Cases
	}
	if sum != got.Cases {
		t.Errorf("departments add up to %d cases, total %d", sum, got.Cases)
	}
	getJSON[any](t, h, "/api/v1/matters/NO-SUCH-MATTER/lines?period=2026-09", "dept", http.StatusNotFound)
}

// testWriter logs through t, so a server error shows in the test output.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func TestTrendBusiestMattersAndTheLastPeriodWithData(t *testing.T) {
	_, j, api := apiServerAPI(t)
	ctx := context.Background()
	// The city has data from 2026-09-01 to 2026-10-10; "now" is
	// 2026-11-01. August is empty, September and October have data.
	trend, err := api.Trend(ctx, SubjectCity, CityID, mustPeriod(t, "2026-11"), 4)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range trend {
		got = append(got, fmt.Sprintf("%s:%v", p.Period, !math.IsNaN(float64(p.Total))))
	}
	if want := "[2026-08:false 2026-09:true 2026-10:true 2026-11:false]"; fmt.Sprint(got) != want {
		t.Fatalf("trend %v, want %s", got, want)
	}
	last, ok, err := api.LastWithData(ctx, mustPeriod(t, "2026-11"))
	if err != nil || !ok || last.String() != "2026-10" {
		t.Fatalf("last period with data before 2026-11: %v %v %v", last, ok, err)
	}
	if _, ok, _ := api.LastWithData(ctx, mustPeriod(t, "2026-08")); ok {
		t.Fatal("a period with data found before the city began")
	}

	top, err := api.BusiestMatters(ctx, mustPeriod(t, "2026-09"), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 10 {
		t.Fatalf("%d busiest matters", len(top))
	}
	for i, m := range top {
		if i > 0 && m.Cases > top[i-1].Cases {
			t.Fatalf("not busiest first: %+v after %+v", m, top[i-1])
		}
	}
	// The same figures as the single-matter lines.
	one, err := api.Lines(ctx, top[0].Matter, mustPeriod(t, "2026-09"))
	if err != nil || one.Cases != top[0].Cases || math.Abs(float64(one.Actual-top[0].Actual)) > 1e-9 {
		t.Fatalf("lines of %s: %+v vs busiest %+v (%v)", top[0].Matter, one, top[0], err)
	}
	_ = j
}
