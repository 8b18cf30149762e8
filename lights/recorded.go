package lights

// recorded is the set of lights already recorded in light_changes, by item
// hash (see Job.hash). It is an open-addressing table in one flat array
// rather than a Go map: a full run looks up every yellow and red item, in
// no useful order, and with a million-entry map that was ~0.3 s of cache
// misses; here a lookup touches one 16-byte slot, and lookups made in a
// batch (judgeAll) overlap their misses.
type recorded struct {
	slots []recSlot // length a power of two; key 0 marks an empty slot
	n     int
	zero  uint8 // the bits of key 0, which has no slot
}

type recSlot struct {
	key  uint64
	bits uint8 // lightBit of each recorded light
}

func newRecorded(n int) *recorded {
	size := 1 << 10
	for size < 2*n {
		size *= 2
	}
	return &recorded{slots: make([]recSlot, size)}
}

// get returns the lights recorded for h. It only reads, so workers call it
// concurrently.
func (r *recorded) get(h uint64) uint8 {
	if h == 0 {
		return r.zero
	}
	mask := uint64(len(r.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s := &r.slots[i]; s.key {
		case h:
			return s.bits
		case 0:
			return 0
		}
	}
}

// add records bits for h.
func (r *recorded) add(h uint64, bits uint8) {
	if h == 0 {
		r.zero |= bits
		return
	}
	if 2*(r.n+1) > len(r.slots) {
		r.grow()
	}
	mask := uint64(len(r.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s := &r.slots[i]; s.key {
		case h:
			s.bits |= bits
			return
		case 0:
			s.key, s.bits = h, bits
			r.n++
			return
		}
	}
}

func (r *recorded) grow() {
	old := r.slots
	r.slots, r.n = make([]recSlot, 2*len(old)), 0
	for _, s := range old {
		if s.key != 0 {
			r.add(s.key, s.bits)
		}
	}
}
