package prometheus_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"effidx/rules/prometheus/promstack"
)

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

// TestRedItemsAlertReachesDepartmentReceiverAndResolves runs the shipped
// rules and configurations in a real Prometheus and Alertmanager (package
// promstack, which cmd/effidx's alerting test also runs, against a real
// effidx) against a fake effidx: a department's red items reach that department's on-duty
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

	s := promstack.Start(t, promstack.Targets(a.addr(), b.addr()))

	_, red := s.WaitNotification(t, 40*time.Second, "oncall-D01", "EffidxDepartmentRedItems", "firing",
		map[string]string{"department": "D01", "kind": "service", "severity": "warning"})
	firedAt := time.Since(s.Started)
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

	s.WaitNotification(t, 10*time.Second, "oncall-D02", "EffidxDepartmentLegalOverdue", "firing",
		map[string]string{"department": "D02", "kind": "service", "severity": "page"})
	s.WaitNotification(t, 10*time.Second, "oncall-default", "EffidxCalendarCurrentYearMissing", "firing",
		map[string]string{"instance": a.addr(), "severity": "page"})

	// The lights job finds D01's items completed.
	a.open.WithLabelValues("D01", "service", "red").Set(0)
	dropped := time.Now()
	s.WaitNotification(t, 20*time.Second, "oncall-D01", "EffidxDepartmentRedItems", "resolved",
		map[string]string{"department": "D01", "kind": "service"})
	t.Logf("D01 resolved notification %v after the value dropped to 0", time.Since(dropped).Round(10*time.Millisecond))

	// Inhibition: D02's red items never reached anyone, while its legal-overdue page did.
	for _, name := range []string{"oncall-D02", "oncall-default"} {
		if n, _, ok := s.Find(name, "EffidxDepartmentRedItems", "firing", map[string]string{"department": "D02"}); ok {
			s.Fail(t, "D02 red items reached %s at %v despite its legal-overdue alert", name, n.At)
		}
	}

	// What Prometheus itself holds now: the D02 red alert fires there (the
	// inhibition is Alertmanager's), the calendar alerts match today's date,
	// and no job or scrape alert is even pending.
	nextYear := false
	for _, al := range s.PromAlerts(t) {
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
	t.Logf("whole run %v; notifications:\n%s", time.Since(s.Started).Round(10*time.Millisecond), s)
}
