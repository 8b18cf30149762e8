package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"effidx/collector/spool"
	"effidx/event"
)

// Sink is where the writer stores batches: the seam between ingest and
// storage (the warehouse implements it). WriteBatch must be idempotent for
// the same rows, because a batch is written again after a crash or an
// unknown outcome.
type Sink interface {
	WriteBatch(ctx context.Context, b *event.Batch) error
}

// Writer drains the spool into a Sink in batches, flushing on size or
// timer, and confirms spool positions only after the sink accepted them.
type Writer struct {
	cfg     Config
	spool   *spool.Spool
	sink    Sink
	metrics *Metrics
	log     *slog.Logger
}

// NewWriter builds a writer.
func NewWriter(cfg Config, sp *spool.Spool, sink Sink, m *Metrics, log *slog.Logger) *Writer {
	if log == nil {
		log = slog.Default()
	}
	return &Writer{cfg: cfg, spool: sp, sink: sink, metrics: m, log: log}
}

// Run drains until ctx is done, then makes one last attempt (bounded by
// drainTimeout) to store what is already spooled. Whatever it cannot store
// stays in the spool for the next start.
func (w *Writer) Run(ctx context.Context, drainTimeout time.Duration) error {
	pos := w.spool.Confirmed()
	batch := &event.Batch{}
	var buf []byte
	backoff := w.cfg.RetryMin
	for {
		next, err := w.fill(ctx, pos, batch, &buf)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return w.drain(pos, drainTimeout)
		}
		if batch.Len() == 0 {
			continue
		}
		if err := w.store(ctx, batch); err != nil {
			w.metrics.InsertErrors.Inc()
			w.log.Warn("insert into ClickHouse failed; events stay in the spool and are retried", "rows", batch.Len(), "retry_in", backoff, "err", err)
			// Never reuse the failed batch: rebuild it from the spool.
			batch.Reset()
			select {
			case <-ctx.Done():
				return w.drain(pos, drainTimeout)
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, w.cfg.RetryMax)
			continue
		}
		backoff = w.cfg.RetryMin
		if err := w.spool.Confirm(next); err != nil {
			return fmt.Errorf("confirm spool position %s: %w", next, err)
		}
		batch.Reset()
		pos = next
	}
}

// fill reads records from pos into batch until it holds BatchRows rows, or
// FlushInterval has passed since its first row, or ctx is done.
func (w *Writer) fill(ctx context.Context, pos spool.Pos, batch *event.Batch, buf *[]byte) (spool.Pos, error) {
	var deadline time.Time
	for batch.Len() < w.cfg.BatchRows {
		rec, next, err := w.spool.Read(pos, buf)
		if errors.Is(err, spool.ErrNoData) {
			wctx, cancel := ctx, context.CancelFunc(func() {})
			if !deadline.IsZero() {
				wctx, cancel = context.WithDeadline(ctx, deadline)
			}
			err := w.spool.Wait(wctx, pos)
			cancel()
			if err != nil {
				return pos, nil // the flush timer, or shutdown
			}
			continue
		}
		if err != nil {
			return pos, err
		}
		if err := unmarshalInto(rec.Payload, batch); err != nil {
			// A record that passed its checksum but does not decode was
			// written by an incompatible binary: stop rather than skip data.
			return pos, fmt.Errorf("spool record at %s: %w", pos, err)
		}
		pos = next
		if deadline.IsZero() {
			deadline = time.Now().Add(w.cfg.FlushInterval)
		} else if time.Now().After(deadline) {
			break
		}
	}
	return pos, nil
}

func (w *Writer) store(ctx context.Context, batch *event.Batch) error {
	start := time.Now()
	if err := w.sink.WriteBatch(ctx, batch); err != nil {
		return err
	}
	w.metrics.InsertDuration.Observe(time.Since(start).Seconds())
	w.metrics.BatchRows.Observe(float64(batch.Len()))
	w.metrics.Stored.Add(float64(len(batch.Events)))
	return nil
}

// drain stores what the spool holds from pos on, for a graceful shutdown.
func (w *Writer) drain(pos spool.Pos, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// fill with a done context reads what is there and never waits.
	done, stop := context.WithCancel(context.Background())
	stop()
	batch := &event.Batch{}
	var buf []byte
	for {
		batch.Reset()
		next, err := w.fill(done, pos, batch, &buf)
		if err != nil {
			return err
		}
		if batch.Len() == 0 {
			return nil
		}
		if err := w.store(ctx, batch); err != nil {
			w.log.Warn("could not store the spool before shutdown; it is replayed at the next start", "err", err)
			return nil
		}
		if err := w.spool.Confirm(next); err != nil {
			return err
		}
		pos = next
	}
}
