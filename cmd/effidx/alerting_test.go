package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"effidx/rules/prometheus/promstack"
	"effidx/warehouse/chtest"
)

// serviceEvent is one service-case event line of SPEC section 3.
func serviceEvent(t *testing.T, id, caseID, typ, dept string, at time.Time, extra map[string]any) []byte {
	t.Helper()
	e := map[string]any{"event_id": id, "kind": "service", "case_id": caseID, "type": typ,
		"at": at.Format(time.RFC3339), "department": dept}
	for k, v := range extra {
		e[k] = v
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// metricValue returns the value of the sample whose name and labels are
// exactly series (as /metrics writes them), or "" when there is none.
func metricValue(metrics, series string) string {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(metrics)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestRedCasesPageTheirDepartmentsOnDutyReceiverAndResolve runs the whole
// alerting path with real parts: effidx serve (lights job every second)
// holding red service cases in a real ClickHouse, Debian's prometheus
// scraping it with the shipped rules, and prometheus-alertmanager routing by
// department with the shipped routes and inhibitions to the test's webhook
// receivers (package promstack). D01's three red cases reach oncall-D01 with
// the count, and resolve there once completed; D02's legally overdue case
// pages oncall-D02, and its red-items alert is inhibited.
func TestRedCasesPageTheirDepartmentsOnDutyReceiverAndResolve(t *testing.T) {
	start := time.Now()
	promstack.RequireTools(t) // before ClickHouse and effidx: fail fast
	addr, db := chtest.Addr(t), chtest.Database(t)
	cfgFile := filepath.Join(t.TempDir(), "effidx.yaml")
	if err := os.WriteFile(cfgFile, []byte("lights:\n  schedule: \"@every 1s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startEffidx(t, nil, "serve", "--config", cfgFile, "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--clickhouse-addr", addr, "--clickhouse-database", db)

	// Accepted four weeks ago (about 20 working days): D01's cases were
	// promised in 2 working days (red) with a statutory limit far off (not
	// legally overdue, so nothing inhibits their red-items alert); D02's
	// case is past its statutory 5 days too. A fresh D01 case stays green.
	cst := time.FixedZone("CST", 8*3600)
	now := time.Now().In(cst)
	accepted := now.AddDate(0, 0, -28)
	var body bytes.Buffer
	red := []string{"AL-D01-1", "AL-D01-2", "AL-D01-3"}
	for i, c := range red {
		body.Write(serviceEvent(t, c+"-acc", c, "accepted", "D01", accepted.Add(time.Duration(i)*time.Minute),
			map[string]any{"channel": "window", "promised_days": 2, "legal_days": 200}))
	}
	body.Write(serviceEvent(t, "AL-D01-green-acc", "AL-D01-green", "accepted", "D01", now.Add(-time.Hour),
		map[string]any{"channel": "online", "promised_days": 10, "legal_days": 20}))
	body.Write(serviceEvent(t, "AL-D02-1-acc", "AL-D02-1", "accepted", "D02", accepted,
		map[string]any{"channel": "window", "promised_days": 3, "legal_days": 5}))
	if a := postBody(p.url, body.Bytes()); a.err != nil || a.code != 202 || a.resp.Accepted != 5 {
		t.Fatalf("post cases: %d %+v %v", a.code, a.resp, a.err)
	}

	// Start Prometheus once effidx exports the final counts, so that the
	// first value it sees is the one the alert must carry.
	want := map[string]string{
		`effidx_open_items{department="D01",kind="service",light="red"}`:   "3",
		`effidx_open_items{department="D01",kind="service",light="green"}`: "1",
		`effidx_open_items{department="D02",kind="service",light="red"}`:   "1",
		`effidx_legal_overdue_items{department="D02",kind="service"}`:      "1",
		`effidx_legal_overdue_items{department="D01",kind="service"}`:      "",
	}
	waitFor(t, 30*time.Second, "the lights gauges of the posted cases", func() (bool, string) {
		_, metrics := get(t, p.url+"/metrics")
		var bad []string
		for series, v := range want {
			if got := metricValue(metrics, series); got != v {
				bad = append(bad, fmt.Sprintf("%s = %q (want %q)", series, got, v))
			}
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
	t.Logf("effidx exports the lights %v after the test began", time.Since(start).Round(10*time.Millisecond))

	target := strings.TrimPrefix(p.url, "http://")
	s := promstack.Start(t, promstack.Targets(target))
	d01 := map[string]string{"department": "D01", "kind": "service"}

	n, alert := s.WaitNotification(t, 40*time.Second, "oncall-D01", "EffidxDepartmentRedItems", "firing",
		map[string]string{"department": "D01", "kind": "service", "severity": "warning"})
	fired := n.At
	if want := "D01 有 3 个红灯办件 / D01 has 3 red service item(s)"; alert.Annotations["summary"] != want {
		t.Errorf("summary %q, want %q", alert.Annotations["summary"], want)
	}
	if d := alert.Annotations["description"]; !strings.Contains(d, "D01 有 3 个 service 类") || !strings.Contains(d, "Department D01 has 3 open service item(s)") {
		t.Errorf("description %q does not give D01's count 3", d)
	}
	if want := "/lights?department=D01"; alert.Annotations["lights_path"] != want {
		t.Errorf("lights_path %q, want %q", alert.Annotations["lights_path"], want)
	}
	if n.Path != "/oncall-D01" {
		t.Errorf("oncall-D01's notification was posted to %s, want /oncall-D01", n.Path)
	}
	t.Logf("D01 red cases reached oncall-D01 %v after the stack started", fired.Round(10*time.Millisecond))

	s.WaitNotification(t, 15*time.Second, "oncall-D02", "EffidxDepartmentLegalOverdue", "firing",
		map[string]string{"department": "D02", "kind": "service", "severity": "page"})

	// D01 completes its red cases; the lights job drops D01's red gauge.
	body.Reset()
	for _, c := range red {
		body.Write(serviceEvent(t, c+"-done", c, "completed", "D01", time.Now().In(cst), nil))
	}
	if a := postBody(p.url, body.Bytes()); a.err != nil || a.code != 202 || a.resp.Accepted != len(red) {
		t.Fatalf("post completions: %d %+v %v", a.code, a.resp, a.err)
	}
	completed := time.Since(s.Started)
	n, alert = s.WaitNotification(t, 30*time.Second, "oncall-D01", "EffidxDepartmentRedItems", "resolved", d01)
	if alert.Annotations["summary"] != "D01 有 3 个红灯办件 / D01 has 3 red service item(s)" {
		t.Errorf("resolved alert's summary %q (the last firing value was 3)", alert.Annotations["summary"])
	}
	t.Logf("D01 resolved at oncall-D01 %v after the completions were posted", (n.At - completed).Round(10*time.Millisecond))

	// Routing: each department's receiver got only its own alerts, D01's
	// alert reached no one else, and D02's red items were inhibited by its
	// legal-overdue page (which is still firing).
	for _, n := range s.Notifications() {
		if dept, ok := strings.CutPrefix(n.Receiver, "oncall-"); ok && strings.HasPrefix(dept, "D") {
			for _, a := range n.Alerts {
				if a.Labels["department"] != dept {
					s.Fail(t, "%s got %s of department %q", n.Receiver, a.Labels["alertname"], a.Labels["department"])
				}
			}
		}
		for _, a := range n.Alerts {
			if a.Labels["department"] == "D01" && n.Receiver != "oncall-D01" {
				s.Fail(t, "D01's %s reached %s", a.Labels["alertname"], n.Receiver)
			}
		}
	}
	if n, _, ok := s.Find("", "EffidxDepartmentRedItems", "", map[string]string{"department": "D02"}); ok {
		s.Fail(t, "D02's red items reached %s at %v despite its legal-overdue page", n.Receiver, n.At)
	}
	if n, _, ok := s.Find("", "EffidxDepartmentLegalOverdue", "resolved", nil); ok {
		s.Fail(t, "D02's legal-overdue page resolved at %v; its case is still open", n.At)
	}
	t.Logf("whole test %v; notifications:\n%s", time.Since(start).Round(10*time.Millisecond), s)
}
