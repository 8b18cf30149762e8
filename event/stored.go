package event

import "time"

// Stored is an accepted event with what the collector adds to it.
type Stored struct {
	Event
	ReceivedAt time.Time // when the collector acknowledged it (indicator E5.1)
	Source     string    // the source system whose token sent it
}

// StoredRejection is a rejected event kept for inspection.
type StoredRejection struct {
	Rejection
	ReceivedAt time.Time
	Source     string
	RequestID  string // with Index, identifies the line across replays
}

// Batch is what the collector hands to storage in one insert.
type Batch struct {
	Events   []Stored
	Rejected []StoredRejection
}

// Len is the number of rows in the batch.
func (b *Batch) Len() int { return len(b.Events) + len(b.Rejected) }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	clear(b.Events)
	clear(b.Rejected)
	b.Events, b.Rejected = b.Events[:0], b.Rejected[:0]
}
