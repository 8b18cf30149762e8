// Package spool is the collector's write-ahead log: an append-only,
// checksummed, size-bounded sequence of segment files. A record is
// acknowledged only after it is fsynced; concurrent appends share one fsync
// (group commit). A reader drains records in order and confirms positions
// once they are stored downstream; confirmed segments are deleted.
package spool

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config sizes the spool.
type Config struct {
	Dir          string `yaml:"dir"`
	MaxBytes     int64  `yaml:"max_bytes"`     // unconfirmed bytes allowed; over it Append fails with ErrFull
	SegmentBytes int64  `yaml:"segment_bytes"` // a segment is closed once it reaches this size
}

// DefaultConfig is the configuration with defaults filled in (Dir aside).
func DefaultConfig() Config {
	return Config{MaxBytes: 1 << 30, SegmentBytes: 64 << 20}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("spool dir is empty"))
	}
	if c.SegmentBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("spool segment_bytes %d is below 1 KiB", c.SegmentBytes))
	}
	if c.MaxBytes < c.SegmentBytes {
		errs = append(errs, fmt.Errorf("spool max_bytes %d is below segment_bytes %d", c.MaxBytes, c.SegmentBytes))
	}
	return errors.Join(errs...)
}

// ErrFull means the spool holds MaxBytes of unconfirmed records: the caller
// should push back (HTTP 503) rather than drop anything.
var ErrFull = errors.New("spool is full")

// ErrClosed means the spool is shut down.
var ErrClosed = errors.New("spool is closed")

// ErrNoData means the reader is at the end of what was committed.
var ErrNoData = errors.New("no more records")

// Pos is a position in the spool: a segment and a byte offset in it.
type Pos struct {
	Seg uint64
	Off int64
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Seg, p.Off) }

// Less orders positions.
func (p Pos) Less(q Pos) bool { return p.Seg < q.Seg || (p.Seg == q.Seg && p.Off < q.Off) }

// Record header: payload length, CRC-32C of time+payload, append time.
const headerSize = 16

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type segment struct {
	id   uint64
	size int64    // committed (fsynced) bytes
	rd   *os.File // opened lazily for reading
}

type appendReq struct {
	payload []byte
	at      time.Time
	done    chan error
}

// Spool is the write-ahead log. Its methods are safe for concurrent use.
type Spool struct {
	cfg Config
	log *slog.Logger

	reqs chan *appendReq

	mu        sync.Mutex
	segs      []*segment // ordered by id; the last one is written to
	active    *os.File
	confirmed Pos
	pending   int64         // bytes of appends not yet written
	changed   chan struct{} // closed and replaced whenever records are committed
	closed    bool
	inflight  sync.WaitGroup // appends between the closed check and their send
	stopped   chan struct{}
	fsyncs    int64
}

// Open opens (or creates) the spool in cfg.Dir, cutting a torn last record
// (a crash mid-write) and anything after a corrupt one.
func Open(cfg Config, log *slog.Logger) (*Spool, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool dir %s: %w", cfg.Dir, err)
	}
	s := &Spool{cfg: cfg, log: log, reqs: make(chan *appendReq, 4096), changed: make(chan struct{}), stopped: make(chan struct{})}
	if err := s.recover(); err != nil {
		return nil, err
	}
	go s.commitLoop()
	return s, nil
}

func segName(id uint64) string { return fmt.Sprintf("%020d.wal", id) }

func (s *Spool) path(name string) string { return filepath.Join(s.cfg.Dir, name) }

func (s *Spool) recover() error {
	cp, err := s.readCheckpoint()
	if err != nil {
		return err
	}
	s.confirmed = cp
	names, err := filepath.Glob(s.path("*.wal"))
	if err != nil {
		return err
	}
	var ids []uint64
	for _, n := range names {
		id, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(n), ".wal"), 10, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if id < cp.Seg {
			// Confirmed but not yet deleted when we stopped.
			if err := os.Remove(s.path(segName(id))); err != nil {
				return fmt.Errorf("remove confirmed segment: %w", err)
			}
			continue
		}
		size, err := s.scan(id, id == ids[len(ids)-1])
		if err != nil {
			return err
		}
		s.segs = append(s.segs, &segment{id: id, size: size})
	}
	if len(s.segs) == 0 {
		id := max(cp.Seg, 1)
		s.segs = append(s.segs, &segment{id: id})
		if cp.Seg != id {
			s.confirmed = Pos{Seg: id}
		}
	}
	if first := s.segs[0]; s.confirmed.Seg < first.id {
		s.confirmed = Pos{Seg: first.id}
	}
	if first := s.segs[0]; s.confirmed.Seg == first.id && s.confirmed.Off > first.size {
		s.log.Error("spool checkpoint lies beyond the data; records after the cut are gone", "checkpoint", s.confirmed, "segment_size", first.size)
		s.confirmed.Off = first.size
	}
	last := s.segs[len(s.segs)-1]
	f, err := os.OpenFile(s.path(segName(last.id)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open spool segment: %w", err)
	}
	s.active = f
	return syncDir(s.cfg.Dir)
}

// scan validates every record of a segment and cuts it after the last good
// one. A bad record at the tail of the last segment is a torn write; one
// anywhere else is corruption, kept aside in a .corrupt file.
func (s *Spool) scan(id uint64, last bool) (int64, error) {
	name := s.path(segName(id))
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("open spool segment: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	var off int64
	var hdr [headerSize]byte
	var buf []byte
	for off < st.Size() {
		n, err := readRecord(f, off, hdr[:], &buf)
		if err != nil {
			break
		}
		off += n
	}
	if off == st.Size() {
		return off, nil
	}
	if last {
		s.log.Warn("spool: cut a torn record at the end (crash mid-write; it was never acknowledged)", "segment", segName(id), "offset", off, "bytes", st.Size()-off)
	} else {
		s.log.Error("spool: corrupt record in a closed segment; the rest of the segment is kept aside", "segment", segName(id), "offset", off)
		tail := make([]byte, st.Size()-off)
		if _, err := f.ReadAt(tail, off); err == nil {
			_ = os.WriteFile(name+".corrupt", tail, 0o640)
		}
	}
	if err := f.Truncate(off); err != nil {
		return 0, fmt.Errorf("cut spool segment %s: %w", name, err)
	}
	return off, f.Sync()
}

// readRecord reads the record at off into *buf (header + payload) and
// returns its total size; it fails on a short or bad-checksum record.
func readRecord(f *os.File, off int64, hdr []byte, buf *[]byte) (int64, error) {
	if _, err := f.ReadAt(hdr, off); err != nil {
		return 0, err
	}
	n := binary.LittleEndian.Uint32(hdr[0:4])
	sum := binary.LittleEndian.Uint32(hdr[4:8])
	if int64(n) > 1<<30 {
		return 0, errors.New("record length out of range")
	}
	if cap(*buf) < headerSize+int(n) {
		*buf = make([]byte, headerSize+int(n))
	}
	b := (*buf)[:headerSize+int(n)]
	copy(b, hdr)
	if _, err := f.ReadAt(b[headerSize:], off+headerSize); err != nil {
		return 0, err
	}
	if crc32.Checksum(b[8:], castagnoli) != sum {
		return 0, errors.New("checksum mismatch")
	}
	*buf = b
	return int64(len(b)), nil
}

// Append writes payload as one record and returns once it is fsynced.
// It fails with ErrFull when the spool holds MaxBytes unconfirmed bytes.
func (s *Spool) Append(ctx context.Context, payload []byte) error {
	size := int64(headerSize + len(payload))
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.usedLocked()+size > s.cfg.MaxBytes {
		s.mu.Unlock()
		return ErrFull
	}
	s.pending += size
	s.inflight.Add(1)
	s.mu.Unlock()
	r := &appendReq{payload: payload, at: time.Now(), done: make(chan error, 1)}
	s.reqs <- r
	s.inflight.Done()
	// Not cancellable once queued: the record may already be on disk, and
	// the caller must not report failure for something that is durable.
	return <-r.done
}

func (s *Spool) usedLocked() int64 {
	used := s.pending - s.confirmed.Off
	for _, sg := range s.segs {
		used += sg.size
	}
	return used
}

// Used is the number of unconfirmed bytes (written or queued).
func (s *Spool) Used() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usedLocked()
}

// Fsyncs counts the fsyncs done so far (group commit makes it far smaller
// than the number of appends).
func (s *Spool) Fsyncs() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fsyncs
}

func (s *Spool) commitLoop() {
	defer close(s.stopped)
	var buf []byte
	for first := range s.reqs {
		batch := []*appendReq{first}
	gather:
		for len(batch) < 4096 {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break gather
				}
				batch = append(batch, r)
			default:
				break gather
			}
		}
		buf = buf[:0]
		for _, r := range batch {
			var hdr [headerSize]byte
			binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(r.payload)))
			binary.LittleEndian.PutUint64(hdr[8:16], uint64(r.at.UnixNano()))
			crc := crc32.Update(crc32.Checksum(hdr[8:16], castagnoli), castagnoli, r.payload)
			binary.LittleEndian.PutUint32(hdr[4:8], crc)
			buf = append(buf, hdr[:]...)
			buf = append(buf, r.payload...)
		}
		err := s.write(buf)
		for _, r := range batch {
			r.done <- err
		}
		if cap(buf) > 64<<20 {
			buf = nil // do not keep a burst's buffer forever
		}
	}
}

// write appends buf to the active segment, fsyncs, and publishes it.
func (s *Spool) write(buf []byte) error {
	s.mu.Lock()
	last := s.segs[len(s.segs)-1]
	rotate := last.size > 0 && last.size+int64(len(buf)) > s.cfg.SegmentBytes
	s.mu.Unlock()
	if rotate {
		if err := s.rotate(last.id + 1); err != nil {
			s.release(int64(len(buf)))
			return err
		}
	}
	_, err := s.active.Write(buf)
	if err == nil {
		err = fdatasync(s.active)
	}
	if err != nil {
		s.release(int64(len(buf)))
		// Cut what may have reached the file so that offsets on disk keep
		// matching the committed sizes; the caller was told it failed.
		s.mu.Lock()
		size := s.segs[len(s.segs)-1].size
		s.mu.Unlock()
		_ = s.active.Truncate(size)
		return fmt.Errorf("spool write: %w", err)
	}
	s.mu.Lock()
	s.segs[len(s.segs)-1].size += int64(len(buf))
	s.pending -= int64(len(buf))
	s.fsyncs++
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

func (s *Spool) release(n int64) {
	s.mu.Lock()
	s.pending -= n
	s.mu.Unlock()
}

func (s *Spool) rotate(id uint64) error {
	f, err := os.OpenFile(s.path(segName(id)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("spool new segment: %w", err)
	}
	if err := syncDir(s.cfg.Dir); err != nil {
		f.Close()
		return err
	}
	old := s.active
	s.mu.Lock()
	s.active = f
	s.segs = append(s.segs, &segment{id: id})
	s.mu.Unlock()
	return old.Close()
}

// Record is one spooled payload.
type Record struct {
	Payload []byte    // valid until the next Read with the same buffer
	At      time.Time // when it was appended
}

// Read returns the record at pos and the position after it. At the end of
// the committed data it returns ErrNoData. buf is reused for the payload.
func (s *Spool) Read(pos Pos, buf *[]byte) (Record, Pos, error) {
	for {
		s.mu.Lock()
		i := s.segIndexLocked(pos.Seg)
		if i < 0 {
			if len(s.segs) > 0 && pos.Seg < s.segs[0].id {
				pos = Pos{Seg: s.segs[0].id}
				s.mu.Unlock()
				continue
			}
			s.mu.Unlock()
			return Record{}, pos, fmt.Errorf("spool: no segment %d", pos.Seg)
		}
		sg := s.segs[i]
		if pos.Off >= sg.size {
			if i == len(s.segs)-1 {
				s.mu.Unlock()
				return Record{}, pos, ErrNoData
			}
			pos = Pos{Seg: s.segs[i+1].id}
			s.mu.Unlock()
			continue
		}
		if sg.rd == nil {
			f, err := os.Open(s.path(segName(sg.id)))
			if err != nil {
				s.mu.Unlock()
				return Record{}, pos, fmt.Errorf("spool read: %w", err)
			}
			sg.rd = f
		}
		rd := sg.rd
		s.mu.Unlock()
		var hdr [headerSize]byte
		n, err := readRecord(rd, pos.Off, hdr[:], buf)
		if err != nil {
			return Record{}, pos, fmt.Errorf("spool read at %s: %w", pos, err)
		}
		b := *buf
		at := time.Unix(0, int64(binary.LittleEndian.Uint64(b[8:16])))
		return Record{Payload: b[headerSize:], At: at}, Pos{Seg: pos.Seg, Off: pos.Off + n}, nil
	}
}

func (s *Spool) segIndexLocked(id uint64) int {
	for i, sg := range s.segs {
		if sg.id == id {
			return i
		}
	}
	return -1
}

// Wait blocks until there may be a record at pos or ctx is done.
func (s *Spool) Wait(ctx context.Context, pos Pos) error {
	s.mu.Lock()
	ch := s.changed
	last := s.segs[len(s.segs)-1]
	ready := pos.Seg < last.id || pos.Off < last.size
	s.mu.Unlock()
	if ready {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Changed returns a channel closed at the next commit.
func (s *Spool) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Confirmed is where unconfirmed records start (replay starts here).
func (s *Spool) Confirmed() Pos {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.confirmed
}

// Oldest is the append time of the oldest unconfirmed record, or the zero
// time when everything is confirmed.
func (s *Spool) Oldest() time.Time {
	var buf []byte
	rec, _, err := s.Read(s.Confirmed(), &buf)
	if err != nil {
		return time.Time{}
	}
	return rec.At
}

// Confirm records that every record before pos is stored downstream: the
// checkpoint is made durable, then segments wholly before pos are deleted.
func (s *Spool) Confirm(pos Pos) error {
	if err := s.writeCheckpoint(pos); err != nil {
		return err
	}
	s.mu.Lock()
	s.confirmed = pos
	var drop []*segment
	keep := s.segs[:0]
	for i, sg := range s.segs {
		if sg.id < pos.Seg && i < len(s.segs)-1 {
			drop = append(drop, sg)
			continue
		}
		keep = append(keep, sg)
	}
	s.segs = keep
	s.mu.Unlock()
	for _, sg := range drop {
		if sg.rd != nil {
			sg.rd.Close()
		}
		if err := os.Remove(s.path(segName(sg.id))); err != nil {
			s.log.Warn("spool: remove confirmed segment", "segment", segName(sg.id), "err", err)
		}
	}
	return nil
}

const checkpointFile = "checkpoint"

func (s *Spool) readCheckpoint() (Pos, error) {
	b, err := os.ReadFile(s.path(checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return Pos{}, nil
	}
	if err != nil {
		return Pos{}, fmt.Errorf("read spool checkpoint: %w", err)
	}
	var p Pos
	if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d:%d", &p.Seg, &p.Off); err != nil {
		return Pos{}, fmt.Errorf("spool checkpoint %s is damaged (%q): move it away to replay the whole spool", s.path(checkpointFile), b)
	}
	return p, nil
}

func (s *Spool) writeCheckpoint(p Pos) error {
	tmp := s.path(checkpointFile + ".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("write spool checkpoint: %w", err)
	}
	if _, err := io.WriteString(f, p.String()+"\n"); err != nil {
		f.Close()
		return fmt.Errorf("write spool checkpoint: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync spool checkpoint: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.path(checkpointFile)); err != nil {
		return fmt.Errorf("write spool checkpoint: %w", err)
	}
	return syncDir(s.cfg.Dir)
}

// Close stops accepting appends, finishes the queued ones and closes files.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.stopped
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.inflight.Wait()
	close(s.reqs)
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sg := range s.segs {
		if sg.rd != nil {
			sg.rd.Close()
			sg.rd = nil
		}
	}
	return s.active.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync spool dir: %w", err)
	}
	return nil
}
