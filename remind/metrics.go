package remind

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	sent, failed, suppressed *prometheus.CounterVec
	retrying                 prometheus.Gauge
	lastSuccess, duration    prometheus.Gauge
}

// newMetrics registers the job's metrics on reg, with every channel's
// series at 0 from the start (an alert on a rate needs the series).
func newMetrics(reg prometheus.Registerer, channels []Channel) *metrics {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "effidx_reminders_sent_total", Help: "Reminder messages a channel accepted.",
		}, []string{"channel"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "effidx_reminders_failed_total", Help: "Reminder attempts that failed (retried with backoff), and reminders nobody could be sent (channel none).",
		}, []string{"channel"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "effidx_reminders_suppressed_total", Help: "Reminder messages held back by quiet hours (nights, weekends, holidays) until the next working morning; once per message.",
		}, []string{"channel"}),
		retrying: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "effidx_reminders_retrying", Help: "Reminder messages with a failed attempt and attempts left, at the last run.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "effidx_job_last_success_timestamp_seconds", Help: "When the job last succeeded.", ConstLabels: prometheus.Labels{"job_name": "reminders"},
		}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "effidx_job_duration_seconds", Help: "Duration of the job's last run.", ConstLabels: prometheus.Labels{"job_name": "reminders"},
		}),
	}
	reg.MustRegister(m.sent, m.failed, m.suppressed, m.retrying, m.lastSuccess, m.duration)
	for _, ch := range channels {
		for _, v := range []*prometheus.CounterVec{m.sent, m.failed, m.suppressed} {
			v.WithLabelValues(ch.Name())
		}
	}
	m.failed.WithLabelValues("none")
	return m
}
