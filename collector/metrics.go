package collector

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the collector's Prometheus metrics.
type Metrics struct {
	Received       prometheus.Counter
	Accepted       prometheus.Counter
	Rejected       *prometheus.CounterVec
	Duplicates     prometheus.Counter
	Requests       *prometheus.CounterVec
	Stored         prometheus.Counter
	BatchRows      prometheus.Histogram
	InsertDuration prometheus.Histogram
	InsertErrors   prometheus.Counter
	HTTPDuration   *prometheus.HistogramVec
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "effidx_events_received_total", Help: "Events received (valid or not) in requests that were decoded.",
		}),
		Accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "effidx_events_accepted_total", Help: "Events accepted and made durable in the spool.",
		}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "effidx_events_rejected_total", Help: "Events rejected by validation, by reason.",
		}, []string{"reason"}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "effidx_events_duplicate_total", Help: "Valid events skipped because their event_id was already accepted.",
		}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "effidx_ingest_requests_total", Help: "Ingest requests by outcome.",
		}, []string{"outcome"}),
		Stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "effidx_events_stored_total", Help: "Events confirmed stored in ClickHouse (replays after a crash count again).",
		}),
		BatchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "effidx_insert_batch_rows", Help: "Rows per ClickHouse insert batch.",
			Buckets: prometheus.ExponentialBuckets(10, 4, 8),
		}),
		InsertDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "effidx_insert_duration_seconds", Help: "Duration of ClickHouse insert batches that succeeded.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}),
		InsertErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "effidx_insert_errors_total", Help: "ClickHouse insert attempts that failed (they are retried).",
		}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "effidx_http_request_duration_seconds", Help: "HTTP request durations by route and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "code", "method"}),
	}
	reg.MustRegister(m.Received, m.Accepted, m.Rejected, m.Duplicates, m.Requests, m.Stored,
		m.BatchRows, m.InsertDuration, m.InsertErrors, m.HTTPDuration)
	return m
}

// Instrument wraps h so that its requests are timed under route.
func (m *Metrics) Instrument(route string, h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerDuration(m.HTTPDuration.MustCurryWith(prometheus.Labels{"route": route}), h)
}

// RegisterSpoolGauges exports the spool's state, read at scrape time, and
// its limit (alerts compare the two).
func RegisterSpoolGauges(reg prometheus.Registerer, maxBytes int64, used func() float64, oldestAge func() float64) {
	max := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "effidx_spool_max_bytes", Help: "Unconfirmed spool bytes at which ingest answers 503.",
	})
	max.Set(float64(maxBytes))
	reg.MustRegister(max,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "effidx_spool_bytes", Help: "Bytes in the spool not yet confirmed stored in ClickHouse.",
		}, used),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "effidx_spool_oldest_unconfirmed_age_seconds", Help: "Age of the oldest spooled record not yet stored in ClickHouse (0 when none).",
		}, oldestAge),
	)
}

// reason maps a validation error to a bounded label value.
func reason(err string) string {
	switch {
	case strings.HasPrefix(err, "invalid JSON"), strings.Contains(err, "must be one JSON object"):
		return "invalid_json"
	case strings.HasPrefix(err, "unknown field"):
		return "unknown_field"
	case strings.Contains(err, "over the limit"):
		return "too_large"
	case strings.HasPrefix(err, "source "):
		return "out_of_scope"
	case strings.Contains(err, "in the future"):
		return "future"
	case strings.Contains(err, "is required"):
		return "missing_field"
	default:
		return "invalid_value"
	}
}
