package main

import (
	"math"
	"math/bits"
	"time"
)

// latencyHist is a preallocated log-linear histogram of durations (ns):
// exact below 128 ns, then 128 linear sub-buckets per power of two, so any
// percentile it reports is within 0.8 % of the true value. Record does not
// allocate; it is meant for a single writer (the worker thread) and readers
// that look only after the writer has stopped.
type latencyHist struct {
	counts   [histBuckets]uint64
	count    uint64
	sum      uint64
	min, max uint64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	histBuckets = (64 - histSubBits + 1) * histSub
)

func histIndex(v uint64) int {
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - 1 // ≥ histSubBits
	m := v >> (e - histSubBits)
	return (e-histSubBits+1)*histSub + int(m) - histSub
}

// histBounds returns the smallest and largest value that land in bucket i.
func histBounds(i int) (lo, hi uint64) {
	if i < histSub {
		return uint64(i), uint64(i)
	}
	e := i/histSub + histSubBits - 1
	m := uint64(i%histSub + histSub)
	shift := e - histSubBits
	lo = m << shift
	return lo, lo + (1 << shift) - 1
}

// Record adds one duration; negative durations count as 0.
func (h *latencyHist) Record(d time.Duration) {
	var v uint64
	if d > 0 {
		v = uint64(d)
	}
	h.counts[histIndex(v)]++
	if h.count == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.count++
	h.sum += v
}

// Count returns how many durations were recorded.
func (h *latencyHist) Count() uint64 { return h.count }

// Max returns the largest recorded duration.
func (h *latencyHist) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the average recorded duration.
func (h *latencyHist) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / h.count)
}

// Quantile returns the duration at or below which a fraction q of the
// recorded durations lie (the upper edge of that bucket, clamped to the
// observed min and max); 0 when empty.
func (h *latencyHist) Quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.count)))
	if rank < 1 {
		rank = 1
	}
	if rank > h.count {
		rank = h.count
	}
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i]
		if cum >= rank {
			_, hi := histBounds(i)
			hi = max(min(hi, h.max), h.min)
			return time.Duration(hi)
		}
	}
	return time.Duration(h.max)
}
