package hist

import (
	"math"
	"runtime"
	"sync/atomic"
	"time"
)

// Recorder is a Histogram written by one goroutine and read by any number of others
// without locks: the writer never waits for a reader (a seqlock; readers retry the
// rare copy that overlapped a write). Every field is accessed atomically, so the race
// detector agrees. Observe neither allocates nor blocks; the zero value is not ready,
// use NewRecorder.
type Recorder struct {
	seq     atomic.Uint64 // odd while the writer is inside Observe
	bounds  []float64
	count   atomic.Uint64
	sum     atomic.Uint64 // float64 bits
	classic [maxBounds + 1]atomic.Uint64
	zero    atomic.Uint64
	native  [nativeBuckets]atomic.Uint64
}

// NewRecorder returns an empty Recorder with the classic layout l.
func NewRecorder(l Layout) *Recorder {
	h := New(l)
	return &Recorder{bounds: h.Bounds()}
}

// Observe records one duration. Only one goroutine may call it (the writer).
func (r *Recorder) Observe(d time.Duration) {
	h := Histogram{bounds: r.bounds}
	v, ci, ni := h.index(d.Seconds())
	s := r.seq.Load()
	r.seq.Store(s + 1)
	r.count.Store(r.count.Load() + 1)
	r.sum.Store(math.Float64bits(math.Float64frombits(r.sum.Load()) + v))
	r.classic[ci].Store(r.classic[ci].Load() + 1)
	if ni < 0 {
		r.zero.Store(r.zero.Load() + 1)
	} else {
		r.native[ni].Store(r.native[ni].Load() + 1)
	}
	r.seq.Store(s + 2)
}

// Snapshot returns a consistent copy, taken without making the writer wait.
func (r *Recorder) Snapshot() Histogram {
	h := Histogram{bounds: r.bounds}
	for {
		s := r.seq.Load()
		if s&1 != 0 {
			runtime.Gosched() // a write is in progress: it takes well under a microsecond
			continue
		}
		h.count = r.count.Load()
		h.sum = math.Float64frombits(r.sum.Load())
		for i := range r.classic {
			h.classic[i] = r.classic[i].Load()
		}
		h.zero = r.zero.Load()
		for i := range r.native {
			h.native[i] = r.native[i].Load()
		}
		if r.seq.Load() == s {
			return h
		}
	}
}
