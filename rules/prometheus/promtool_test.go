// Package prometheus_test checks effidx's Prometheus alert rules and the
// example Prometheus and Alertmanager configurations with the real tools:
// Debian's promtool and amtool (packages prometheus and
// prometheus-alertmanager, which `make test` installs). A missing tool fails
// the tests instead of skipping them, so that a machine without them cannot
// pass silently.
package prometheus_test

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"effidx/rules/prometheus/promstack"
)

const (
	rulesFile        = "effidx.rules.yml"
	deployDir        = "../../deployments/prometheus"
	prometheusConfig = deployDir + "/prometheus.yml"
	alertmanagerConf = deployDir + "/alertmanager.yml"
	templatesFile    = deployDir + "/effidx.tmpl"
)

// ruleTestFiles are the promtool unit-test files; every alert must be tested
// in one of them.
var ruleTestFiles = []string{"effidx.rules.test.yml", "effidx.calendar.test.yml"}

// run runs a tool (failing the test when it is missing or exits non-zero)
// and returns its stdout.
func run(t testing.TB, name string, args ...string) string { return promstack.Run(t, name, args...) }

func TestAlertRulesPassPromtoolCheck(t *testing.T) {
	out := run(t, "promtool", "check", "rules", rulesFile)
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules did not report SUCCESS:\n%s", out)
	}
}

func TestAlertRulesPassTheirPromtoolUnitTests(t *testing.T) {
	start := time.Now()
	run(t, "promtool", append([]string{"test", "rules"}, ruleTestFiles...)...)
	t.Logf("promtool test rules: %v", time.Since(start).Round(time.Millisecond))
}

func TestPrometheusConfigIsValidAndLoadsTheRules(t *testing.T) {
	out := run(t, "promtool", "check", "config", prometheusConfig)
	if !strings.Contains(out, "effidx.rules.yml") || !strings.Contains(out, "rules found") {
		t.Fatalf("promtool check config did not check the effidx rules:\n%s", out)
	}
}

func TestAlertmanagerConfigAndTemplatesAreValid(t *testing.T) {
	run(t, "amtool", "check-config", alertmanagerConf)
	// amtool check-config passes when a `templates` glob matches no file, so
	// render the templates the receivers use: an undefined one is an error.
	out := run(t, "amtool", "template", "render",
		"--template.glob="+templatesFile,
		`--template.text={{ template "effidx.subject" . }}|{{ template "effidx.text" . }}|{{ template "effidx.base_url" }}`)
	if !strings.Contains(out, "处置 / Runbook:") {
		t.Fatalf("effidx.text rendered without its runbook line:\n%s", out)
	}
}

func TestAlertmanagerRoutesEachDepartmentToItsOnDutyReceiver(t *testing.T) {
	for _, c := range []struct {
		labels   []string
		receiver string
	}{
		{[]string{"alertname=EffidxDepartmentRedItems", "department=D01", "kind=service", "severity=warning"}, "oncall-D01"},
		{[]string{"alertname=EffidxDepartmentLegalOverdue", "department=D02", "kind=ticket", "severity=page"}, "oncall-D02"},
		{[]string{"alertname=EffidxDepartmentRedItems", "department=市场监管局", "kind=task", "severity=warning"}, "oncall-market-regulation"},
		// A department without a route of its own, and alerts about effidx itself.
		{[]string{"alertname=EffidxDepartmentRedItems", "department=D99", "kind=service", "severity=warning"}, "oncall-default"},
		{[]string{"alertname=EffidxClickHouseInsertsFailing", "instance=127.0.0.1:8080", "severity=page"}, "oncall-default"},
		{[]string{"alertname=EffidxCalendarNextYearMissing", "instance=127.0.0.1:8080", "severity=warning"}, "oncall-default"},
	} {
		args := append([]string{"config", "routes", "test", "--config.file=" + alertmanagerConf}, c.labels...)
		got := strings.TrimSpace(run(t, "amtool", args...))
		if got != c.receiver {
			t.Errorf("%v routed to %q, want %q", c.labels, got, c.receiver)
		}
	}
}

// The structure promtool reads; only what the checks below need.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type ruleTestFile struct {
	Tests []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			EvalTime  string           `yaml:"eval_time"`
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t testing.TB, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

var (
	cjk = regexp.MustCompile(`\p{Han}`)
	// Unbounded, per-case values must never become alert labels.
	unbounded = regexp.MustCompile(`\b(case_id|event_id|responsible|matter|step)\b`)
)

func TestEveryAlertHasSeverityBilingualAnnotationsAndBoundedLabels(t *testing.T) {
	var rf ruleFile
	readYAML(t, rulesFile, &rf)
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if s := r.Labels["severity"]; s != "page" && s != "warning" {
				t.Errorf("%s: severity %q, want page or warning", r.Alert, s)
			}
			for _, a := range []string{"summary", "description"} {
				v := r.Annotations[a]
				if !cjk.MatchString(v) || !strings.Contains(v, " / ") || !regexp.MustCompile(`/ .*[A-Za-z]{3}`).MatchString(v) {
					t.Errorf("%s: %s %q is not \"中文 / English\"", r.Alert, a, v)
				}
			}
			if r.Annotations["runbook"] == "" {
				t.Errorf("%s: no runbook annotation", r.Alert)
			}
			if strings.HasPrefix(r.Alert, "EffidxDepartment") && !strings.HasPrefix(r.Annotations["lights_path"], "/lights?department={{ $labels.department") {
				t.Errorf("%s: lights_path %q, want /lights?department={{ $labels.department ... }}", r.Alert, r.Annotations["lights_path"])
			}
			if m := unbounded.FindString(r.Expr); m != "" {
				t.Errorf("%s: expression mentions %q; alert labels must stay bounded", r.Alert, m)
			}
			for k := range r.Labels {
				if unbounded.MatchString(k) {
					t.Errorf("%s: label %q is unbounded", r.Alert, k)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no alerts found in " + rulesFile)
	}
}

func TestEveryAlertIsUnitTestedFiringAndNotFiring(t *testing.T) {
	var rf ruleFile
	readYAML(t, rulesFile, &rf)
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, f := range ruleTestFiles {
		var tf ruleTestFile
		readYAML(t, f, &tf)
		for _, tg := range tf.Tests {
			for _, at := range tg.AlertRuleTest {
				if len(at.ExpAlerts) > 0 {
					firing[at.Alertname] = true
				} else {
					quiet[at.Alertname] = true
				}
			}
		}
	}
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts[r.Alert] = true
			}
		}
	}
	var names []string
	for a := range alerts {
		names = append(names, a)
	}
	sort.Strings(names)
	for _, a := range names {
		if !firing[a] {
			t.Errorf("%s: no unit test expects it to fire", a)
		}
		if !quiet[a] {
			t.Errorf("%s: no unit test expects it not to fire", a)
		}
	}
	for a := range firing {
		if !alerts[a] {
			t.Errorf("unit tests expect %s, which is not in %s", a, rulesFile)
		}
	}
	t.Logf("%d alerts, each tested firing and not firing: %s", len(names), strings.Join(names, ", "))
}
