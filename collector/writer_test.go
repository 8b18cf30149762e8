package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"effidx/event"
)

// flakySink fails its first failures calls, then keeps what it is given.
type flakySink struct {
	mu       sync.Mutex
	failures int
	calls    int
	attempts [][]string // event ids of every attempt
	stored   []string
}

func (f *flakySink) WriteBatch(_ context.Context, b *event.Batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, e := range b.Events {
		ids = append(ids, e.ID)
	}
	f.attempts = append(f.attempts, ids)
	f.calls++
	if f.calls <= f.failures {
		return errors.New("clickhouse is down")
	}
	f.stored = append(f.stored, ids...)
	return nil
}

func (f *flakySink) snapshot() (int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, append([]string(nil), f.stored...)
}

func TestWriterRetriesFromTheSpoolAndConfirmsOnlyAfterSuccess(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.RetryMin, c.RetryMax, c.FlushInterval = 10*time.Millisecond, 20*time.Millisecond, 20*time.Millisecond
	})
	for i := range 3 {
		if r := h.post(line(fmt.Sprintf("w%d", i), "D01"), "", ""); r.code != 202 {
			t.Fatalf("post: %d", r.code)
		}
	}
	sink := &flakySink{failures: 2}
	w := NewWriter(h.c.cfg, h.sp, sink, h.metrics, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, time.Second) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		calls, stored := sink.snapshot()
		if len(stored) == 3 {
			if calls != 3 {
				t.Fatalf("%d insert attempts, want 2 failures + 1 success", calls)
			}
			break
		}
		if before := h.sp.Used(); before == 0 {
			t.Fatal("the spool was confirmed before the sink accepted anything")
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored %v after %d calls", stored, calls)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i, a := range sink.attempts {
		if fmt.Sprint(a) != "[w0 w1 w2]" {
			t.Fatalf("attempt %d carried %v, want the same three events rebuilt from the spool", i, a)
		}
	}
	waitUsed := time.Now().Add(5 * time.Second)
	for h.sp.Used() != 0 {
		if time.Now().After(waitUsed) {
			t.Fatalf("spool still holds %d bytes after a successful insert", h.sp.Used())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if errs := testutil.ToFloat64(h.metrics.InsertErrors); errs != 2 {
		t.Fatalf("insert error metric = %v, want 2", errs)
	}
}

func TestWriterLeavesTheSpoolAloneWhenShutdownFindsStorageDown(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.FlushInterval = time.Hour })
	h.post(line("s1", "D01"), "", "")
	sink := &flakySink{failures: 1 << 30}
	w := NewWriter(h.c.cfg, h.sp, sink, h.metrics, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, 200*time.Millisecond) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := len(h.spooled(t).Events); got != 1 {
		t.Fatalf("after a failed drain the spool replays %d events, want 1", got)
	}
}
