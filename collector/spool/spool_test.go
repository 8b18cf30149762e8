package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func open(t *testing.T, dir string, max, seg int64) *Spool {
	t.Helper()
	s, err := Open(Config{Dir: dir, MaxBytes: max, SegmentBytes: seg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendN(t *testing.T, s *Spool, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := s.Append(context.Background(), []byte(fmt.Sprintf("record-%04d", i))); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

// readAll reads from the confirmed position to the end.
func readAll(t *testing.T, s *Spool) ([]string, Pos) {
	t.Helper()
	var out []string
	var buf []byte
	pos := s.Confirmed()
	for {
		rec, next, err := s.Read(pos, &buf)
		if errors.Is(err, ErrNoData) {
			return out, pos
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(rec.Payload))
		pos = next
	}
}

func TestRecordsComeBackInOrderAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20, 1024)
	appendN(t, s, 0, 200)
	got, end := readAll(t, s)
	if len(got) != 200 || got[0] != "record-0000" || got[199] != "record-0199" {
		t.Fatalf("read %d records, first %q last %q", len(got), got[0], got[len(got)-1])
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(segs) < 3 {
		t.Fatalf("want rotation into several segments, got %d", len(segs))
	}
	if err := s.Confirm(end); err != nil {
		t.Fatal(err)
	}
	segs, _ = filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(segs) != 1 {
		t.Fatalf("after confirming everything %d segments remain, want only the active one", len(segs))
	}
	if u := s.Used(); u != 0 {
		t.Fatalf("used = %d after confirming everything", u)
	}
}

func TestReopenReplaysOnlyUnconfirmedRecords(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20, 1024)
	appendN(t, s, 0, 100)
	var buf []byte
	pos := s.Confirmed()
	for range 60 {
		_, next, err := s.Read(pos, &buf)
		if err != nil {
			t.Fatal(err)
		}
		pos = next
	}
	if err := s.Confirm(pos); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := open(t, dir, 1<<20, 1024)
	got, _ := readAll(t, s2)
	if len(got) != 40 || got[0] != "record-0060" {
		t.Fatalf("replayed %d records starting %q, want 40 from record-0060", len(got), got[0])
	}
	appendN(t, s2, 100, 1)
	got, _ = readAll(t, s2)
	if got[len(got)-1] != "record-0100" {
		t.Fatalf("append after reopen: last = %q", got[len(got)-1])
	}
}

func TestDamagedTailIsCutNotFatal(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		want   int
	}{
		{"a torn half-written record at the end", func(t *testing.T, path string) {
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte{20, 0, 0, 0, 1, 2, 3}) // header cut short
			f.Close()
		}, 10},
		{"a full-length record with a bad checksum at the end", func(t *testing.T, path string) {
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(append([]byte{4, 0, 0, 0, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0}, "oops"...))
			f.Close()
		}, 10},
		{"a flipped byte in the last record", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			b[len(b)-2] ^= 0xff
			os.WriteFile(path, b, 0o640)
		}, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, 1<<20, 1<<20)
			appendN(t, s, 0, 10)
			s.Close()
			tt.damage(t, filepath.Join(dir, segName(1)))
			s2 := open(t, dir, 1<<20, 1<<20)
			got, _ := readAll(t, s2)
			if len(got) != tt.want {
				t.Fatalf("after damage %d records readable, want %d", len(got), tt.want)
			}
			appendN(t, s2, 50, 1)
			got, _ = readAll(t, s2)
			if len(got) != tt.want+1 || got[len(got)-1] != "record-0050" {
				t.Fatalf("a record appended after the cut is not readable: %q", got)
			}
		})
	}
}

func TestFullSpoolRefusesUntilConfirmed(t *testing.T) {
	s := open(t, t.TempDir(), 2048, 1024)
	payload := make([]byte, 500)
	var n int
	for ; n < 10; n++ {
		if err := s.Append(context.Background(), payload); err != nil {
			if !errors.Is(err, ErrFull) {
				t.Fatalf("append %d: %v, want ErrFull", n, err)
			}
			break
		}
	}
	if n != 3 {
		t.Fatalf("accepted %d records of 516 bytes into 2048, want 3", n)
	}
	_, end := readAll(t, s)
	if err := s.Confirm(end); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), payload); err != nil {
		t.Fatalf("append after confirm: %v", err)
	}
}

func TestConcurrentAppendsShareFsyncs(t *testing.T) {
	s := open(t, t.TempDir(), 64<<20, 8<<20)
	var wg sync.WaitGroup
	const writers, each = 32, 20
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := s.Append(context.Background(), []byte(fmt.Sprintf("%d-%d", w, i))); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	got, _ := readAll(t, s)
	if len(got) != writers*each {
		t.Fatalf("read %d records, want %d", len(got), writers*each)
	}
	if f := s.Fsyncs(); f >= writers*each {
		t.Fatalf("%d fsyncs for %d appends: group commit is not sharing them", f, writers*each)
	}
}

func TestAppendAfterCloseFails(t *testing.T) {
	s := open(t, t.TempDir(), 1<<20, 1<<20)
	s.Close()
	if err := s.Append(context.Background(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v, want ErrClosed", err)
	}
}
