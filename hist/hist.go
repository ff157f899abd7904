// Package hist is the latency histogram every exporter metric uses: classic buckets
// from 1 µs to 1 s in one of two layouts and native (schema 3) buckets, counted at once
// without allocating; Recorder shares one between a writer thread and its readers.
package hist

import (
	"math"
	"sort"
	"time"
)

// ClassicBounds are the upper bounds in seconds of the coarse classic layout (the
// zero Histogram's): 1 µs to 1 s in a 1-2-5 progression (three buckets a decade).
// Transfer latencies (hundreds of µs to seconds) need no finer steps.
var ClassicBounds = []float64{
	1e-6, 2e-6, 5e-6,
	1e-5, 2e-5, 5e-5,
	1e-4, 2e-4, 5e-4,
	1e-3, 2e-3, 5e-3,
	1e-2, 2e-2, 5e-2,
	1e-1, 2e-1, 5e-1,
	1,
}

// FineBounds are the upper bounds in seconds of the layout for wake-up and schedule
// delay: 10–100 µs, where a real-time thread's tail lives, cut into steps of at most
// 1.2× (so that a p99 1.2× another's is a different bucket), keeping 10, 20, 50 and
// 100 µs as bounds for share-beyond queries; 5 µs below, the 1-2-5 steps of ClassicBounds
// from 200 µs to 100 ms above (the alerts' 2 and 4 ms among them); beyond 100 ms only
// +Inf (the native buckets keep full resolution everywhere). 25 bounds instead of 19:
// 6 more series per histogram, which the cardinality budget allows (docs/metrics.md).
var FineBounds = []float64{
	5e-6,
	10e-6, 12e-6, 14.2e-6, 17e-6,
	20e-6, 24e-6, 28e-6, 33e-6, 39e-6, 45e-6,
	50e-6, 60e-6, 70e-6, 84e-6,
	1e-4, 2e-4, 5e-4,
	1e-3, 2e-3, 5e-3,
	1e-2, 2e-2, 5e-2,
	1e-1,
}

// maxBounds bounds the length of a classic layout (the counts live in a fixed array).
const maxBounds = 32

// Native histogram layout: schema 3 (bucket factor 2^(1/8) ≈ 1.09, what client_golang
// picks for NativeHistogramBucketFactor 1.1), a zero bucket up to 2^-30 s (< 1 ns) and
// a fixed key range up to 2^10 s; larger values land in the top bucket.
const (
	// NativeSchema is the schema of the native buckets.
	NativeSchema = 3
	// NativeZeroThreshold is the width of the zero bucket in seconds.
	NativeZeroThreshold = 1.0 / (1 << 30)
	nativeMinKey        = -30*8 + 1
	nativeMaxKey        = 10 * 8
	nativeBuckets       = nativeMaxKey - nativeMinKey + 1
)

var nativeBounds = func() [8]float64 {
	var b [8]float64
	for i := range b {
		b[i] = math.Exp2(-1 + float64(i)/8)
	}
	return b
}()

// nativeKey returns the schema-3 bucket key of v > 0: bucket k holds (2^((k-1)/8), 2^(k/8)].
func nativeKey(v float64) int {
	frac, exp := math.Frexp(v)
	return sort.SearchFloat64s(nativeBounds[:], frac) + (exp-1)*8
}

// Histogram counts observations in classic and native buckets at once. It is a
// plain value: the owner serialises access (or uses a Recorder), and Observe neither
// allocates nor blocks. The zero value uses ClassicBounds; New picks another layout.
type Histogram struct {
	bounds  []float64 // nil = ClassicBounds
	count   uint64
	sum     float64
	classic [maxBounds + 1]uint64 // per bucket, not cumulative; index len(bounds) is +Inf
	zero    uint64
	native  [nativeBuckets]uint64
}

// Layout is a classic bucket layout: Coarse, Fine or Native (the zero Layout is Coarse).
type Layout struct{ bounds []float64 }

// The layouts (TestLayouts checks they are increasing and fit the count array).
var (
	Coarse = Layout{ClassicBounds} // transfer latency
	Fine   = Layout{FineBounds}    // wake-up and schedule delay
	Native = Layout{[]float64{}}   // no classic bucket but +Inf: native buckets, sum and count only
	// Kernel is 1, 5 and 10 ms, around the EC's 8 ms budget: the kernel's EC command durations,
	// few series each (docs/metrics.md's budget).
	Kernel = Layout{[]float64{1e-3, 5e-3, 1e-2}}
)

// New returns an empty histogram with the classic layout l.
func New(l Layout) Histogram { return Histogram{bounds: l.bounds} }

// Bounds returns the upper bounds of the classic buckets (shared: do not modify).
func (h *Histogram) Bounds() []float64 {
	if h.bounds == nil {
		return ClassicBounds
	}
	return h.bounds
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) { h.ObserveSeconds(d.Seconds()) }

// ObserveSeconds records one value in seconds; negative values count as 0.
func (h *Histogram) ObserveSeconds(v float64) {
	v, ci, ni := h.index(v)
	h.count++
	h.sum += v
	h.classic[ci]++
	if ni < 0 {
		h.zero++
	} else {
		h.native[ni]++
	}
}

// index cleans v and returns it with its classic bucket index and its native bucket
// index (-1 for the zero bucket).
func (h *Histogram) index(v float64) (float64, int, int) {
	if v < 0 || math.IsNaN(v) {
		v = 0
	}
	ci := sort.SearchFloat64s(h.Bounds(), v) // first bound >= v
	if v <= NativeZeroThreshold {
		return v, ci, -1
	}
	k := min(max(nativeKey(v), nativeMinKey), nativeMaxKey)
	return v, ci, k - nativeMinKey
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.count }

// Sum returns the sum of all observations in seconds.
func (h *Histogram) Sum() float64 { return h.sum }

// Cumulative returns the classic cumulative bucket counts, one per Bounds entry
// (the +Inf bucket is Count).
func (h *Histogram) Cumulative() []uint64 {
	b := h.Bounds()
	out := make([]uint64, len(b))
	var acc uint64
	for i := range b {
		acc += h.classic[i]
		out[i] = acc
	}
	return out
}

// ZeroCount returns the observations in the native zero bucket.
func (h *Histogram) ZeroCount() uint64 { return h.zero }

// NativeBuckets calls f for every non-empty native bucket in increasing key order.
func (h *Histogram) NativeBuckets(f func(key int, count uint64)) {
	for i, c := range h.native {
		if c != 0 {
			f(i+nativeMinKey, c)
		}
	}
}
