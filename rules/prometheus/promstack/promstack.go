// Package promstack is test support: it runs effidx's shipped alert rules and
// Prometheus/Alertmanager configurations in Debian's real prometheus and
// prometheus-alertmanager binaries, on free loopback ports, with every
// receiver turned into a webhook that the test itself serves.
//
// It imports package testing and is meant for tests only (effidx's own
// binaries never import it). Start rewrites, for the test:
//
//   - rules/prometheus/effidx.rules.yml: every rule's `for:` shortened
//     (RuleFor, 4 s by default; rules without one keep none);
//   - deployments/prometheus/prometheus.yml: 1 s scrape and evaluation
//     intervals, the `effidx` scrape job pointed at the given targets, the
//     rewritten rules and the test's Alertmanager; and Prometheus runs with
//     --rules.alert.resend-delay=1s instead of 1m, since it only finds the
//     Alertmanager about 5 s after it starts and drops the alerts that
//     fire before that until their next resend;
//   - deployments/prometheus/alertmanager.yml: routes and inhibitions as
//     shipped, no SMTP, group_wait and group_interval 1 s, and every
//     receiver a webhook (with send_resolved) to the test's server at
//     /<receiver name>.
//
// The repository's files are found from any package directory by walking up
// from the working directory (go test runs a test in its package's
// directory) to the directory holding go.mod.
//
// A missing binary fails the test, never skips it: run `make test`, which
// installs Debian's prometheus and prometheus-alertmanager packages.
//
// Timing: Prometheus applies new scrape targets about 5 s after it starts,
// so with the defaults an alert whose condition holds from the start reaches
// its receiver some 11-13 s after Start, and a resolution 1-2 s after the
// last scrape that no longer shows the condition.
package promstack

import (
	"bytes"
	"context"
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

	"gopkg.in/yaml.v3"
)

// Paths of the shipped files, relative to the repository root (Root).
const (
	RulesFile          = "rules/prometheus/effidx.rules.yml"
	PrometheusConfig   = "deployments/prometheus/prometheus.yml"
	AlertmanagerConfig = "deployments/prometheus/alertmanager.yml"
	TemplatesFile      = "deployments/prometheus/effidx.tmpl"
)

// ScrapeJob is the scrape job of PrometheusConfig that Start points at the
// targets; the rules' up{job="effidx"} alerts rely on its name.
const ScrapeJob = "effidx"

// DefaultRuleFor replaces every rule's `for:` unless RuleFor says otherwise.
const DefaultRuleFor = 4 * time.Second

// debianPackage names the Debian package that ships each binary.
var debianPackage = map[string]string{
	"promtool":                "prometheus",
	"prometheus":              "prometheus",
	"amtool":                  "prometheus-alertmanager",
	"prometheus-alertmanager": "prometheus-alertmanager",
}

// Tool returns the path of a Prometheus binary (promtool, prometheus, amtool,
// prometheus-alertmanager) or fails the test, saying how to get it.
func Tool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: run `make test` (installs Debian's %s)", name, debianPackage[name])
	}
	return path
}

// RequireTools fails the test unless all four binaries Start needs are on
// PATH. Call it first in a test that has expensive set-up before Start.
func RequireTools(t testing.TB) {
	t.Helper()
	for _, name := range []string{"prometheus", "promtool", "prometheus-alertmanager", "amtool"} {
		Tool(t, name)
	}
}

// Run runs a tool and fails the test with its output if it exits non-zero.
// It returns stdout.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Tool(t, name), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n--- stdout\n%s\n--- stderr\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// Root returns the repository root: the nearest directory at or above the
// working directory that holds go.mod.
func Root(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("promstack: no go.mod at or above %s", wd)
		}
		dir = parent
	}
}

// Path returns the absolute path of a file given relative to Root.
func Path(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Root(t), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("promstack: %v", err)
	}
	return p
}

// Alert is one alert of an Alertmanager webhook notification.
type Alert struct {
	Status      string            `json:"status"` // firing or resolved
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

// Notification is the part of Alertmanager's webhook payload tests read,
// with where and when it arrived.
type Notification struct {
	Receiver string  `json:"receiver"` // the receiver Alertmanager routed to
	Status   string  `json:"status"`   // firing or resolved
	Alerts   []Alert `json:"alerts"`
	Path     string  `json:"-"` // URL path it was posted to: "/" + the receiver's name in the config
	// At is when it arrived, since Start began.
	At time.Duration `json:"-"`
}

// receiver stands in for every receiver of alertmanager.yml.
type receiver struct {
	start   time.Time
	mu      sync.Mutex
	got     []Notification
	changed chan struct{} // closed and replaced on every notification
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var n Notification
	if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n.Path, n.At = r.URL.Path, time.Since(rc.start)
	rc.mu.Lock()
	rc.got = append(rc.got, n)
	close(rc.changed)
	rc.changed = make(chan struct{})
	rc.mu.Unlock()
}

func matches(a Alert, alertname, status string, labels map[string]string) bool {
	if a.Labels["alertname"] != alertname || (status != "" && a.Status != status) {
		return false
	}
	for k, v := range labels {
		if a.Labels[k] != v {
			return false
		}
	}
	return true
}

// find returns the first notification to receiverName ("" = any) carrying
// a matching alert, and a channel closed at the next notification.
func (rc *receiver) find(receiverName, alertname, status string, labels map[string]string) (Notification, Alert, bool, <-chan struct{}) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, n := range rc.got {
		if receiverName != "" && n.Receiver != receiverName {
			continue
		}
		for _, a := range n.Alerts {
			if matches(a, alertname, status, labels) {
				return n, a, true, rc.changed
			}
		}
	}
	return Notification{}, Alert{}, false, rc.changed
}

// Stack is a running Prometheus and Alertmanager with their webhook
// receiver; everything stops when the test that started it ends.
type Stack struct {
	PrometheusURL   string    // e.g. http://127.0.0.1:41234
	AlertmanagerURL string    // e.g. http://127.0.0.1:41235
	Dir             string    // rewritten configs, data and the binaries' logs
	Started         time.Time // when Start began; Notification.At counts from here

	rc      *receiver
	promLog string
	amLog   string
}

type options struct {
	targets []string
	ruleFor time.Duration
}

// Option configures Start.
type Option func(*options)

// Targets sets the host:port addresses the effidx scrape job scrapes
// (/metrics). Without targets, the rules' EffidxTargetMissing fires.
func Targets(addrs ...string) Option {
	return func(o *options) { o.targets = append(o.targets, addrs...) }
}

// RuleFor sets what replaces the `for:` of every rule that has one (whole
// milliseconds; 0 removes it, so that alerts fire at their first
// evaluation).
func RuleFor(d time.Duration) Option {
	return func(o *options) { o.ruleFor = d }
}

// Start writes the test configurations to a temporary directory, checks them
// with promtool and amtool, starts prometheus-alertmanager and prometheus on
// free loopback ports and waits until both are ready.
func Start(t testing.TB, opts ...Option) *Stack {
	t.Helper()
	o := options{ruleFor: DefaultRuleFor}
	for _, opt := range opts {
		opt(&o)
	}
	RequireTools(t)
	dir := t.TempDir()
	s := &Stack{Dir: dir, Started: time.Now()}
	s.rc = &receiver{start: s.Started, changed: make(chan struct{})}
	hook := httptest.NewServer(s.rc)
	t.Cleanup(hook.Close)

	// Rules: as shipped, with every `for` replaced (rules without one keep
	// none).
	rules := readYAMLMap(t, Path(t, RulesFile))
	for _, g := range rules["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			rule := r.(map[string]any)
			if rule["for"] == nil {
				continue
			}
			if o.ruleFor > 0 {
				rule["for"] = fmt.Sprintf("%dms", o.ruleFor.Milliseconds())
			} else {
				delete(rule, "for")
			}
		}
	}
	rulesPath := filepath.Join(dir, "effidx.rules.yml")
	writeYAML(t, rulesPath, rules)

	// Alertmanager: shipped routes and inhibitions; webhooks only; fast groups.
	amAddr := freeAddr(t)
	am := readYAMLMap(t, Path(t, AlertmanagerConfig))
	delete(am, "global") // SMTP settings
	am["templates"] = []any{Path(t, TemplatesFile)}
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

	// Prometheus: the shipped effidx scrape job, pointed at the targets;
	// 1 s intervals.
	promAddr := freeAddr(t)
	prom := readYAMLMap(t, Path(t, PrometheusConfig))
	prom["global"] = map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"}
	prom["rule_files"] = []any{rulesPath}
	prom["alerting"] = map[string]any{"alertmanagers": []any{map[string]any{"static_configs": []any{map[string]any{"targets": []any{amAddr}}}}}}
	var job map[string]any
	for _, sc := range prom["scrape_configs"].([]any) {
		if m := sc.(map[string]any); m["job_name"] == ScrapeJob {
			job = m
		}
	}
	if job == nil {
		t.Fatalf("promstack: %s has no scrape job %q", PrometheusConfig, ScrapeJob)
	}
	tg := make([]any, len(o.targets))
	for i, a := range o.targets {
		tg[i] = a
	}
	job["static_configs"] = []any{map[string]any{"targets": tg}}
	prom["scrape_configs"] = []any{job}
	promPath := filepath.Join(dir, "prometheus.yml")
	writeYAML(t, promPath, prom)

	Run(t, "promtool", "check", "config", promPath)
	Run(t, "amtool", "check-config", amPath)

	s.amLog = startProcess(t, dir, "prometheus-alertmanager",
		"--config.file="+amPath,
		"--storage.path="+filepath.Join(dir, "alertmanager"),
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=") // no gossip port
	s.promLog = startProcess(t, dir, "prometheus",
		"--config.file="+promPath,
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus"),
		"--web.listen-address="+promAddr,
		// Prometheus finds the Alertmanager about 5 s after it starts and
		// drops the alerts that fire before; by default it sends them again
		// only a minute later.
		"--rules.alert.resend-delay=1s")
	s.AlertmanagerURL, s.PrometheusURL = "http://"+amAddr, "http://"+promAddr
	s.waitReady(t, "prometheus-alertmanager", s.AlertmanagerURL+"/-/ready")
	s.waitReady(t, "prometheus", s.PrometheusURL+"/-/ready")
	t.Logf("promstack: prometheus and alertmanager ready after %v (%s)", time.Since(s.Started).Round(10*time.Millisecond), dir)
	return s
}

// Find returns the first notification to receiverName ("" = any receiver)
// that carries an alert named alertname with the given status ("" = any)
// and labels.
func (s *Stack) Find(receiverName, alertname, status string, labels map[string]string) (Notification, Alert, bool) {
	n, a, ok, _ := s.rc.find(receiverName, alertname, status, labels)
	return n, a, ok
}

// WaitNotification waits up to timeout for a notification as Find describes
// it and returns it with the matching alert. On timeout it fails the test
// with the notifications so far and the binaries' logs.
func (s *Stack) WaitNotification(t testing.TB, timeout time.Duration, receiverName, alertname, status string, labels map[string]string) (Notification, Alert) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		n, a, ok, changed := s.rc.find(receiverName, alertname, status, labels)
		if ok {
			return n, a
		}
		select {
		case <-changed:
		case <-deadline.C:
			to := receiverName
			if to == "" {
				to = "any receiver"
			}
			s.Fail(t, "no %s %s %v reached %s within %v", status, alertname, labels, to, timeout)
			return Notification{}, Alert{}
		}
	}
}

// Notifications returns every notification received so far, oldest first.
func (s *Stack) Notifications() []Notification {
	s.rc.mu.Lock()
	defer s.rc.mu.Unlock()
	return append([]Notification(nil), s.rc.got...)
}

// String lists the notifications received so far, one a line.
func (s *Stack) String() string {
	var b strings.Builder
	for _, n := range s.Notifications() {
		fmt.Fprintf(&b, "  %v %s %s:", n.At.Round(100*time.Millisecond), n.Receiver, n.Status)
		for _, a := range n.Alerts {
			fmt.Fprintf(&b, " [%s %s", a.Status, a.Labels["alertname"])
			for _, k := range []string{"department", "kind", "job_name", "instance"} {
				if v := a.Labels[k]; v != "" {
					fmt.Fprintf(&b, " %s=%s", k, v)
				}
			}
			b.WriteString("]")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Fail fails the test with the message, the notifications so far and the
// tails of the Prometheus and Alertmanager logs.
func (s *Stack) Fail(t testing.TB, format string, args ...any) {
	t.Helper()
	promLog, _ := os.ReadFile(s.promLog)
	amLog, _ := os.ReadFile(s.amLog)
	t.Fatalf("%s\nnotifications:\n%s\n--- prometheus log\n%s\n--- alertmanager log\n%s",
		fmt.Sprintf(format, args...), s, tail(promLog), tail(amLog))
}

// PromAlert is an alert as Prometheus holds it (pending or firing).
type PromAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	Value       string            `json:"value"`
}

// PromAlerts returns the alerts Prometheus currently holds, pending or
// firing (inhibition and routing are Alertmanager's: they do not show here).
func (s *Stack) PromAlerts(t testing.TB) []PromAlert {
	t.Helper()
	resp, err := http.Get(s.PrometheusURL + "/api/v1/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Alerts []PromAlert `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Data.Alerts
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func readYAMLMap(t testing.TB, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func writeYAML(t testing.TB, path string, v any) {
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
func startProcess(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Tool(t, name), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
	})
	return logPath
}

// waitReady waits until url answers 200, for at most 20 s.
func (s *Stack) waitReady(t testing.TB, name, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Fail(t, "%s not ready at %s after 20s", name, url)
}
