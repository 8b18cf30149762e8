package prometheus_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gopkg.in/yaml.v3"
)

// testFor replaces every rule's `for:` in the end-to-end test, so that an
// alert fires seconds after its condition holds instead of minutes.
const testFor = "4s"

// webhookAlert and notification are the parts of Alertmanager's webhook
// payload that the test reads.
type webhookAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type notification struct {
	Receiver string         `json:"receiver"`
	Status   string         `json:"status"`
	Alerts   []webhookAlert `json:"alerts"`
	at       time.Duration
}

// receiver stands in for every on-duty receiver of alertmanager.yml.
type receiver struct {
	start time.Time
	mu    sync.Mutex
	got   []notification
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var n notification
	if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n.at = time.Since(rc.start)
	rc.mu.Lock()
	rc.got = append(rc.got, n)
	rc.mu.Unlock()
}

// find returns the first notification to receiverName that carries an alert
// named alertname with the given status and labels.
func (rc *receiver) find(receiverName, alertname, status string, labels map[string]string) (notification, webhookAlert, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, n := range rc.got {
		if n.Receiver != receiverName {
			continue
		}
	alerts:
		for _, a := range n.Alerts {
			if a.Labels["alertname"] != alertname || a.Status != status {
				continue
			}
			for k, v := range labels {
				if a.Labels[k] != v {
					continue alerts
				}
			}
			return n, a, true
		}
	}
	return notification{}, webhookAlert{}, false
}

func (rc *receiver) String() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var b strings.Builder
	for _, n := range rc.got {
		fmt.Fprintf(&b, "  %v %s %s:", n.at.Round(100*time.Millisecond), n.Receiver, n.Status)
		for _, a := range n.Alerts {
			fmt.Fprintf(&b, " [%s %s %s/%s]", a.Status, a.Labels["alertname"], a.Labels["department"], a.Labels["kind"])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// fakeEffidx serves /metrics the way effidx does: the lights job's gauges
// (with their `job` const label) and the calendar gauge.
type fakeEffidx struct {
	open     *prometheus.GaugeVec
	legal    *prometheus.GaugeVec
	calendar prometheus.Gauge
	srv      *httptest.Server
}

func newFakeEffidx(t *testing.T, coveredUntil int) *fakeEffidx {
	reg := prometheus.NewRegistry()
	f := &fakeEffidx{
		open:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "effidx_open_items"}, []string{"department", "kind", "light"}),
		legal:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "effidx_legal_overdue_items"}, []string{"department", "kind"}),
		calendar: prometheus.NewGauge(prometheus.GaugeOpts{Name: "effidx_calendar_covered_until_year"}),
	}
	f.calendar.Set(float64(coveredUntil))
	reg.MustRegister(f.open, f.legal, f.calendar)
	for _, job := range []string{"lights", "indices"} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "effidx_job_last_success_timestamp_seconds", ConstLabels: prometheus.Labels{"job_name": job},
		}, func() float64 { return float64(time.Now().Unix()) }))
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeEffidx) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func readYAMLMap(t *testing.T, path string) map[string]any {
	t.Helper()
	m := map[string]any{}
	readYAML(t, path, &m)
	return m
}

func writeYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// startProcess starts a binary that logs to dir/name.log and is killed when
// the test ends.
func startProcess(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tool(t, name), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
	})
	return logPath
}

func waitReady(t *testing.T, name, url, logPath string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(logPath)
	t.Fatalf("%s not ready at %s after 20s; log:\n%s", name, url, log)
}

// stack is a real Prometheus and Alertmanager running this directory's rules
// and deployments/prometheus' configurations, rewritten for the test: short
// intervals, loopback ports, temporary directories, and every receiver
// turned into a webhook to rc.
type stack struct {
	promURL string
	rc      *receiver
	promLog string
	amLog   string
	dir     string
	started time.Time
}

func startStack(t *testing.T, targets ...string) *stack {
	t.Helper()
	dir := t.TempDir()
	s := &stack{rc: &receiver{start: time.Now()}, dir: dir, started: time.Now()}
	hook := httptest.NewServer(s.rc)
	t.Cleanup(hook.Close)

	// Rules: as shipped, with every `for` shortened.
	rules := readYAMLMap(t, rulesFile)
	for _, g := range rules["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			if rule := r.(map[string]any); rule["for"] != nil {
				rule["for"] = testFor
			}
		}
	}
	rulesPath := filepath.Join(dir, "effidx.rules.yml")
	writeYAML(t, rulesPath, rules)

	// Alertmanager: shipped routes and inhibitions; webhooks only; fast groups.
	amAddr := freeAddr(t)
	am := readYAMLMap(t, alertmanagerConf)
	delete(am, "global") // SMTP settings
	am["templates"] = []any{abs(t, templatesFile)}
	route := am["route"].(map[string]any)
	route["group_wait"], route["group_interval"], route["repeat_interval"] = "1s", "1s", "1h"
	for _, r := range am["receivers"].([]any) {
		rec := r.(map[string]any)
		name := rec["name"].(string)
		for k := range rec {
			if k != "name" {
				delete(rec, k)
			}
		}
		rec["webhook_configs"] = []any{map[string]any{"url": hook.URL + "/" + name, "send_resolved": true}}
	}
	amPath := filepath.Join(dir, "alertmanager.yml")
	writeYAML(t, amPath, am)

	// Prometheus: shipped scrape job, pointed at the fakes, 1s intervals.
	promAddr := freeAddr(t)
	prom := readYAMLMap(t, prometheusConfig)
	prom["global"] = map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"}
	prom["rule_files"] = []any{rulesPath}
	prom["alerting"] = map[string]any{"alertmanagers": []any{map[string]any{"static_configs": []any{map[string]any{"targets": []any{amAddr}}}}}}
	scrape := prom["scrape_configs"].([]any)[0].(map[string]any)
	tg := make([]any, len(targets))
	for i, a := range targets {
		tg[i] = a
	}
	scrape["static_configs"] = []any{map[string]any{"targets": tg}}
	promPath := filepath.Join(dir, "prometheus.yml")
	writeYAML(t, promPath, prom)

	run(t, "promtool", "check", "config", promPath)
	run(t, "amtool", "check-config", amPath)

	s.amLog = startProcess(t, dir, "prometheus-alertmanager",
		"--config.file="+amPath,
		"--storage.path="+filepath.Join(dir, "alertmanager"),
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=") // no gossip port
	s.promLog = startProcess(t, dir, "prometheus",
		"--config.file="+promPath,
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus"),
		"--web.listen-address="+promAddr)
	s.promURL = "http://" + promAddr
	waitReady(t, "prometheus-alertmanager", "http://"+amAddr+"/-/ready", s.amLog)
	waitReady(t, "prometheus", s.promURL+"/-/ready", s.promLog)
	// Prometheus applies new scrape targets at most every 5 s, so the first
	// scrape comes about 5 s after it is ready.
	t.Logf("prometheus and alertmanager ready after %v", time.Since(s.started).Round(10*time.Millisecond))
	return s
}

func (s *stack) fail(t *testing.T, format string, args ...any) {
	t.Helper()
	promLog, _ := os.ReadFile(s.promLog)
	amLog, _ := os.ReadFile(s.amLog)
	t.Fatalf("%s\nnotifications:\n%s\n--- prometheus log\n%s\n--- alertmanager log\n%s",
		fmt.Sprintf(format, args...), s.rc, tail(promLog), tail(amLog))
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// waitNotification waits for a notification and returns the alert in it.
func (s *stack) waitNotification(t *testing.T, timeout time.Duration, receiverName, alertname, status string, labels map[string]string) (notification, webhookAlert) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if n, a, ok := s.rc.find(receiverName, alertname, status, labels); ok {
			return n, a
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.fail(t, "no %s %s %v reached %s within %v", status, alertname, labels, receiverName, timeout)
	return notification{}, webhookAlert{}
}

// promAlerts returns the alerts Prometheus currently holds, pending or firing.
func (s *stack) promAlerts(t *testing.T) []struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
} {
	t.Helper()
	resp, err := http.Get(s.promURL + "/api/v1/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Data.Alerts
}

// TestRedItemsAlertReachesDepartmentReceiverAndResolves runs the shipped
// rules and configurations in a real Prometheus and Alertmanager against a
// fake effidx: a department's red items reach that department's on-duty
// receiver and resolve when they are gone; a legal-overdue page inhibits the
// red-items alert of the same department and kind; the calendar alerts agree
// with today's date in Asia/Shanghai; the job alerts stay quiet while the
// jobs succeed.
func TestRedItemsAlertReachesDepartmentReceiverAndResolves(t *testing.T) {
	if testing.Short() {
		t.Skip("starts prometheus and alertmanager (about 15 s); not in -short")
	}
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().In(shanghai)

	// Instance a: calendar behind this year (page); instance b: covers this
	// year only (warning in December, quiet otherwise).
	a := newFakeEffidx(t, today.Year()-1)
	b := newFakeEffidx(t, today.Year())
	a.open.WithLabelValues("D01", "service", "red").Set(3)
	a.open.WithLabelValues("D01", "service", "green").Set(7)
	a.open.WithLabelValues("D02", "service", "red").Set(2)
	a.legal.WithLabelValues("D02", "service").Set(1)

	s := startStack(t, a.addr(), b.addr())

	_, red := s.waitNotification(t, 40*time.Second, "oncall-D01", "EffidxDepartmentRedItems", "firing",
		map[string]string{"department": "D01", "kind": "service", "severity": "warning"})
	firedAt := time.Since(s.started)
	if want := "D01 有 3 个红灯办件 / D01 has 3 red service item(s)"; red.Annotations["summary"] != want {
		t.Errorf("summary %q, want %q", red.Annotations["summary"], want)
	}
	if want := "/lights?department=D01"; red.Annotations["lights_path"] != want {
		t.Errorf("lights_path %q, want %q", red.Annotations["lights_path"], want)
	}
	for k := range red.Labels {
		if k != "alertname" && k != "department" && k != "kind" && k != "severity" {
			t.Errorf("red-items alert has label %s=%q; want only alertname, department, kind, severity", k, red.Labels[k])
		}
	}
	t.Logf("D01 red items reached oncall-D01 %v after start", firedAt.Round(10*time.Millisecond))

	s.waitNotification(t, 10*time.Second, "oncall-D02", "EffidxDepartmentLegalOverdue", "firing",
		map[string]string{"department": "D02", "kind": "service", "severity": "page"})
	s.waitNotification(t, 10*time.Second, "oncall-default", "EffidxCalendarCurrentYearMissing", "firing",
		map[string]string{"instance": a.addr(), "severity": "page"})

	// The lights job finds D01's items completed.
	a.open.WithLabelValues("D01", "service", "red").Set(0)
	dropped := time.Now()
	s.waitNotification(t, 20*time.Second, "oncall-D01", "EffidxDepartmentRedItems", "resolved",
		map[string]string{"department": "D01", "kind": "service"})
	t.Logf("D01 resolved notification %v after the value dropped to 0", time.Since(dropped).Round(10*time.Millisecond))

	// Inhibition: D02's red items never reached anyone, while its legal-overdue page did.
	for _, name := range []string{"oncall-D02", "oncall-default"} {
		if n, _, ok := s.rc.find(name, "EffidxDepartmentRedItems", "firing", map[string]string{"department": "D02"}); ok {
			s.fail(t, "D02 red items reached %s at %v despite its legal-overdue alert", name, n.at)
		}
	}

	// What Prometheus itself holds now: the D02 red alert fires there (the
	// inhibition is Alertmanager's), the calendar alerts match today's date,
	// and no job or scrape alert is even pending.
	nextYear := false
	for _, al := range s.promAlerts(t) {
		switch name := al.Labels["alertname"]; name {
		case "EffidxDepartmentRedItems", "EffidxDepartmentLegalOverdue", "EffidxCalendarCurrentYearMissing":
		case "EffidxCalendarNextYearMissing":
			if al.Labels["instance"] != b.addr() {
				t.Errorf("%s for %s, which has no data for this year (the page covers it)", name, al.Labels["instance"])
			}
			nextYear = true
		default:
			t.Errorf("unexpected alert %s %v (%s)", name, al.Labels, al.State)
		}
	}
	if december := today.Month() == time.December; nextYear != december {
		t.Errorf("EffidxCalendarNextYearMissing active = %v on %s in Asia/Shanghai (want %v)", nextYear, today.Format("2006-01-02"), december)
	}
	t.Logf("whole run %v; notifications:\n%s", time.Since(s.started).Round(10*time.Millisecond), s.rc)
}
